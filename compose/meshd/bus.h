/* bus.h: meshd's NATS connection. Run owners publish each persisted chunk
 * and the end of the run on "meshd.thread.<thread id>"; a pod shutting down
 * publishes on "meshd.pods.handover" so survivors look for its runs at once.
 * Every pod subscribes to both and feeds the hub and the recovery loop. The
 * client reconnects forever; publishing while disconnected is buffered by
 * the client or lost, which streams tolerate by reading Postgres. */
#ifndef MESHD_BUS_H
#define MESHD_BUS_H

#include <stdbool.h>

/* Starts connecting (in the background when NATS is down) and subscribes.
 * Returns 0, or -1 when the client could not even be set up. */
int bus_start(void);
void bus_stop(void);

/* True when connected now (no I/O). */
bool bus_connected(void);
/* True when a round trip to the server completes within budget_ms. */
bool bus_check(int budget_ms);

void bus_publish_part(const char *thread_id, long seq, const char *text);
void bus_publish_done(const char *thread_id);
/* Publishes the handover notice and flushes it within budget_ms. */
void bus_publish_handover(int budget_ms);

#endif
