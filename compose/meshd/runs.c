/* runs.c: one detached worker thread per run this pod owns (see runs.h).
 *
 * The registry (runs.list) holds the runs with a live worker, so a thread is
 * never emitted twice by this process; workers unlink themselves when they
 * end and runs_stop_all waits for the list to empty. A worker that hits a
 * Postgres error retries the same step every RETRY_MS for as long as it owns
 * the run; ownership is re-checked by every write. Every claim and takeover
 * is also appended to run_claims, and every chunk records the instance that
 * wrote it, with times taken under the thread row's lock: so Postgres holds
 * the ordered log of who owned the run and who wrote what (README.md,
 * "The ownership log"). */
#include "runs.h"

#include "bug.h"
#include "bus.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RETRY_MS = 250 };

struct run {
    char thread_id[40];
    char taken_from[128]; /* previous owner's name; empty for a new run */
    int total, interval_ms;
    long next_seq;
    struct run *next;
};

enum step { STEP_DONE, STEP_RETRY, STEP_LOST };
enum run_end { RUN_GOES_ON, RUN_COMPLETED, RUN_LOST, RUN_STOPPED };

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;    /* stopping was set */
    pthread_cond_t changed; /* a worker ended */
    struct run *list;
    bool stopping;
} runs = {.lock = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t runs_once = PTHREAD_ONCE_INIT;

static void runs_init(void)
{
    cond_init_monotonic(&runs.wake);
    cond_init_monotonic(&runs.changed);
}

/* Sleeps ms unless stopping; returns false when stopping. */
static bool pause_unless_stopping(int ms)
{
    int64_t deadline = now_ms() + ms;
    pthread_mutex_lock(&runs.lock);
    while (!runs.stopping && cond_wait_until(&runs.wake, &runs.lock, deadline))
        ;
    bool go_on = !runs.stopping;
    pthread_mutex_unlock(&runs.lock);
    return go_on;
}

/* Reads where the run resumes: after its last persisted chunk. */
static enum step load_resume_point(struct run *r)
{
    const char *params[] = {r->thread_id};
    PGresult *res;
    if (db_query(&res,
                 "SELECT coalesce(max(seq), 0) + 1 FROM thread_message_parts"
                 " WHERE thread_id = $1",
                 1, params) != DB_OK)
        return STEP_RETRY;
    r->next_seq = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    return STEP_DONE;
}

/* After a write touched no row: still ours (the chunk was already there) or
 * lost to another pod? */
static enum step check_owner(const struct run *r)
{
    const char *params[] = {r->thread_id, cfg.instance};
    PGresult *res;
    if (db_query(&res,
                 "SELECT 1 FROM threads WHERE id = $1"
                 " AND run_owner_instance = $2 AND status = 'in_progress'",
                 2, params) != DB_OK)
        return STEP_RETRY;
    enum step st = PQntuples(res) == 1 ? STEP_DONE : STEP_LOST;
    PQclear(res);
    return st;
}

#if MESHD_BUG_IS(takeover_without_cas)
/* The run is ours since we claimed it: write the chunk, or write it again
 * when a retried attempt got there first. */
#define STORE_PART_SQL                                                       \
    "INSERT INTO thread_message_parts"                                       \
    "   (thread_id, seq, text, pod, instance, created_at)"                   \
    " VALUES ($1, $3, $4, $5, $2, clock_timestamp())"                        \
    " ON CONFLICT (thread_id, seq) DO UPDATE SET text = EXCLUDED.text,"      \
    "   pod = EXCLUDED.pod, instance = EXCLUDED.instance,"                   \
    "   created_at = EXCLUDED.created_at RETURNING seq"
#else
#define STORE_PART_SQL                                                       \
    "WITH owner AS (SELECT id FROM threads WHERE id = $1"                    \
    "   AND run_owner_instance = $2 AND status = 'in_progress'"              \
    "   FOR NO KEY UPDATE)"                                                  \
    " INSERT INTO thread_message_parts"                                      \
    "   (thread_id, seq, text, pod, instance, created_at)"                   \
    " SELECT id, $3, $4, $5, $2, clock_timestamp() FROM owner"               \
    " ON CONFLICT (thread_id, seq) DO NOTHING RETURNING seq"
#endif

/* Persists chunk next_seq while owning the run (the owner row is locked for
 * the insert, so a concurrent takeover waits for it), then publishes it. */
static enum step store_part(const struct run *r)
{
    char seq[24], text[40];
    snprintf(seq, sizeof seq, "%ld", r->next_seq);
    snprintf(text, sizeof text, "chunk-%ld", r->next_seq);
    const char *params[] = {r->thread_id, cfg.instance, seq, text, cfg.pod_name};
    PGresult *res;
    if (db_query(&res, STORE_PART_SQL, 5, params) != DB_OK)
        return STEP_RETRY;
    bool stored = PQntuples(res) == 1;
    PQclear(res);
    if (!stored)
        return check_owner(r);
    bus_publish_part(r->thread_id, r->next_seq, text);
    return STEP_DONE;
}

static enum step mark_completed(struct run *r)
{
    const char *params[] = {r->thread_id, cfg.instance};
    PGresult *res;
    if (db_query(&res,
                 "UPDATE threads SET status = 'completed', completed_at = now()"
                 " WHERE id = $1 AND run_owner_instance = $2"
                 "   AND status = 'in_progress' RETURNING id",
                 2, params) != DB_OK)
        return STEP_RETRY;
    enum step st = PQntuples(res) == 1 ? STEP_DONE : STEP_LOST;
    PQclear(res);
    return st;
}

/* Runs step until it is done (RUN_GOES_ON) or lost, retrying on Postgres
 * errors; the first attempt comes after first_pause_ms. */
static enum run_end keep_trying(enum step (*step)(struct run *), struct run *r,
                                int first_pause_ms)
{
    int pause = first_pause_ms;
    for (;;) {
        if (!pause_unless_stopping(pause))
            return RUN_STOPPED;
        enum step st = step(r);
        if (st != STEP_RETRY)
            return st == STEP_DONE ? RUN_GOES_ON : RUN_LOST;
        pause = RETRY_MS;
    }
}

static enum step store_next(struct run *r)
{
    enum step st = store_part(r);
    if (st == STEP_DONE)
        r->next_seq++;
    return st;
}

static void log_start(const struct run *r)
{
    if (r->taken_from[0])
        log_event("takeover", "thread=%s from=%s resume_seq=%ld chunks=%d",
                  r->thread_id, r->taken_from, r->next_seq, r->total);
    else
        log_event("claim", "thread=%s chunks=%d interval_ms=%d", r->thread_id,
                  r->total, r->interval_ms);
}

/* Emits the run from its resume point to completion. */
static enum run_end emit(struct run *r)
{
    enum run_end end = keep_trying(load_resume_point, r, 0);
    if (end != RUN_GOES_ON)
        return end;
    log_start(r);
    while (end == RUN_GOES_ON && r->next_seq <= r->total)
        end = keep_trying(store_next, r, r->interval_ms);
    if (end == RUN_GOES_ON)
        end = keep_trying(mark_completed, r, 0);
    if (end != RUN_GOES_ON)
        return end;
    bus_publish_done(r->thread_id);
    return RUN_COMPLETED;
}

static void unregister(struct run *r)
{
    pthread_mutex_lock(&runs.lock);
    for (struct run **p = &runs.list; *p; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            break;
        }
    }
    pthread_cond_broadcast(&runs.changed);
    pthread_mutex_unlock(&runs.lock);
}

