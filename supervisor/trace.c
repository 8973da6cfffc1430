/* --strace: one line per trapped syscall, when it returns, in simulated
 * time order (the simulation runs one actor at a time, in time order):
 *
 *   [   10.020000] bob iperf3.1 3/3 accept(5, {10.0.0.1:32768}, [16]) = 6 <9.010000> peer alice:iperf3.1[3]
 *       {10.0.0.2:5201}->{10.0.0.1:32768}
 *
 * the time the call returned, host, program, pid/tid as the program sees
 * them (deterministic, unlike ours), the call with its arguments decoded,
 * the result, its simulated duration when it took any, and for calls on
 * an emulated socket the process at the other end.  Arguments are read
 * from the target after the handler ran, before the reply: buffers the
 * call fills (accept's address...) are shown filled. */
#include "trace.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>

#include "../filters/filter.h"
#include "dispatch.h"
#include "file.h"
#include "mem.h"
#include "socket.h"
#include "syscalls/io.h"

/* Argument kinds, one letter per argument:
 *   d int   u unsigned   x hex   p pointer   f fd
 *   A sockaddr in (length: next argument)   a sockaddr out (length pointer: next)
 *   l pointer to a socklen_t, shown as [value]
 *   D socket domain   T socket type and flags   K SOCK_ flags   M MSG_ flags
 *   c clock id   t timespec (in)   H shutdown how   L/O sockopt level/name
 *   F fcntl command   E epoll_ctl op   X futex op   s string */
struct decoder {
    int nr;
    const char *args;
};

static const struct decoder decoders[] = {
    {__NR_socket, "DTd"},           {__NR_bind, "fAu"},
    {__NR_connect, "fAu"},          {__NR_listen, "fd"},
    {__NR_accept, "fal"},           {__NR_accept4, "falK"},
    {__NR_getsockname, "fal"},      {__NR_getpeername, "fal"},
    {__NR_sendto, "fpuMAu"},        {__NR_recvfrom, "fpuMal"},
    {__NR_sendmsg, "fpM"},          {__NR_recvmsg, "fpM"},
    {__NR_shutdown, "fH"},          {__NR_setsockopt, "fLOpu"},
    {__NR_getsockopt, "fLOpp"},     {__NR_read, "fpu"},
    {__NR_write, "fpu"},            {__NR_readv, "fpd"},
    {__NR_writev, "fpd"},           {__NR_close, "f"},
    {__NR_fcntl, "fFx"},            {__NR_ioctl, "fxp"},
    {__NR_dup, "f"},                {__NR_dup2, "ff"},
    {__NR_dup3, "ffx"},             {__NR_poll, "pud"},
    {__NR_ppoll, "putpu"},          {__NR_select, "dpppp"},
    {__NR_pselect6, "dppppp"},      {__NR_epoll_create, "d"},
    {__NR_epoll_create1, "x"},      {__NR_epoll_ctl, "fEfp"},
    {__NR_epoll_wait, "fpdd"},      {__NR_epoll_pwait, "fpddpu"},
    {__NR_clock_gettime, "cp"},     {__NR_clock_getres, "cp"},
    {__NR_gettimeofday, "pp"},      {__NR_time, "p"},
    {__NR_nanosleep, "tp"},         {__NR_clock_nanosleep, "cxtp"},
    {__NR_futex, "pXupxu"},         {__NR_execve, "spp"},
    {__NR_exit, "d"},               {__NR_exit_group, "d"},
    {__NR_wait4, "dpxp"},           {__NR_waitid, "ddpxp"},
    {__NR_clone, "xppp"},           {__NR_arch_prctl, "xx"},
    {__NR_eventfd, "u"},            {__NR_eventfd2, "ux"},
    {__NR_timerfd_create, "cx"},    {__NR_timerfd_settime, "fxpp"},
    {__NR_timerfd_gettime, "fp"},
    {__NR_open, "sxx"},             {__NR_openat, "dsxx"},
    {__NR_pread64, "fpuu"},         {__NR_pwrite64, "fpuu"},
    {__NR_preadv, "fpdu"},          {__NR_pwritev, "fpdu"},
    {__NR_pipe, "p"},               {__NR_pipe2, "px"},
    {__NR_lseek, "fdd"},            {__NR_socketpair, "DTdp"},
    {__NR_kill, "dd"},              {__NR_tkill, "dd"},
    {__NR_tgkill, "ddd"},           {__NR_alarm, "u"},
    {__NR_setitimer, "dpp"},        {__NR_getitimer, "dp"},
    {__NR_rt_sigsuspend, "pu"},     {__NR_rt_sigtimedwait, "pppu"},
    {__NR_getrusage, "dp"},         {__NR_times, "p"},
    {__NR_timer_create, "cpp"},     {__NR_timer_settime, "dxpp"},
    {__NR_timer_gettime, "dp"},     {__NR_timer_delete, "d"},
    {__NR_signalfd, "fpu"},         {__NR_signalfd4, "fpux"},
    {__NR_sendfile, "ffpu"},        {__NR_splice, "fpfpux"},
    {__NR_tee, "ffux"},             {__NR_copy_file_range, "fpfpux"},
};

