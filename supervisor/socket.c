/* TCP and UDP over SimGrid.
 *
 * A TCP connection is two streams, one per direction.  A stream carries
 * chunks (what one write() handed over) through a sim_channel to a pump
 * actor on the receiving host, which queues them for read().  Chunks
 * overlap in flight (the channel starts every transfer at once), so a
 * sender with a large enough window fills the link; the window is the
 * sender's SO_SNDBUF, counting bytes in flight and bytes not yet read.
 * The handshake is one round trip of route latency (a small actor on the
 * client's host), refused when nobody listens at arrival time.
 *
 * A UDP socket has its own channel and pump: each datagram is one
 * transfer to the socket bound at the destination when it was sent; none
 * bound, or a full receive queue, and it is dropped, as a network would. */
#include "socket.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "file.h"

#define CHUNK_MAX (1u << 20)          /* bytes per transfer */
#define DEFAULT_SNDBUF (4 << 20)      /* Linux's tcp_wmem max */
#define DEFAULT_RCVBUF (6 << 20)      /* Linux's tcp_rmem max */
#define UDP_DEFAULT_RCVBUF 212992     /* Linux's rmem_default */
#define EPHEMERAL_LO 32768
#define EPHEMERAL_HI 60999
#define BACKLOG_MIN 128
#define MIN_WINDOW (64 << 10)

struct chunk {
    struct chunk *fl_prev, *fl_next; /* in flight: SimGrid holds it */
    struct chunk *next;
    size_t len, off;
    bool fin;
    int64_t lat_ns;          /* route latency, added after the transfer */
    int64_t ready_at;        /* when the receiver may see it */
    struct sockaddr_in from; /* UDP */
    char data[];
};

struct chunkq {
    struct chunk *head, *tail;
    size_t bytes;
    size_t count;
};

static void chunkq_push(struct chunkq *q, struct chunk *c)
{
    c->next = NULL;
    if (q->tail)
        q->tail->next = c;
    else
        q->head = c;
    q->tail = c;
    q->bytes += c->len - c->off;
    q->count++;
}

static struct chunk *chunkq_pop(struct chunkq *q)
{
    struct chunk *c = q->head;
    if (!c)
        return NULL;
    q->head = c->next;
    if (!q->head)
        q->tail = NULL;
    q->bytes -= c->len - c->off;
    q->count--;
    return c;
}

static void chunkq_clear(struct chunkq *q)
{
    struct chunk *c;
    while ((c = chunkq_pop(q)))
        free(c);
}

/* One direction of a TCP connection. */
struct stream {
    struct sock *from, *to;   /* NULL once that end is closed */
    size_t window;            /* bytes in flight + unread the sender may have */
    int64_t lat_ns;           /* route latency from -> to */
    struct sim_channel *chan;
    struct chunkq sendq;      /* written, not yet on the wire */
    struct delay_line *dl;    /* transferred, waiting out the latency */
    struct sim_waitq *send_wake;
    struct chunkq rx;         /* arrived, unread (at `to`) */
    size_t in_flight;         /* written, not yet arrived */
    bool fin_sent, fin_arrived;
    int refs;                 /* from, to, the sender and the receiver actors */
    struct stream *all_next;  /* registry, freed at the end */
    bool freed;
};

struct sock {
    struct supervisor *sup;
    struct vhost *host;
    struct file *file;
    int family;
    int type;
    enum sock_state state;
    struct sock_opts opts;
    int error;                      /* SO_ERROR */
    bool bound;
    struct sockaddr_in local, peer; /* peer: TCP connected or UDP connect()ed */
    bool rd_shut, wr_shut;
    struct sock *next_bound;
    struct proc *owner;             /* created or accepted it (for the trace) */
    /* TCP */
    struct stream *tx, *rx;
    struct sock **backlog;          /* established, not yet accepted */
    size_t nbacklog, backlog_max;
    /* UDP */
    struct sim_channel *chan;
    sim_actor pump;
    struct delay_line *udl;
    struct chunkq dq;
};

static struct stream *all_streams;
static struct chunk *in_flight; /* payloads SimGrid carries, freed at the end if never received */

static void flight_add(struct chunk *c)
{
    c->fl_prev = NULL;
    c->fl_next = in_flight;
    if (in_flight)
        in_flight->fl_prev = c;
    in_flight = c;
}

static void flight_del(struct chunk *c)
{
    if (c->fl_prev)
        c->fl_prev->fl_next = c->fl_next;
    else
        in_flight = c->fl_next;
    if (c->fl_next)
        c->fl_next->fl_prev = c->fl_prev;
}