static void *run_main(void *arg)
{
    struct run *r = arg;
    enum run_end end = emit(r);
    if (end == RUN_COMPLETED)
        log_event("run_completed", "thread=%s chunks=%d", r->thread_id, r->total);
    else if (end == RUN_LOST)
        log_event("run_lost", "thread=%s next_seq=%ld", r->thread_id, r->next_seq);
    else
        log_event("handover", "thread=%s next_seq=%ld", r->thread_id, r->next_seq);
    unregister(r);
    free(r);
    return NULL;
}

/* Registers a run and starts its worker. Returns false when stopping, when
 * this process already runs the thread, or when no thread could start. */
static bool spawn(const char *thread_id, const char *taken_from, int total,
                  int interval_ms)
{
    pthread_once(&runs_once, runs_init);
    struct run *r = calloc(1, sizeof *r);
    if (!r)
        return false;
    snprintf(r->thread_id, sizeof r->thread_id, "%s", thread_id);
    snprintf(r->taken_from, sizeof r->taken_from, "%s", taken_from);
    r->total = total;
    r->interval_ms = interval_ms;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&runs.lock);
    bool ok = !runs.stopping;
    for (struct run *o = runs.list; ok && o; o = o->next)
        ok = strcmp(o->thread_id, thread_id) != 0;
    pthread_t tid;
    if (ok && pthread_create(&tid, &attr, run_main, r) == 0) {
        r->next = runs.list;
        runs.list = r;
    } else {
        free(r);
        ok = false;
    }
    pthread_mutex_unlock(&runs.lock);
    pthread_attr_destroy(&attr);
    return ok;
}

/* Gives a claimed run back (its worker could not start): clearing the owner
 * instance makes it an orphan that the recovery loop of any pod picks up. */
static void release(const char *thread_id)
{
    const char *params[] = {thread_id, cfg.instance};
    PGresult *res;
    if (db_query(&res,
                 "UPDATE threads SET run_owner_instance = NULL"
                 " WHERE id = $1 AND run_owner_instance = $2",
                 2, params) == DB_OK)
        PQclear(res);
}