static const char *decoder_for(int nr)
{
    for (size_t i = 0; i < sizeof decoders / sizeof decoders[0]; i++)
        if (decoders[i].nr == nr)
            return decoders[i].args;
    return "xxx";
}

struct name {
    long value;
    const char *name;
};
#define N(x) {x, #x}

static const char *name_of(const struct name *tab, size_t n, long v)
{
    for (size_t i = 0; i < n; i++)
        if (tab[i].value == v)
            return tab[i].name;
    return NULL;
}

/* "A|B|0x40": named bits of v, the rest in hex. */
static void put_flags(FILE *o, const struct name *tab, size_t n, unsigned long v)
{
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        if (tab[i].value && (v & (unsigned long)tab[i].value) == (unsigned long)tab[i].value) {
            fprintf(o, "%s%s", any ? "|" : "", tab[i].name);
            v &= ~(unsigned long)tab[i].value;
            any = true;
        }
    }
    if (v || !any)
        fprintf(o, any ? "|%#lx" : "%#lx", v);
}

static const struct name domains[] = {N(AF_UNIX), N(AF_INET), N(AF_INET6), N(AF_NETLINK), N(AF_PACKET)};
static const struct name socktypes[] = {N(SOCK_STREAM), N(SOCK_DGRAM), N(SOCK_RAW), N(SOCK_SEQPACKET)};
static const struct name sockflags[] = {N(SOCK_NONBLOCK), N(SOCK_CLOEXEC)};
static const struct name msgflags[] = {N(MSG_OOB),      N(MSG_PEEK),     N(MSG_DONTROUTE), N(MSG_TRUNC),
                                       N(MSG_DONTWAIT), N(MSG_EOR),      N(MSG_WAITALL),   N(MSG_NOSIGNAL),
                                       N(MSG_MORE),     N(MSG_CMSG_CLOEXEC)};
static const struct name clocks[] = {N(CLOCK_REALTIME),         N(CLOCK_MONOTONIC),        N(CLOCK_PROCESS_CPUTIME_ID),
                                     N(CLOCK_THREAD_CPUTIME_ID), N(CLOCK_MONOTONIC_RAW),    N(CLOCK_REALTIME_COARSE),
                                     N(CLOCK_MONOTONIC_COARSE),  N(CLOCK_BOOTTIME),         N(CLOCK_TAI)};
static const struct name hows[] = {N(SHUT_RD), N(SHUT_WR), N(SHUT_RDWR)};
static const struct name levels[] = {N(SOL_SOCKET), N(IPPROTO_TCP), N(IPPROTO_IP), N(IPPROTO_IPV6), N(IPPROTO_UDP)};
static const struct name sockopts[] = {N(SO_REUSEADDR), N(SO_REUSEPORT), N(SO_KEEPALIVE), N(SO_SNDBUF),
                                       N(SO_RCVBUF),    N(SO_ERROR),     N(SO_TYPE),      N(SO_LINGER),
                                       N(SO_RCVTIMEO),  N(SO_SNDTIMEO),  N(SO_BROADCAST), N(SO_DOMAIN),
                                       N(SO_PROTOCOL),  N(SO_ACCEPTCONN)};
