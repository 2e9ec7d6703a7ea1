/* hub.c: the subscriber list behind hub.h, guarded by one mutex. Each
 * subscription's queue is bounded (QUEUE_MAX); past that, parts are dropped
 * and the subscriber is told to catch up from Postgres instead. */
#include "hub.h"

#include "util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { QUEUE_MAX = 256 };

struct hub_sub {
    char thread_id[40];
    pthread_cond_t wake;
    struct hub_part *queue; /* QUEUE_MAX slots */
    size_t queued;
    bool overflowed, done;
    struct hub_sub *next;
};

static pthread_mutex_t hub_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hub_sub *subs;
static bool hub_closed;

struct hub_sub *hub_join(const char *thread_id)
{
    struct hub_sub *sub = calloc(1, sizeof *sub);
    if (!sub || !(sub->queue = calloc(QUEUE_MAX, sizeof *sub->queue))) {
        free(sub);
        return NULL;
    }
    strncpy(sub->thread_id, thread_id, sizeof sub->thread_id - 1);
    cond_init_monotonic(&sub->wake);
    pthread_mutex_lock(&hub_lock);
    sub->next = subs;
    subs = sub;
    pthread_mutex_unlock(&hub_lock);
    return sub;
}

static void free_parts(struct hub_part *parts, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free(parts[i].text);
        free(parts[i].pod);
    }
}

void hub_leave(struct hub_sub *sub)
{
    pthread_mutex_lock(&hub_lock);
    for (struct hub_sub **p = &subs; *p; p = &(*p)->next) {
        if (*p == sub) {
            *p = sub->next;
            break;
        }
    }
    pthread_mutex_unlock(&hub_lock);
    free_parts(sub->queue, sub->queued);
    free(sub->queue);
    pthread_cond_destroy(&sub->wake);
    free(sub);
}

static bool has_news(const struct hub_sub *sub)
{
    return sub->queued || sub->overflowed || sub->done || hub_closed;
}

void hub_wait(struct hub_sub *sub, int64_t deadline_ms,
              struct hub_batch *batch)
{
    *batch = (struct hub_batch){0};
    pthread_mutex_lock(&hub_lock);
    while (!has_news(sub) && cond_wait_until(&sub->wake, &hub_lock, deadline_ms))
        ;
    if (sub->queued) {
        batch->parts = malloc(sub->queued * sizeof *batch->parts);
        if (batch->parts) {
            memcpy(batch->parts, sub->queue, sub->queued * sizeof *batch->parts);
            batch->count = sub->queued;
        } else {
            free_parts(sub->queue, sub->queued);
            sub->overflowed = true;
        }
    }
    batch->overflowed = sub->overflowed;
    batch->done = sub->done;
    batch->closed = hub_closed;
    sub->queued = 0;
    sub->overflowed = sub->done = false;
    pthread_mutex_unlock(&hub_lock);
}

void hub_batch_free(struct hub_batch *batch)
{
    free_parts(batch->parts, batch->count);
    free(batch->parts);
    *batch = (struct hub_batch){0};
}

/* Queues a copy of the part on sub (hub_lock held). */
static void enqueue(struct hub_sub *sub, long seq, const char *text,
                    const char *pod)
{
    char *t = strdup(text), *p = strdup(pod);
    if (sub->queued == QUEUE_MAX || !t || !p) {
        free(t);
        free(p);
        sub->overflowed = true;
        return;
    }
    sub->queue[sub->queued++] = (struct hub_part){.seq = seq, .text = t, .pod = p};
}

void hub_deliver_part(const char *thread_id, long seq, const char *text,
                      const char *pod)
{
    pthread_mutex_lock(&hub_lock);
    for (struct hub_sub *sub = subs; sub; sub = sub->next) {
        if (strcmp(sub->thread_id, thread_id) == 0) {
            enqueue(sub, seq, text, pod);
            pthread_cond_signal(&sub->wake);
        }
    }
    pthread_mutex_unlock(&hub_lock);
}

void hub_deliver_done(const char *thread_id)
{
    pthread_mutex_lock(&hub_lock);
    for (struct hub_sub *sub = subs; sub; sub = sub->next) {
        if (strcmp(sub->thread_id, thread_id) == 0) {
            sub->done = true;
            pthread_cond_signal(&sub->wake);
        }
    }
    pthread_mutex_unlock(&hub_lock);
}

void hub_close(void)
{
    pthread_mutex_lock(&hub_lock);
    hub_closed = true;
    for (struct hub_sub *sub = subs; sub; sub = sub->next)
        pthread_cond_signal(&sub->wake);
    pthread_mutex_unlock(&hub_lock);
}