static void chan_send(struct sim_channel *ch, struct chunk *c, size_t bytes)
{
    flight_add(c);
    sim_channel_send(ch, c, bytes);
}

static struct chunk *chan_recv(struct sim_channel *ch)
{
    struct chunk *c = sim_channel_recv(ch);
    flight_del(c);
    return c;
}

int sock_type(const struct sock *k) { return k->type; }
int sock_family(const struct sock *k) { return k->family; }
enum sock_state sock_state(const struct sock *k) { return k->state; }
struct sock_opts *sock_opts(struct sock *k) { return &k->opts; }

struct file *sock_create(struct supervisor *s, struct vhost *h, int family, int type)
{
    struct sock *k = calloc(1, sizeof *k);
    if (!k)
        abort();
    k->sup = s;
    k->host = h;
    k->family = family;
    k->type = type;
    k->opts.sndbuf = DEFAULT_SNDBUF;
    k->opts.rcvbuf = type == SOCK_STREAM ? DEFAULT_RCVBUF : UDP_DEFAULT_RCVBUF;
    k->local.sin_family = AF_INET;
    struct file *f = file_new(FILE_SOCKET);
    f->sock = k;
    k->file = f;
    return f;
}

static void notify(struct sock *k)
{
    if (k && k->file)
        file_notify(k->file);
}

static bool is_loopback(uint32_t addr) { return (ntohl(addr) >> 24) == 127; }

/* The host an IPv4 address designates, seen from h; NULL: nobody. */
static struct vhost *host_of(struct sock *k, uint32_t addr)
{
    if (is_loopback(addr) || addr == htonl(INADDR_ANY) || addr == k->host->addr)
        return k->host;
    struct supervisor *s = k->sup;
    for (size_t i = 0; i < s->nhosts; i++)
        if (s->hosts[i].addr == addr)
            return &s->hosts[i];
    return NULL;
}

/* --- ports --- */

static bool addr_overlap(uint32_t a, uint32_t b) { return a == htonl(INADDR_ANY) || b == htonl(INADDR_ANY) || a == b; }

/* An IPV6_V6ONLY socket and an AF_INET one live side by side, as [::]:p
 * and 0.0.0.0:p do on Linux (redis binds both). */
static bool families_coexist(const struct sock *k, const struct sock *o)
{
    return (k->family == AF_INET6 && k->opts.v6only && o->family == AF_INET) ||
           (o->family == AF_INET6 && o->opts.v6only && k->family == AF_INET);
}

static bool port_conflict(const struct sock *k, uint32_t addr, uint16_t port)
{
    for (const struct sock *o = k->host->bound; o; o = o->next_bound) {
        if (o == k || o->type != k->type || o->local.sin_port != port || !addr_overlap(o->local.sin_addr.s_addr, addr))
            continue;
        if (k->opts.reuseport && o->opts.reuseport)
            continue;
        if (families_coexist(k, o))
            continue;
        /* SO_REUSEADDR: TCP may share a port while nobody listens on it,
         * UDP always (the best match gets each datagram). */
        if (k->opts.reuseaddr && o->opts.reuseaddr && (k->type == SOCK_DGRAM || o->state != SS_LISTENING))
            continue;
        return true;
    }
    return false;
}

static void bind_to(struct sock *k, uint32_t addr, uint16_t port)
{
    k->local.sin_family = AF_INET;
    k->local.sin_addr.s_addr = addr;
    k->local.sin_port = port;
    k->bound = true;
    k->next_bound = k->host->bound;
    k->host->bound = k;
}

static void unbind(struct sock *k)
{
    if (!k->bound)
        return;
    for (struct sock **p = &k->host->bound; *p; p = &(*p)->next_bound) {
        if (*p == k) {
            *p = k->next_bound;
            break;
        }
    }
    k->bound = false;
}

static int ephemeral_port(struct sock *k, uint32_t addr, uint16_t *port)
{
    struct vhost *h = k->host;
    for (int tries = 0; tries <= EPHEMERAL_HI - EPHEMERAL_LO; tries++) {
        uint16_t p = h->next_ephemeral;
        h->next_ephemeral = p >= EPHEMERAL_HI ? EPHEMERAL_LO : p + 1;
        if (!port_conflict(k, addr, htons(p))) {
            *port = htons(p);
            return 0;
        }
    }
    return -EADDRINUSE;
}