static const struct name tcpopts[] = {N(TCP_NODELAY), N(TCP_MAXSEG), N(TCP_INFO), N(TCP_CONGESTION)};
static const struct name fcntls[] = {N(F_DUPFD), N(F_GETFD), N(F_SETFD),   N(F_GETFL),
                                     N(F_SETFL), N(F_GETLK), N(F_SETLK),   N(F_SETLKW),
                                     N(F_DUPFD_CLOEXEC), N(F_GETPIPE_SZ), N(F_SETPIPE_SZ)};
static const struct name epollops[] = {N(EPOLL_CTL_ADD), N(EPOLL_CTL_DEL), N(EPOLL_CTL_MOD)};
static const struct name futexops[] = {N(FUTEX_WAIT),        N(FUTEX_WAKE),           N(FUTEX_REQUEUE),
                                       N(FUTEX_CMP_REQUEUE), N(FUTEX_WAKE_OP),        N(FUTEX_LOCK_PI),
                                       N(FUTEX_UNLOCK_PI),   N(FUTEX_TRYLOCK_PI),     N(FUTEX_WAIT_BITSET),
                                       N(FUTEX_WAKE_BITSET), N(FUTEX_WAIT_REQUEUE_PI), N(FUTEX_CMP_REQUEUE_PI)};
#define PUT_NAME(o, tab, v)                                                                                            \
    do {                                                                                                               \
        const char *nm_ = name_of(tab, sizeof tab / sizeof tab[0], (long)(v));                                         \
        if (nm_)                                                                                                       \
            fputs(nm_, o);                                                                                             \
        else                                                                                                           \
            fprintf(o, "%ld", (long)(v));                                                                              \
    } while (0)

static void put_addr(FILE *o, const struct sockaddr_in *a)
{
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    fprintf(o, "{%s:%u}", ip, ntohs(a->sin_port));
}

/* A sockaddr in target memory: AF_INET, AF_INET6 (v4-mapped shown as v4
 * would be too long: shown as IPv6), AF_UNIX path. */
static void print_sockaddr(FILE *o, const struct task *t, uint64_t addr, uint64_t len)
{
    if (!addr) {
        fputs("NULL", o);
        return;
    }
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
        struct sockaddr_storage ss;
    } u;
    memset(&u, 0, sizeof u);
    if (len > sizeof u)
        len = sizeof u;
    if (len < sizeof(sa_family_t) || mem_read(t, addr, &u, len) < 0) {
        fprintf(o, "%#" PRIx64, addr);
        return;
    }
    if (u.sa.sa_family == AF_INET && len >= sizeof u.in) {
        put_addr(o, &u.in);
    } else if (u.sa.sa_family == AF_INET6 && len >= sizeof u.in6) {
        char ip[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &u.in6.sin6_addr, ip, sizeof ip);
        fprintf(o, "{[%s]:%u}", ip, ntohs(u.in6.sin6_port));
    } else {
        fputs("{", o);
        PUT_NAME(o, domains, u.sa.sa_family);
        fputs(", ...}", o);
    }
}

static void put_timespec(FILE *o, const struct task *t, uint64_t addr)
{
    struct timespec ts;
    if (!addr)
        fputs("NULL", o);
    else if (mem_read(t, addr, &ts, sizeof ts) < 0)
        fprintf(o, "%#" PRIx64, addr);
    else
        fprintf(o, "{%lld.%09ld}", (long long)ts.tv_sec, ts.tv_nsec);
}

static void put_string(FILE *o, const struct task *t, uint64_t addr)
{
    char buf[128];
    size_t n = 0, want = sizeof buf - 1;
    /* Up to the page end, then the next page: a string near the end of
     * its mapping must not make the whole read fail. */
    while (n < want) {
        size_t piece = 4096 - (size_t)((addr + n) % 4096);
        if (piece > want - n)
            piece = want - n;
        if (mem_read(t, addr + n, buf + n, piece) < 0)
            break;
        void *nul = memchr(buf + n, '\0', piece);
        n = nul ? (size_t)((char *)nul - buf) : n + piece;
        if (nul)
            break;
    }
    buf[n] = '\0';
    fputc('"', o);
    for (char *c = buf; *c; c++)
        fputs(*c == '"' ? "\\\"" : (char[]){*c, 0}, o);
    fputs(n == sizeof buf - 1 ? "\"..." : "\"", o);
}

