/* What SimGrid predicts for one transfer of SIZE bytes from SRC to DST on
 * PLATFORM, with Simterpose's network model settings: the reference the
 * emulated transfers are compared with (bench/transfer.py).
 * Usage: sg_comm_time PLATFORM SRC DST SIZE */
#include <simgrid/actor.h>
#include <simgrid/engine.h>
#include <simgrid/host.h>
#include <simgrid/mailbox.h>
#include <stdio.h>
#include <stdlib.h>

static long size;

static void receiver(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    sg_mailbox_get(sg_mailbox_by_name("bench"));
    printf("%.9f\n", simgrid_get_clock());
}

static void sender(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    static char payload;
    sg_mailbox_put(sg_mailbox_by_name("bench"), &payload, size);
}

int main(int argc, char **argv)
{
    /* The same settings as supervisor/options.c */
    char *args[] = {argv[0], "--log=root.thres:critical", "--cfg=network/model:CM02",
                    "--cfg=network/latency-factor:1.0", "--cfg=network/bandwidth-factor:0.97",
                    "--cfg=network/crosstraffic:0", NULL};
    int n = 6;
    if (argc != 5) {
        fprintf(stderr, "usage: sg_comm_time PLATFORM SRC DST SIZE\n");
        return 2;
    }
    simgrid_init(&n, args);
    simgrid_load_platform(argv[1]);
    size = atol(argv[4]);
    sg_actor_create("receiver", sg_host_by_name(argv[3]), receiver, 0, NULL);
    sg_actor_create("sender", sg_host_by_name(argv[2]), sender, 0, NULL);
    simgrid_run();
    return 0;
}