int sock_bind(struct sock *k, const struct sockaddr_in *a)
{
    if (k->bound)
        return -EINVAL;
    uint32_t addr = a->sin_addr.s_addr;
    if (addr != htonl(INADDR_ANY) && !is_loopback(addr) && addr != k->host->addr)
        return -EADDRNOTAVAIL;
    uint16_t port = a->sin_port;
    if (!port) {
        int r = ephemeral_port(k, addr, &port);
        if (r < 0)
            return r;
    } else if (port_conflict(k, addr, port)) {
        return -EADDRINUSE;
    }
    bind_to(k, addr, port);
    return 0;
}

/* Implicit bind before connect/sendto: the address that reaches dst. */
static int autobind(struct sock *k, uint32_t dst)
{
    if (k->bound)
        return 0;
    uint32_t addr = is_loopback(dst) || dst == htonl(INADDR_ANY) ? htonl(INADDR_LOOPBACK) : k->host->addr;
    uint16_t port;
    int r = ephemeral_port(k, htonl(INADDR_ANY), &port);
    if (r < 0)
        return r;
    bind_to(k, addr, port);
    return 0;
}

bool sock_local(const struct sock *k, struct sockaddr_in *a)
{
    *a = k->local;
    a->sin_family = AF_INET;
    return true;
}

bool sock_peer(const struct sock *k, struct sockaddr_in *a)
{
    if (k->state != SS_CONNECTED)
        return false;
    *a = k->peer;
    return true;
}

/* --- streams --- */

/* Every transfer is a SimGrid comm with no latency (latency-factor 0,
 * see docs/network.md): the comms of one stream go one after the other,
 * as a TCP byte stream does, sharing the links with every other flow; the
 * route's latency is then added by a delay line on the receiving host. */

struct delay_line {
    struct chunkq q;          /* transferred, in order of arrival */
    struct sim_waitq *wake;
    void (*deliver)(void *owner, struct chunk *c);
    void *owner;
    bool stop;
};

static void delay_main(void *arg)
{
    struct delay_line *d = arg;
    for (;;) {
        while (!d->q.head && !d->stop)
            sim_waitq_wait_until(d->wake, -1);
        if (!d->q.head)
            break;
        struct chunk *c = d->q.head;
        if (sim_now_ns() < c->ready_at) {
            sim_waitq_wait_until(d->wake, c->ready_at);
            continue;
        }
        chunkq_pop(&d->q);
        bool fin = c->fin;
        d->deliver(d->owner, c);
        if (fin)
            break;
    }
}

/* Receives transfers and hands them to the delay line, stamped.  Always
 * waiting in recv, so the stamp is the transfer's completion time. */
static void receive_main(struct sim_channel *chan, struct delay_line *d)
{
    sim_channel_bind_receiver(chan);
    for (;;) {
        struct chunk *c = chan_recv(chan);
        c->ready_at = sim_now_ns() + c->lat_ns;
        chunkq_push(&d->q, c);
        bool fin = c->fin;
        sim_waitq_wake(d->wake);
        if (fin)
            break;
    }
}

static struct delay_line *all_delay_lines[1 << 16];
static size_t n_delay_lines;
static struct delay_line **more_delay_lines;
static size_t n_more, cap_more;

static void register_delay_line(struct delay_line *d)
{
    if (n_delay_lines < sizeof all_delay_lines / sizeof *all_delay_lines) {
        all_delay_lines[n_delay_lines++] = d;
        return;
    }
    if (n_more == cap_more) {
        cap_more = cap_more ? cap_more * 2 : 1024;
        more_delay_lines = realloc(more_delay_lines, cap_more * sizeof *more_delay_lines);
        if (!more_delay_lines)
            abort();
    }
    more_delay_lines[n_more++] = d;
}

static struct delay_line *delay_line_new(sim_host h, void (*deliver)(void *, struct chunk *), void *owner)
{
    struct delay_line *d = calloc(1, sizeof *d);
    if (!d)
        abort();
    register_delay_line(d);
    d->wake = sim_waitq_new();
    d->deliver = deliver;
    d->owner = owner;
    sim_daemonize(sim_spawn("net-delay", h, delay_main, d));
    return d;
}

static void delay_line_free(struct delay_line *d)
{
    if (!d)
        return;
    chunkq_clear(&d->q);
    sim_waitq_free(d->wake);
    free(d);
}

static void stream_put(struct stream *st)
{
    if (--st->refs > 0)
        return;
    chunkq_clear(&st->rx);
    chunkq_clear(&st->sendq);
    sim_channel_free(st->chan);
    st->freed = true; /* the registry frees the rest */
}

