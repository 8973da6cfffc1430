/* Local channels (supervisor/chan.c): the byte ring wraps without losing
 * or reordering bytes, messages keep their boundaries and senders, resizes
 * keep what is queued, and the channel lives as long as an end does. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include "../../supervisor/chan.h"
#include "../../supervisor/file.h"

Test(chan, ring_wraps_in_order)
{
    struct chan *c = chan_new(8, false);
    char out[16];
    cr_expect_eq(chan_put(c, "abcdef", 6), 6);
    cr_expect_eq(chan_get(c, out, 4, false), 4);
    cr_expect_eq(chan_room(c), 6);
    cr_expect_eq(chan_put(c, "ghijklmn", 8), 6, "only what fits");
    cr_expect_eq(c->len, 8);
    cr_expect_eq(chan_get(c, out, 3, true), 3, "peek");
    cr_expect_eq(c->len, 8, "a peek takes nothing");
    chan_skip(c, 1);
    cr_expect_eq(chan_get(c, out, sizeof out, false), 7);
    cr_expect_arr_eq(out, "fghijkl", 7);
    cr_expect_eq(c->len, 0);
    struct file *r = file_new(FILE_PIPE), *w = file_new(FILE_PIPE);
    chan_attach(c, r, w);
    chan_detach(c, r);
    cr_expect_eq(c->ends, 1, "the writer still holds it");
    chan_detach(c, w); /* frees it (ASan would see a leak otherwise) */
    free(r);
    free(w);
}

Test(chan, messages_keep_boundaries_and_senders)
{
    struct chan *c = chan_new(10, true);
    struct sockaddr_un from = {.sun_family = AF_UNIX, .sun_path = "/tmp/a"};
    cr_expect_eq(chan_put_msg(c, "abc", 3, &from, sizeof from), 0);
    cr_expect_eq(chan_put_msg(c, "defgh", 5, NULL, 0), 0);
    cr_expect_eq(chan_put_msg(c, "ijk", 3, NULL, 0), -EAGAIN, "11 bytes do not fit in 10");
    struct chan_msg *m = chan_first_msg(c);
    cr_assert_not_null(m);
    cr_expect_eq(m->len, 3);
    cr_expect_str_eq(m->from.sun_path, "/tmp/a");
    chan_drop_msg(c);
    m = chan_first_msg(c);
    cr_expect_eq(m->len, 5);
    cr_expect_eq(m->fromlen, 0);
    cr_expect_arr_eq(m->data, "defgh", 5);
    chan_drop_msg(c);
    cr_expect_null(chan_first_msg(c));
    cr_expect_eq(c->len, 0);
    char big[64] = {0};
    cr_expect_eq(chan_put_msg(c, big, sizeof big, NULL, 0), 0, "an empty queue takes a message larger than it");
    struct file *r = file_new(FILE_PIPE);
    chan_attach(c, r, NULL);
    chan_detach(c, r); /* frees the queued message too */
    free(r);
}

Test(chan, resize_keeps_queued_bytes)
{
    struct chan *c = chan_new(8, false);
    char out[8];
    chan_put(c, "12345678", 8);
    chan_get(c, out, 6, false);
    chan_put(c, "9ab", 3); /* wrapped */
    cr_expect_eq(chan_resize(c, 4), -EBUSY, "5 bytes queued");
    cr_expect_eq(chan_resize(c, 16), 0);
    cr_expect_eq(chan_room(c), 11);
    cr_expect_eq(chan_get(c, out, 8, false), 5);
    cr_expect_arr_eq(out, "789ab", 5);
    struct file *r = file_new(FILE_PIPE);
    chan_attach(c, r, NULL);
    chan_detach(c, r);
    free(r);
}

Test(chan, rights_keep_their_offsets_and_are_freed)
{
    struct chan *c = chan_new(64, false);
    struct passed_fds *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    struct file *f = file_new(FILE_PIPE);
    a->n = 1;
    a->emu[0] = f; /* the rights hold a reference */
    a->native[0] = -1;
    file_ref(f);
    b->n = 1;
    b->native[0] = dup(0); /* a native copy: closed when dropped */
    int copy = b->native[0];
    chan_put(c, "abc", 3);
    chan_add_rights(c, a, 3);
    chan_put(c, "de", 2);
    chan_add_rights(c, b, 5);
    chan_put(c, "f", 1);
    cr_expect_eq(chan_first_rights(c)->at, 3);
    char out[8];
    chan_get(c, out, 3, false);
    cr_expect_eq(c->consumed, 3);
    cr_expect_eq(chan_take_rights(c), a, "first in, first out");
    passed_free(a);
    cr_expect_eq(f->refs, 1, "passed_free dropped the reference");
    struct file *r = file_new(FILE_PIPE);
    chan_attach(c, r, NULL);
    chan_detach(c, r); /* frees b with the channel: closes its copy */
    cr_expect(fcntl(copy, F_GETFD) < 0 && errno == EBADF, "the native copy is closed");
    free(r);
    free(f);
}