static void put_arg(FILE *o, const struct task *t, const char *spec, int i)
{
    const uint64_t *a = t->req.args;
    uint64_t v = a[i];
    switch (spec[i]) {
    case 'd': fprintf(o, "%d", (int)v); break;
    case 'f': fprintf(o, "%d", (int)v); break;
    case 'u': fprintf(o, "%" PRIu64, v); break;
    case 'p': fprintf(o, v ? "%#" PRIx64 : "NULL", v); break;
    case 'A': print_sockaddr(o, t, v, a[i + 1]); break;
    case 'a': {
        uint32_t len = 0;
        if (v && a[i + 1] && mem_read(t, a[i + 1], &len, sizeof len) == 0)
            print_sockaddr(o, t, v, len);
        else
            fprintf(o, v ? "%#" PRIx64 : "NULL", v);
        break;
    }
    case 'l': {
        uint32_t len;
        if (v && mem_read(t, v, &len, sizeof len) == 0)
            fprintf(o, "[%u]", len);
        else
            fprintf(o, v ? "%#" PRIx64 : "NULL", v);
        break;
    }
    case 'D': PUT_NAME(o, domains, v); break;
    case 'T':
        PUT_NAME(o, socktypes, v & 0xf);
        if (v & ~0xfULL) {
            fputc('|', o);
            put_flags(o, sockflags, sizeof sockflags / sizeof sockflags[0], v & ~0xfULL);
        }
        break;
    case 'K': put_flags(o, sockflags, sizeof sockflags / sizeof sockflags[0], v); break;
    case 'M': put_flags(o, msgflags, sizeof msgflags / sizeof msgflags[0], v); break;
    case 'c': PUT_NAME(o, clocks, (int)v); break;
    case 't': put_timespec(o, t, v); break;
    case 'H': PUT_NAME(o, hows, v); break;
    case 'L': PUT_NAME(o, levels, (int)v); break;
    case 'O':
        if ((int)a[i - 1] == IPPROTO_TCP)
            PUT_NAME(o, tcpopts, (int)v);
        else if ((int)a[i - 1] == SOL_SOCKET)
            PUT_NAME(o, sockopts, (int)v);
        else
            fprintf(o, "%d", (int)v);
        break;
    case 'F': PUT_NAME(o, fcntls, (int)v); break;
    case 'E': PUT_NAME(o, epollops, (int)v); break;
    case 'X': {
        int op = (int)v;
        PUT_NAME(o, futexops, op & FUTEX_CMD_MASK);
        if (op & FUTEX_PRIVATE_FLAG)
            fputs("|FUTEX_PRIVATE_FLAG", o);
        if (op & FUTEX_CLOCK_REALTIME)
            fputs("|FUTEX_CLOCK_REALTIME", o);
        break;
    }
    case 's': put_string(o, t, v); break;
    default: fprintf(o, "%#" PRIx64, v); break;
    }
}

static bool is_data_call(int nr)
{
    switch (nr) {
    case __NR_read: case __NR_write: case __NR_readv: case __NR_writev:
    case __NR_sendto: case __NR_recvfrom: case __NR_sendmsg: case __NR_recvmsg:
        return true;
    default:
        return false;
    }
}

static bool is_send_call(int nr)
{
    return nr == __NR_write || nr == __NR_writev || nr == __NR_sendto || nr == __NR_sendmsg;
}

/* The emulated socket a network call acted on (for accept: the new one). */
static struct sock *call_socket(const struct task *t, struct sysret r)
{
    int nr = t->req.nr;
    int fd = (int)t->req.args[0];
    if ((nr == __NR_accept || nr == __NR_accept4) && r.kind == RET_VALUE)
        fd = (int)r.value;
    else if (!(nr == __NR_connect || nr == __NR_accept || nr == __NR_accept4 || nr == __NR_shutdown ||
               is_data_call(nr)))
        return NULL;
    if (!t->proc->fds)
        return NULL;
    struct file *f = fd_get((struct task *)t, fd);
    return f && f->kind == FILE_SOCKET ? f->sock : NULL;
}