static void stream_deliver(void *owner, struct chunk *c)
{
    struct stream *st = owner;
    st->in_flight -= c->len;
    bool fin = c->fin;
    if (fin) {
        st->fin_arrived = true;
        free(c);
    } else if (st->to && !st->to->rd_shut) {
        chunkq_push(&st->rx, c);
    } else {
        free(c); /* the reader is gone: the bytes fall on the floor */
    }
    notify(st->to);
    notify(st->from); /* in-flight bytes moved: window accounting */
    if (fin)
        stream_put(st); /* the receiving side is done with it */
}

static void stream_receiver_main(void *arg)
{
    struct stream *st = arg;
    receive_main(st->chan, st->dl);
}

static void stream_sender_main(void *arg)
{
    struct stream *st = arg;
    for (;;) {
        while (!st->sendq.head)
            sim_waitq_wait_until(st->send_wake, -1);
        struct chunk *c = chunkq_pop(&st->sendq);
        bool fin = c->fin;
        c->lat_ns = st->lat_ns;
        flight_add(c);
        sim_channel_send_sync(st->chan, c, c->len); /* one at a time: FIFO */
        if (fin)
            break;
    }
    stream_put(st);
}

/* Like Linux's autotuning, a window of a few bandwidth-delay products fills
 * the route without piling up megabytes the link has not carried yet (a
 * sender would count them as sent).  An SO_SNDBUF set by the program is
 * used as is, as Linux then stops autotuning. */
static size_t stream_window(const struct sock *from, const struct sock *to)
{
    if (from->opts.sndbuf_set)
        return (size_t)from->opts.sndbuf;
    double rtt = sim_route_latency(from->host->sh, to->host->sh) + sim_route_latency(to->host->sh, from->host->sh);
    double bw = sim_route_bandwidth(from->host->sh, to->host->sh);
    double w = 2 * bw * rtt;
    if (!(w >= MIN_WINDOW)) /* also NaN, for an empty loopback route */
        w = MIN_WINDOW;
    return w < (double)from->opts.sndbuf ? (size_t)w : (size_t)from->opts.sndbuf;
}

static struct stream *stream_new(struct sock *from, struct sock *to)
{
    struct stream *st = calloc(1, sizeof *st);
    if (!st)
        abort();
    st->from = from;
    st->to = to;
    st->window = stream_window(from, to);
    st->lat_ns = llround(sim_route_latency(from->host->sh, to->host->sh) * 1e9);
    st->chan = sim_channel_new();
    st->send_wake = sim_waitq_new();
    st->refs = 4; /* from, to, sender actor, delivery of the FIN */
    st->all_next = all_streams;
    all_streams = st;
    st->dl = delay_line_new(to->host->sh, stream_deliver, st);
    sim_daemonize(sim_spawn("tcp-rx", to->host->sh, stream_receiver_main, st));
    sim_daemonize(sim_spawn("tcp-tx", from->host->sh, stream_sender_main, st));
    return st;
}

static void stream_queue(struct stream *st, struct chunk *c)
{
    chunkq_push(&st->sendq, c);
    sim_waitq_wake(st->send_wake);
}

static void stream_send_fin(struct stream *st)
{
    if (st->fin_sent)
        return;
    st->fin_sent = true;
    struct chunk *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->fin = true;
    stream_queue(st, c);
}

/* --- TCP connection set-up --- */

struct handshake {
    struct sock *client;
    struct sockaddr_in dst;
    struct vhost *server_host;
};

static struct sock *find_listener(struct vhost *h, const struct sockaddr_in *dst)
{
    uint32_t addr = dst->sin_addr.s_addr;
    for (struct sock *o = h->bound; o; o = o->next_bound) {
        if (o->type != SOCK_STREAM || o->state != SS_LISTENING || o->local.sin_port != dst->sin_port)
            continue;
        if (o->family == AF_INET6 && o->opts.v6only)
            continue; /* every connection here is IPv4 underneath */
        uint32_t la = o->local.sin_addr.s_addr;
        if (la == htonl(INADDR_ANY) || la == addr || (is_loopback(la) && is_loopback(addr)))
            return o;
    }
    return NULL;
}

