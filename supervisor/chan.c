#include "chan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "file.h"

struct chan *chan_new(size_t cap, bool msgs)
{
    struct chan *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    c->msgs = msgs;
    c->cap = cap;
    if (!msgs && !(c->ring = malloc(cap)))
        abort();
    return c;
}

void chan_attach(struct chan *c, struct file *reader, struct file *writer)
{
    if (reader) {
        c->reader = reader;
        c->ends++;
    }
    if (writer) {
        c->writer = writer;
        c->ends++;
    }
}

void passed_free(struct passed_fds *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->n; i++) {
        if (p->emu[i])
            file_unref(p->emu[i]);
        if (p->native[i] >= 0)
            close(p->native[i]);
    }
    free(p);
}

void chan_add_rights(struct chan *c, struct passed_fds *fds, uint64_t at)
{
    struct chan_rights *r = malloc(sizeof *r);
    if (!r)
        abort();
    *r = (struct chan_rights){NULL, at, fds};
    if (!c->rights_tail)
        c->rights_tail = &c->rights;
    *c->rights_tail = r;
    c->rights_tail = &r->next;
}

struct chan_rights *chan_first_rights(const struct chan *c) { return c->rights; }

struct passed_fds *chan_take_rights(struct chan *c)
{
    struct chan_rights *r = c->rights;
    if (!r)
        return NULL;
    c->rights = r->next;
    if (!c->rights)
        c->rights_tail = &c->rights;
    struct passed_fds *fds = r->fds;
    free(r);
    return fds;
}

static void chan_free(struct chan *c)
{
    while (c->first)
        chan_drop_msg(c);
    while (c->rights)
        passed_free(chan_take_rights(c));
    free(c->ring);
    free(c);
}

struct file *chan_unlink(struct chan *c, struct file *f)
{
    int gone = 0;
    if (c->reader == f) {
        c->reader = NULL;
        gone++;
    }
    if (c->writer == f) {
        c->writer = NULL;
        gone++;
    }
    c->ends -= gone;
    if (c->ends <= 0) {
        chan_free(c);
        return NULL;
    }
    /* The one left sees EOF or EPIPE once woken. */
    struct file *other = c->reader ? c->reader : c->writer;
    file_ref(other);
    return other;
}

void chan_wake_unref(struct file *f)
{
    if (!f)
        return;
    file_notify(f); /* a wake-up: other actors run, f stays ours */
    file_unref(f);
}

void chan_detach(struct chan *c, struct file *f) { chan_wake_unref(chan_unlink(c, f)); }

size_t chan_room(const struct chan *c) { return c->len < c->cap ? c->cap - c->len : 0; }

size_t chan_put(struct chan *c, const void *buf, size_t n)
{
    size_t room = chan_room(c);
    if (n > room)
        n = room;
    size_t tail = (c->head + c->len) % c->cap;
    size_t first = n < c->cap - tail ? n : c->cap - tail;
    memcpy(c->ring + tail, buf, first);
    memcpy(c->ring, (const char *)buf + first, n - first);
    c->len += n;
    c->written += n;
    return n;
}

size_t chan_get(struct chan *c, void *buf, size_t n, bool peek)
{
    if (n > c->len)
        n = c->len;
    size_t first = n < c->cap - c->head ? n : c->cap - c->head;
    memcpy(buf, c->ring + c->head, first);
    memcpy((char *)buf + first, c->ring, n - first);
    if (!peek)
        chan_skip(c, n);
    return n;
}

void chan_skip(struct chan *c, size_t n)
{
    if (n > c->len)
        n = c->len;
    c->head = (c->head + n) % c->cap;
    c->len -= n;
    c->consumed += n;
    if (!c->len)
        c->head = 0;
}

int chan_put_msg(struct chan *c, const void *buf, size_t n, const struct sockaddr_un *from, socklen_t fromlen)
{
    /* An empty queue takes any message the caller allowed (its size limit
     * was checked): a datagram never waits for room it can never get. */
    if (c->len && n > chan_room(c))
        return -EAGAIN;
    struct chan_msg *m = malloc(sizeof *m + n);
    if (!m)
        return -ENOMEM;
    m->next = NULL;
    m->rights = NULL;
    m->len = n;
    memcpy(m->data, buf, n);
    memset(&m->from, 0, sizeof m->from);
    m->fromlen = from ? fromlen : 0;
    if (from)
        memcpy(&m->from, from, fromlen < sizeof m->from ? fromlen : sizeof m->from);
    if (c->last)
        c->last->next = m;
    else
        c->first = m;
    c->last = m;
    c->len += n;
    return 0;
}

struct chan_msg *chan_first_msg(const struct chan *c) { return c->first; }

void chan_drop_msg(struct chan *c)
{
    struct chan_msg *m = c->first;
    if (!m)
        return;
    c->first = m->next;
    if (!c->first)
        c->last = NULL;
    c->len -= m->len;
    passed_free(m->rights);
    free(m);
}

void chan_notify(struct chan *c)
{
    /* Either wake-up may let the other end close; hold both files. */
    struct file *r = c->reader, *w = c->writer;
    if (r)
        file_ref(r);
    if (w)
        file_ref(w);
    if (r)
        file_notify(r);
    if (w && w != r)
        file_notify(w);
    if (r)
        file_unref(r);
    if (w)
        file_unref(w);
}

int chan_resize(struct chan *c, size_t cap)
{
    if (cap < c->len)
        return -EBUSY;
    if (c->msgs) {
        c->cap = cap;
        return 0;
    }
    char *ring = malloc(cap);
    if (!ring)
        return -ENOMEM;
    chan_get(c, ring, c->len, true);
    free(c->ring);
    c->ring = ring;
    c->head = 0;
    c->cap = cap;
    return 0;
}
