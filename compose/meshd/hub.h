/* hub.h: in-process fan-out of a thread's live events to the SSE streams
 * watching it on this pod. The NATS subscriber delivers; each stream has a
 * subscription with its own queue and wakes when something arrives. The hub
 * is only a fast path: streams still read Postgres, which is the truth. */
#ifndef MESHD_HUB_H
#define MESHD_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hub_part {
    long seq;
    char *text;
    char *pod;
};

/* What hub_wait took from a subscription's queue; free with hub_batch_free. */
struct hub_batch {
    struct hub_part *parts;
    size_t count;
    bool overflowed; /* parts were dropped: re-read Postgres */
    bool done;       /* the run said it completed */
    bool closed;     /* the hub is closing: end the stream */
};

struct hub_sub;

/* Subscribes to a thread's events; NULL when out of memory. */
struct hub_sub *hub_join(const char *thread_id);
void hub_leave(struct hub_sub *sub);

/* Waits until the subscription has events, the hub closes, or the monotonic
 * deadline_ms passes, then moves what is queued into *batch. */
void hub_wait(struct hub_sub *sub, int64_t deadline_ms,
              struct hub_batch *batch);
void hub_batch_free(struct hub_batch *batch);

/* Queues a part, or the end of the run, for every subscriber of thread_id. */
void hub_deliver_part(const char *thread_id, long seq, const char *text,
                      const char *pod);
void hub_deliver_done(const char *thread_id);

/* Wakes every subscriber for good: their next hub_wait reports closed. */
void hub_close(void);

#endif