static void handshake_main(void *arg)
{
    struct handshake *hs = arg;
    struct sock *c = hs->client;
    sim_host ch = c->host->sh, sh = hs->server_host->sh;
    sim_sleep_for_ns(llround(sim_route_latency(ch, sh) * 1e9)); /* SYN */
    struct sock *l = c->state == SS_CONNECTING ? find_listener(hs->server_host, &hs->dst) : NULL;
    struct sock *srv = NULL;
    if (l && l->nbacklog < l->backlog_max) {
        struct file *f = sock_create(l->sup, hs->server_host, l->family, SOCK_STREAM);
        srv = f->sock;
        srv->opts = l->opts; /* inherited, as Linux does */
        srv->state = SS_CONNECTED;
        srv->local = l->local;
        if (srv->local.sin_addr.s_addr == htonl(INADDR_ANY))
            srv->local.sin_addr = hs->dst.sin_addr; /* the address the client asked for */
        srv->peer = c->local;
        c->tx = stream_new(c, srv);
        c->rx = stream_new(srv, c);
        srv->tx = c->rx;
        srv->rx = c->tx;
        l->backlog[l->nbacklog++] = srv;
        notify(l);
    }
    sim_sleep_for_ns(llround(sim_route_latency(sh, ch) * 1e9)); /* SYN-ACK or RST */
    if (c->state == SS_CONNECTING) {
        if (srv) {
            c->state = SS_CONNECTED;
        } else {
            c->state = SS_CLOSED;
            c->error = ECONNREFUSED;
        }
        notify(c);
    }
    free(hs);
    file_unref(c->file);
}

int sock_connect(struct sock *k, const struct sockaddr_in *a)
{
    if (a->sin_family == AF_UNSPEC && k->type == SOCK_DGRAM) { /* dissolve the association */
        k->state = SS_UNCONNECTED;
        memset(&k->peer, 0, sizeof k->peer);
        return 0;
    }
    if (a->sin_family != AF_INET)
        return -EAFNOSUPPORT;
    struct vhost *dst = host_of(k, a->sin_addr.s_addr);
    if (!dst || !sim_route_ok(k->host->sh, dst->sh))
        return -ENETUNREACH;
    if (k->type == SOCK_DGRAM) {
        int r = autobind(k, a->sin_addr.s_addr);
        if (r < 0)
            return r;
        k->peer = *a;
        k->state = SS_CONNECTED;
        return 0;
    }
    switch (k->state) {
    case SS_CONNECTING:
        return -EALREADY;
    case SS_CONNECTED:
        return -EISCONN;
    case SS_LISTENING:
    case SS_CLOSED:
        return -EINVAL;
    case SS_UNCONNECTED:
        break;
    }
    int r = autobind(k, a->sin_addr.s_addr);
    if (r < 0)
        return r;
    k->peer = *a;
    if (k->peer.sin_addr.s_addr == htonl(INADDR_ANY))
        k->peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    k->state = SS_CONNECTING;
    struct handshake *hs = malloc(sizeof *hs);
    if (!hs)
        abort();
    *hs = (struct handshake){k, k->peer, dst};
    file_ref(k->file); /* the handshake holds the socket */
    sim_spawn("tcp-handshake", k->host->sh, handshake_main, hs);
    return -EINPROGRESS;
}

int sock_take_error(struct sock *k)
{
    int e = k->error;
    k->error = 0;
    return e;
}

int sock_listen(struct sock *k, int backlog)
{
    if (k->type != SOCK_STREAM)
        return -EOPNOTSUPP;
    if (k->state != SS_UNCONNECTED && k->state != SS_LISTENING)
        return -EINVAL;
    if (!k->bound) {
        uint16_t port;
        int r = ephemeral_port(k, htonl(INADDR_ANY), &port);
        if (r < 0)
            return r;
        bind_to(k, htonl(INADDR_ANY), port);
    } else if (k->state != SS_LISTENING) {
        /* SO_REUSEADDR lets two sockets bind, not both listen. */
        for (const struct sock *o = k->host->bound; o; o = o->next_bound)
            if (o != k && o->type == SOCK_STREAM && o->state == SS_LISTENING && o->local.sin_port == k->local.sin_port &&
                addr_overlap(o->local.sin_addr.s_addr, k->local.sin_addr.s_addr) &&
                !(o->opts.reuseport && k->opts.reuseport) && !families_coexist(k, o))
                return -EADDRINUSE;
    }
    size_t max = backlog < BACKLOG_MIN ? BACKLOG_MIN : (size_t)backlog;
    if (max > 4096)
        max = 4096;
    if (max > k->backlog_max) {
        struct sock **b = realloc(k->backlog, max * sizeof *b);
        if (!b)
            abort();
        k->backlog = b;
        k->backlog_max = max;
    }
    k->state = SS_LISTENING;
    return 0;
}