/* The other end of a sendto/recvfrom on a UDP socket, from its address
 * argument. */
static bool datagram_peer(const struct task *t, struct sock *k, struct sockaddr_in *out)
{
    int nr = t->req.nr;
    if (sock_type(k) != SOCK_DGRAM || (nr != __NR_sendto && nr != __NR_recvfrom) || !t->req.args[4])
        return false;
    uint32_t len = (uint32_t)t->req.args[5];
    if (nr == __NR_recvfrom && (!t->req.args[5] || mem_read(t, t->req.args[5], &len, sizeof len) < 0))
        return false;
    /* The handlers' own reading: AF_INET, or AF_INET6 mapped to IPv4. */
    return get_sockaddr(t, k, t->req.args[4], len, out) == 0 && out->sin_family == AF_INET;
}

void trace_account(struct supervisor *s, struct task *t, struct sysret r, int64_t start_ns, int64_t cpu_sim_ns)
{
    (void)s;
    struct usage *u = &t->proc->g->usage;
    const struct trap_entry *e = dispatch_entry(t->req.nr);
    if (e)
        u->syscalls_by_class[e->cls]++;
    u->cpu_ns += t->cpu_burst_ns;
    u->cpu_sim_ns += cpu_sim_ns;
    u->blocked_ns += sim_now_ns() - start_ns;
    if (r.kind == RET_VALUE && r.value > 0 && is_data_call(t->req.nr) && call_socket(t, r)) {
        if (is_send_call(t->req.nr))
            u->bytes_sent += (uint64_t)r.value;
        else
            u->bytes_received += (uint64_t)r.value;
    }
}

void trace_syscall(struct supervisor *s, struct task *t, struct sysret r, int64_t start_ns, int64_t cpu_sim_ns)
{
    FILE *o = s->strace;
    if (!o)
        return;
    const struct proc *p = t->proc;
    const struct trap_entry *e = dispatch_entry(t->req.nr);
    int64_t now = sim_now_ns();
    fprintf(o, "[%13.6f] %s %s %d/%d %s(", (double)now / 1e9, p->g->host->name, p->g->name, p->ns_pid, t->ns_tid,
            e ? e->name : "?");
    const char *spec = decoder_for(t->req.nr);
    for (int i = 0; spec[i] && i < 6; i++) {
        if (i)
            fputs(", ", o);
        put_arg(o, t, spec, i);
    }
    fputs(") = ", o);
    switch (r.kind) {
    case RET_VALUE:
        fprintf(o, "%lld", (long long)r.value);
        break;
    case RET_ERRNO:
        fprintf(o, "-1 %s (%s)", strerrorname_np((int)r.value) ?: "?", strerror((int)r.value));
        break;
    case RET_CONTINUE:
        fputs("? (run natively)", o);
        break;
    }
    int64_t took = now - start_ns;
    if (took > 0)
        fprintf(o, " <%.6f>", (double)took / 1e9);
    struct sock *k = call_socket(t, r);
    if (k) {
        struct sockaddr_in peer_addr, dgram_addr;
        bool have_dgram = datagram_peer(t, k, &dgram_addr);
        struct proc *peer = sock_peer_owner(k, have_dgram ? &dgram_addr : NULL);
        if (peer)
            fprintf(o, " peer %s:%s[%d]", peer->g->host->name, peer->g->name, peer->ns_pid);
        else if (have_dgram) {
            fputs(" peer ", o);
            put_addr(o, &dgram_addr);
        } else if (sock_peer(k, &peer_addr)) {
            fputs(" peer ", o);
            put_addr(o, &peer_addr);
        }
    }
    int nr = t->req.nr;
    struct sockaddr_in local, remote;
    if (k && (nr == __NR_connect || nr == __NR_accept || nr == __NR_accept4) && sock_local(k, &local) &&
        sock_peer(k, &remote)) {
        fputs(" ", o);
        put_addr(o, &local);
        fputs("->", o);
        put_addr(o, &remote);
    }
    if (s->opt->trace_cpu)
        fprintf(o, " cpu %.6f ms -> %.6f ms", (double)t->cpu_burst_ns / 1e6, (double)cpu_sim_ns / 1e6);
    fputc('\n', o);
}