static enum claim_result why_not_claimed(const char *thread_id,
                                         const char *user_id)
{
    const char *params[] = {thread_id, user_id};
    PGresult *res;
    enum db_status st = db_query(
        &res, "SELECT 1 FROM threads WHERE id = $1 AND user_id = $2", 2, params);
    if (st != DB_OK)
        return st == DB_UNAVAILABLE ? CLAIM_UNAVAILABLE : CLAIM_FAILED;
    enum claim_result why = PQntuples(res) ? CLAIM_TAKEN : CLAIM_NOT_FOUND;
    PQclear(res);
    return why;
}

enum claim_result runs_claim_new(const char *thread_id, const char *user_id,
                                 const char *text, int total, int interval_ms)
{
    char total_s[16], interval_s[16];
    snprintf(total_s, sizeof total_s, "%d", total);
    snprintf(interval_s, sizeof interval_s, "%d", interval_ms);
    const char *params[] = {thread_id, user_id, text, total_s, interval_s,
                            cfg.pod_name, cfg.instance};
    PGresult *res;
    enum db_status st = db_query(
        &res,
        "WITH t AS (UPDATE threads SET status = 'in_progress', message = $3,"
        "   chunk_total = $4, chunk_interval_ms = $5, run_owner_pod = $6,"
        "   run_owner_instance = $7, run_started_at = now(),"
        "   run_claimed_at = clock_timestamp()"
        "   WHERE id = $1 AND user_id = $2 AND status = 'idle'"
        "   RETURNING id, run_claimed_at),"
        " c AS (INSERT INTO run_claims (thread_id, kind, pod, instance, claimed_at)"
        "   SELECT id, 'claim', $6, $7, run_claimed_at FROM t)"
        " SELECT id FROM t",
        7, params);
    if (st != DB_OK)
        return st == DB_UNAVAILABLE ? CLAIM_UNAVAILABLE : CLAIM_FAILED;
    bool claimed = PQntuples(res) == 1;
    PQclear(res);
    if (!claimed)
        return why_not_claimed(thread_id, user_id);
    if (!spawn(thread_id, "", total, interval_ms))
        release(thread_id);
    return CLAIM_OK;
}

#if MESHD_BUG_IS(takeover_without_cas)
/* The scan found the run orphaned: take it. */
#define TAKEOVER_WHERE " WHERE id = $1 AND status = 'in_progress'"
#else
/* A compare-and-set on the owner the scan saw, so exactly one pod wins. */
#define TAKEOVER_WHERE                                                       \
    " WHERE id = $1 AND status = 'in_progress'"                              \
    "   AND run_owner_pod IS NOT DISTINCT FROM $2"                           \
    "   AND run_owner_instance IS NOT DISTINCT FROM $3"
#endif

/* The row is locked before the time is read (an UPDATE alone reads it
 * before waiting for a chunk insert that holds the lock), so the takeover
 * comes after that chunk in the ownership log. */
void runs_take_over(const char *thread_id, const char *old_pod,
                    const char *old_instance)
{
    const char *params[] = {thread_id, old_pod, old_instance, cfg.pod_name,
                            cfg.instance};
    PGresult *res;
    if (db_query(&res,
                 "WITH old AS (SELECT id FROM threads" TAKEOVER_WHERE
                 "   FOR NO KEY UPDATE),"
                 " t AS (UPDATE threads SET run_owner_pod = $4,"
                 "   run_owner_instance = $5, run_claimed_at = clock_timestamp()"
                 "   FROM old WHERE threads.id = old.id"
                 "   RETURNING threads.id, chunk_total, chunk_interval_ms, run_claimed_at),"
                 " c AS (INSERT INTO run_claims"
                 "   (thread_id, kind, pod, instance, from_pod, from_instance, claimed_at)"
                 "   SELECT id, 'takeover', $4, $5, $2, $3, run_claimed_at FROM t)"
                 " SELECT chunk_total, chunk_interval_ms FROM t",
                 5, params) != DB_OK)
        return;
    if (PQntuples(res) == 1 &&
        !spawn(thread_id, old_pod ? old_pod : "(none)", atoi(PQgetvalue(res, 0, 0)),
               atoi(PQgetvalue(res, 0, 1))))
        release(thread_id);
    PQclear(res);
}

void runs_stop_all(int timeout_ms)
{
    pthread_once(&runs_once, runs_init);
    int64_t deadline = now_ms() + timeout_ms;
    pthread_mutex_lock(&runs.lock);
    runs.stopping = true;
    pthread_cond_broadcast(&runs.wake);
    while (runs.list && cond_wait_until(&runs.changed, &runs.lock, deadline))
        ;
    pthread_mutex_unlock(&runs.lock);
}