struct file *sock_accept(struct sock *k)
{
    if (!k->nbacklog)
        return NULL;
    struct sock *c = k->backlog[0];
    memmove(k->backlog, k->backlog + 1, --k->nbacklog * sizeof *k->backlog);
    return c->file;
}

int sock_shutdown(struct sock *k, int how)
{
    if (how < SHUT_RD || how > SHUT_RDWR)
        return -EINVAL;
    if (k->state != SS_CONNECTED)
        return -ENOTCONN;
    if (how != SHUT_WR) {
        k->rd_shut = true;
    }
    if (how != SHUT_RD) {
        k->wr_shut = true;
        if (k->tx)
            stream_send_fin(k->tx);
    }
    notify(k);
    return 0;
}

/* --- data --- */

size_t sock_send_room(const struct sock *k)
{
    if (k->type == SOCK_DGRAM)
        return 65507;
    const struct stream *st = k->tx;
    if (!st || k->state != SS_CONNECTED)
        return 0;
    size_t used = st->in_flight + st->rx.bytes;
    size_t win = st->window;
    return used >= win ? 0 : win - used;
}

bool sock_writable(const struct sock *k)
{
    if (k->type == SOCK_DGRAM)
        return true;
    const struct stream *st = k->tx;
    if (!st || k->state != SS_CONNECTED)
        return false;
    /* As Linux's sk_stream_is_writeable: free space of at least half what
     * is queued.  Waking a writer for every few bytes the reader frees
     * would cut the stream into pieces that small (silly window). */
    size_t used = st->in_flight + st->rx.bytes;
    size_t room = sock_send_room(k);
    return room > 0 && room >= used / 2;
}

static void udp_deliver(void *owner, struct chunk *c)
{
    struct sock *k = owner;
    if (k->dq.bytes + c->len > (size_t)k->opts.rcvbuf) {
        free(c); /* receive queue full: dropped, as by the kernel */
        return;
    }
    chunkq_push(&k->dq, c);
    notify(k);
}

static void udp_pump_main(void *arg)
{
    struct sock *k = arg;
    receive_main(k->chan, k->udl);
}

static void udp_start_pump(struct sock *k)
{
    if (k->chan)
        return;
    /* Making a channel is a simcall: other actors may run meanwhile, and
     * one may be starting this very pump (two senders to one socket).
     * The first to come back wins. */
    struct sim_channel *chan = sim_channel_new();
    if (k->chan) {
        sim_channel_free(chan);
        return;
    }
    k->chan = chan;
    k->udl = delay_line_new(k->host->sh, udp_deliver, k);
    k->pump = sim_spawn("udp-rx", k->host->sh, udp_pump_main, k);
    sim_daemonize(k->pump);
}

/* The socket a datagram from src to dst goes to: as Linux, a socket
 * connected to src wins over one that is only bound. */
static struct sock *find_udp(struct vhost *h, const struct sockaddr_in *dst, const struct sockaddr_in *src)
{
    struct sock *bound_only = NULL;
    for (struct sock *o = h->bound; o; o = o->next_bound) {
        if (o->type != SOCK_DGRAM || o->local.sin_port != dst->sin_port)
            continue;
        uint32_t la = o->local.sin_addr.s_addr;
        if (!(la == htonl(INADDR_ANY) || la == dst->sin_addr.s_addr ||
              (is_loopback(la) && is_loopback(dst->sin_addr.s_addr))))
            continue;
        if (o->state == SS_CONNECTED) {
            if (o->peer.sin_port == src->sin_port && o->peer.sin_addr.s_addr == src->sin_addr.s_addr)
                return o;
        } else if (!bound_only) {
            bound_only = o;
        }
    }
    return bound_only;
}

/* Where a datagram from k goes: dest, else the connected peer. */
static bool udp_destination(const struct sock *k, const struct sockaddr_in *dest, struct sockaddr_in *to)
{
    if (dest)
        *to = *dest;
    else if (k->state == SS_CONNECTED)
        *to = k->peer;
    else
        return false;
    return true;
}

