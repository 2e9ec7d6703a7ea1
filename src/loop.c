/*
 * loop.c: the process's single event loop: fd watchers over poll(2) and
 * one-shot timers in a binary min-heap.
 *
 * Watchers are kept in a table indexed by fd, so the callbacks dispatched
 * after one poll(2) may add, replace or remove watchers (their own included)
 * safely: each ready fd is looked up again before its callback runs, and a
 * watcher replaced since the poll is skipped. Timers record their heap slot
 * so cancelling is O(log n); a timer is freed by the loop right after its
 * callback returns, so callbacks must not cancel the timer that fired them.
 */
#include "mpod.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct mp_timer {
    double at;
    unsigned long seq;      /* ties broken by insertion order */
    size_t slot;            /* index in the heap */
    mp_timer_fn fn;
    void *arg;
};

typedef struct {
    mp_io_fn fn;
    void *arg;
    short events;
    unsigned long generation;
} io_watcher;

static struct {
    mp_timer **heap;
    size_t ntimers, heap_cap;
    unsigned long timer_seq;

    io_watcher *watchers;   /* indexed by fd */
    int watchers_cap;
    int nwatched;
    unsigned long generation;

    struct pollfd *pfds;    /* scratch for one poll(2) */
    unsigned long *pgen;
    int pfds_cap;
} loop;

double mp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double mp_wallclock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- timer heap ---- */

static bool timer_before(const mp_timer *a, const mp_timer *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void heap_place(size_t i, mp_timer *t)
{
    loop.heap[i] = t;
    t->slot = i;
}

static void heap_up(size_t i)
{
    mp_timer *t = loop.heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_before(t, loop.heap[parent]))
            break;
        heap_place(i, loop.heap[parent]);
        i = parent;
    }
    heap_place(i, t);
}

static void heap_down(size_t i)
{
    mp_timer *t = loop.heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= loop.ntimers)
            break;
        if (child + 1 < loop.ntimers &&
            timer_before(loop.heap[child + 1], loop.heap[child]))
            child++;
        if (!timer_before(loop.heap[child], t))
            break;
        heap_place(i, loop.heap[child]);
        i = child;
    }
    heap_place(i, t);
}

static void heap_remove(mp_timer *t)
{
    size_t i = t->slot;
    mp_timer *last = loop.heap[--loop.ntimers];
    if (last == t)
        return;
    heap_place(i, last);
    heap_up(i);
    heap_down(last->slot);
}

mp_timer *mp_timer_add(double at, mp_timer_fn fn, void *arg)
{
    if (loop.ntimers == loop.heap_cap) {
        size_t cap = loop.heap_cap ? loop.heap_cap * 2 : 64;
        mp_timer **heap = realloc(loop.heap, cap * sizeof *heap);
        if (!heap)
            abort();
        loop.heap = heap;
        loop.heap_cap = cap;
    }
    mp_timer *t = malloc(sizeof *t);
    if (!t)
        abort();
    t->at = at;
    t->seq = loop.timer_seq++;
    t->fn = fn;
    t->arg = arg;
    heap_place(loop.ntimers++, t);
    heap_up(t->slot);
    return t;
}

void mp_timer_cancel(mp_timer *t)
{
    if (!t)
        return;
    heap_remove(t);
    free(t);
}

double mp_loop_next_timer(void)
{
    return loop.ntimers ? loop.heap[0]->at : -1;
}

/* Run every timer that is due; returns how many ran. */
static int run_due_timers(void)
{
    int ran = 0;
    double now = mp_now();
    while (loop.ntimers && loop.heap[0]->at <= now) {
        mp_timer *t = loop.heap[0];
        heap_remove(t);
        t->fn(t->arg);
        free(t);
        ran++;
    }
    return ran;
}

/* ---- fd watchers ---- */

static int grow_watchers(int fd)
{
    if (fd < loop.watchers_cap)
        return 0;
    int cap = loop.watchers_cap ? loop.watchers_cap : 64;
    while (cap <= fd)
        cap *= 2;
    io_watcher *w = realloc(loop.watchers, (size_t)cap * sizeof *w);
    if (!w)
        return -1;
    memset(w + loop.watchers_cap, 0,
           (size_t)(cap - loop.watchers_cap) * sizeof *w);
    loop.watchers = w;
    loop.watchers_cap = cap;
    return 0;
}

int mp_io_watch(int fd, short events, mp_io_fn fn, void *arg)
{
    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    if (grow_watchers(fd) < 0)
        return -1;
    io_watcher *w = &loop.watchers[fd];
    bool was = w->fn != NULL;
    if (events == 0 || !fn) {
        if (was)
            loop.nwatched--;
        memset(w, 0, sizeof *w);
        return 0;
    }
    if (!was)
        loop.nwatched++;
    w->fn = fn;
    w->arg = arg;
    w->events = events;
    w->generation = ++loop.generation;
    return 0;
}

bool mp_loop_idle(void)
{
    return loop.ntimers == 0 && loop.nwatched == 0;
}

/* Fill loop.pfds from the watcher table; returns the count. */
static int collect_pollfds(void)
{
    if (loop.pfds_cap < loop.nwatched) {
        int cap = loop.nwatched * 2;
        struct pollfd *p = realloc(loop.pfds, (size_t)cap * sizeof *p);
        unsigned long *g = realloc(loop.pgen, (size_t)cap * sizeof *g);
        if (!p || !g)
            abort();
        loop.pfds = p;
        loop.pgen = g;
        loop.pfds_cap = cap;
    }
    int n = 0;
    for (int fd = 0; fd < loop.watchers_cap && n < loop.nwatched; fd++) {
        io_watcher *w = &loop.watchers[fd];
        if (!w->fn)
            continue;
        loop.pfds[n] = (struct pollfd){ .fd = fd, .events = w->events };
        loop.pgen[n] = w->generation;
        n++;
    }
    return n;
}

static int poll_timeout_ms(double max_wait)
{
    double wait = max_wait;
    double next = mp_loop_next_timer();
    if (next >= 0) {
        double until = next - mp_now();
        if (wait < 0 || until < wait)
            wait = until;
    }
    if (wait < 0 && max_wait < 0 && next < 0)
        return -1;
    if (wait <= 0)
        return 0;
    return (int)ceil(wait * 1000.0);
}

int mp_loop_step(double max_wait)
{
    int n = collect_pollfds();
    int rc = poll(loop.pfds, (nfds_t)n, poll_timeout_ms(max_wait));
    if (rc < 0 && errno != EINTR)
        return -1;
    int ran = 0;
    for (int i = 0; rc > 0 && i < n; i++) {
        struct pollfd *p = &loop.pfds[i];
        if (!p->revents)
            continue;
        io_watcher *w = &loop.watchers[p->fd];
        if (!w->fn || w->generation != loop.pgen[i])
            continue;
        w->fn(w->arg, p->fd, p->revents);
        ran++;
    }
    return ran + run_due_timers();
}

void mp_loop_forget(void)
{
    for (size_t i = 0; i < loop.ntimers; i++)
        free(loop.heap[i]);
    free(loop.heap);
    free(loop.watchers);
    free(loop.pfds);
    free(loop.pgen);
    memset(&loop, 0, sizeof loop);
}