ssize_t sock_send(struct sock *k, void *data, size_t len, const struct sockaddr_in *dest)
{
    if (k->type == SOCK_DGRAM) {
        struct sockaddr_in to;
        if (!udp_destination(k, dest, &to))
            return -EDESTADDRREQ;
        if (len > 65507)
            return -EMSGSIZE;
        struct vhost *h = host_of(k, to.sin_addr.s_addr);
        if (!h || !sim_route_ok(k->host->sh, h->sh))
            return -ENETUNREACH;
        int r = autobind(k, to.sin_addr.s_addr);
        if (r < 0)
            return r;
        udp_start_pump(k);
        struct sockaddr_in src = k->local;
        if (src.sin_addr.s_addr == htonl(INADDR_ANY))
            src.sin_addr.s_addr = is_loopback(to.sin_addr.s_addr) ? htonl(INADDR_LOOPBACK) : k->host->addr;
        struct sock *dst = find_udp(h, &to, &src);
        if (dst) {
            udp_start_pump(dst);
            struct chunk *c = malloc(sizeof *c + len);
            if (!c)
                abort();
            *c = (struct chunk){.len = len, .from = src};
            c->lat_ns = llround(sim_route_latency(k->host->sh, h->sh) * 1e9);
            memcpy(c->data, data, len);
            chan_send(dst->chan, c, len);
        }
        return (ssize_t)len;
    }
    if (k->state != SS_CONNECTED || !k->tx)
        return k->state == SS_CLOSED && k->peer.sin_port ? -EPIPE : -ENOTCONN;
    if (k->wr_shut)
        return -EPIPE;
    if (!k->tx->to)
        return -EPIPE; /* the peer closed: its kernel would answer RST */
    struct stream *st = k->tx;
    size_t done = 0;
    while (done < len) {
        size_t n = len - done < CHUNK_MAX ? len - done : CHUNK_MAX;
        struct chunk *c = malloc(sizeof *c + n);
        if (!c)
            abort();
        *c = (struct chunk){.len = n};
        memcpy(c->data, (char *)data + done, n);
        st->in_flight += n;
        stream_queue(st, c);
        done += n;
    }
    return (ssize_t)len;
}

bool sock_readable(const struct sock *k)
{
    if (k->type == SOCK_DGRAM)
        return k->dq.count > 0 || k->error;
    if (k->state == SS_LISTENING)
        return k->nbacklog > 0;
    if (k->error || k->rd_shut)
        return true;
    if (k->state != SS_CONNECTED || !k->rx)
        return k->state == SS_CLOSED;
    return k->rx->rx.bytes > 0 || k->rx->fin_arrived;
}

ssize_t sock_recv(struct sock *k, void *out, size_t len, bool peek, struct sockaddr_in *from, size_t *dgram_len)
{
    if (k->type == SOCK_DGRAM) {
        struct chunk *c = k->dq.head;
        if (!c)
            return -EAGAIN;
        size_t n = c->len < len ? c->len : len;
        memcpy(out, c->data, n);
        if (from)
            *from = c->from;
        if (dgram_len)
            *dgram_len = c->len;
        if (!peek)
            free(chunkq_pop(&k->dq));
        return (ssize_t)n;
    }
    if (k->error) {
        int e = sock_take_error(k);
        return -e;
    }
    if (k->rd_shut)
        return 0;
    if (k->state != SS_CONNECTED || !k->rx)
        return k->state == SS_CLOSED ? 0 : -ENOTCONN;
    struct stream *st = k->rx;
    size_t done = 0;
    struct chunk *c = st->rx.head;
    size_t skip = 0; /* for peek: walk without consuming */
    while (done < len && c) {
        size_t avail = c->len - c->off - skip;
        size_t n = len - done < avail ? len - done : avail;
        memcpy((char *)out + done, c->data + c->off + skip, n);
        done += n;
        if (peek) {
            skip += n;
            if (skip == c->len - c->off) {
                c = c->next;
                skip = 0;
            }
            continue;
        }
        c->off += n;
        st->rx.bytes -= n;
        if (c->off == c->len) {
            free(chunkq_pop(&st->rx)); /* nothing left in it to subtract */
            c = st->rx.head;
        }
    }
    if (done) {
        if (!peek)
            notify(st->from); /* window opened */
        return (ssize_t)done;
    }
    if (st->fin_arrived)
        return 0;
    return -EAGAIN;
}

size_t sock_unread(const struct sock *k)
{
    if (k->type == SOCK_DGRAM)
        return k->dq.head ? k->dq.head->len : 0;
    return k->rx ? k->rx->rx.bytes : 0;
}

size_t sock_unsent(const struct sock *k) { return k->tx ? k->tx->in_flight : 0; }
size_t sock_window(const struct sock *k) { return k->tx ? k->tx->window : 0; }

uint32_t sock_rtt_us(const struct sock *k)
{
    struct vhost *h = k->type == SOCK_STREAM && k->state == SS_CONNECTED ? host_of((struct sock *)k, k->peer.sin_addr.s_addr) : NULL;
    if (!h)
        return 0;
    return (uint32_t)llround((sim_route_latency(k->host->sh, h->sh) + sim_route_latency(h->sh, k->host->sh)) * 1e6);
}

unsigned sock_poll(const struct sock *k)
{
    unsigned ev = 0;
    if (k->type == SOCK_DGRAM) {
        if (k->dq.count)
            ev |= POLLIN | POLLRDNORM;
        ev |= POLLOUT | POLLWRNORM;
        if (k->error)
            ev |= POLLERR;
        return ev;
    }
    switch (k->state) {
    case SS_LISTENING:
        return k->nbacklog ? POLLIN | POLLRDNORM : 0;
    case SS_CONNECTING:
        return 0;
    case SS_UNCONNECTED:
        return POLLHUP;
    case SS_CLOSED: /* as Linux after a failed connect: everything shut */
        return POLLIN | POLLRDNORM | POLLRDHUP | POLLHUP | POLLOUT | POLLWRNORM | (k->error ? POLLERR : 0);
    case SS_CONNECTED:
        break;
    }
    if (sock_readable(k))
        ev |= POLLIN | POLLRDNORM;
    bool peer_done = k->rx && k->rx->fin_arrived;
    if (peer_done || k->rd_shut)
        ev |= POLLRDHUP;
    if (!k->wr_shut && (!k->tx || !k->tx->to))
        ev |= POLLOUT | POLLWRNORM | POLLERR; /* writing fails at once */
    else if (!k->wr_shut && sock_writable(k))
        ev |= POLLOUT | POLLWRNORM;
    if (peer_done && k->wr_shut)
        ev |= POLLHUP;
    if (k->error)
        ev |= POLLERR;
    return ev;
}

void sock_release(struct sock *k)
{
    unbind(k);
    if (k->type == SOCK_STREAM) {
        if (k->tx) {
            stream_send_fin(k->tx);
            k->tx->from = NULL;
            stream_put(k->tx);
        }
        if (k->rx) {
            k->rx->to = NULL;
            chunkq_clear(&k->rx->rx);
            notify(k->rx->from); /* its writes now fail */
            stream_put(k->rx);
        }
        /* Connections nobody accepted: the clients see a reset. */
        for (size_t i = 0; i < k->nbacklog; i++)
            file_unref(k->backlog[i]->file);
        free(k->backlog);
    } else {
        if (k->pump) {
            sim_kill(k->pump);
            k->udl->stop = true;
            k->udl->owner = NULL;
            chunkq_clear(&k->udl->q);
            sim_waitq_wake(k->udl->wake); /* it ends; the registry frees it */
        }
        chunkq_clear(&k->dq);
        if (k->chan)
            sim_channel_free(k->chan);
    }
    k->file = NULL;
    free(k);
}

void sock_free_all(void)
{
    for (struct stream *st = all_streams, *next; st; st = next) {
        next = st->all_next;
        if (!st->freed) {
            chunkq_clear(&st->rx);
            chunkq_clear(&st->sendq);
            sim_channel_free(st->chan);
        }
        sim_waitq_free(st->send_wake);
        free(st);
    }
    all_streams = NULL;
    while (in_flight) {
        struct chunk *c = in_flight;
        flight_del(c);
        free(c);
    }
    for (size_t i = 0; i < n_delay_lines; i++)
        delay_line_free(all_delay_lines[i]);
    for (size_t i = 0; i < n_more; i++)
        delay_line_free(more_delay_lines[i]);
    free(more_delay_lines);
    n_delay_lines = n_more = cap_more = 0;
    more_delay_lines = NULL;
}

void sock_set_owner(struct sock *k, struct proc *p) { k->owner = p; }

struct proc *sock_peer_owner(struct sock *k, const struct sockaddr_in *addr)
{
    if (k->type == SOCK_STREAM) {
        struct sock *o = k->tx && k->tx->to ? k->tx->to : k->rx ? k->rx->from : NULL;
        return o ? o->owner : NULL;
    }
    struct sockaddr_in to;
    if (!udp_destination(k, addr, &to))
        return NULL;
    struct vhost *h = host_of(k, to.sin_addr.s_addr);
    struct sock *o = h ? find_udp(h, &to, &k->local) : NULL;
    return o ? o->owner : NULL;
}
