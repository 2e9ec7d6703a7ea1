/* db.c: the libpq pool behind db.h.
 *
 * Every connection runs in non-blocking mode and every wait is a poll(2)
 * bounded by a deadline, so a Postgres that hangs costs a request at most
 * POOL_WAIT_MS + CONNECT_MS + STATEMENT_MS. Invariants: a slot's connection
 * is used by the one thread that marked the slot busy; a connection that
 * failed at the connection level is never reused; after an established
 * connection fails so, the pool's generation moves on and idle connections
 * of older generations are dropped, since a restarted server has killed them
 * all. A connection attempt that fails says nothing about the connections
 * already made (under load an attempt begun during an outage can time out
 * after the server is back), so it does not move the generation: if it did,
 * every timed-out attempt would throw away the good connections opened
 * meanwhile, and on a starved machine the pool would never keep one. While
 * Postgres is down, a pod makes one connection attempt at a time and the
 * requests that find one under way fail at once: a server slow to accept
 * connections is not buried under every request's own attempt. */
#include "db.h"

#include "config.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { POOL_WAIT_MS = 1000, CONNECT_MS = 1000, STATEMENT_MS = 3000,
       SHUTDOWN_WAIT_MS = 1000 };

struct slot {
    PGconn *conn;
    unsigned generation;
    bool busy;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t freed;
    struct slot *slots;
    int size;
    unsigned generation;
    bool closed; /* db_shutdown ran: no more slots are lent */
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static atomic_int pg_state = -1; /* -1 unknown, 0 down, 1 up */
static atomic_bool reconnecting;  /* the one attempt while down is under way */

static void note_up(void)
{
    if (atomic_exchange(&pg_state, 1) != 1)
        log_plain("postgres_up");
}

/* Logs the first line of a libpq message, with its quotes made single. */
static void note_down(const char *why)
{
    char line[200];
    size_t n = 0;
    for (; why && why[n] && why[n] != '\n' && n + 1 < sizeof line; n++)
        line[n] = why[n] == '"' ? '\'' : why[n];
    line[n] = '\0';
    if (atomic_exchange(&pg_state, 0) != 0)
        log_event("postgres_down", "error=\"%s\"", line);
}

/* An established connection failed at the connection level: the idle ones
 * are suspect too. */
static void note_broken(const char *why)
{
    note_down(why);
    pthread_mutex_lock(&pool.lock);
    pool.generation++;
    pthread_mutex_unlock(&pool.lock);
}

/* Waits until fd is readable (or writable too when want_write). Returns 1
 * when ready, 0 at the deadline, -1 on a poll error. */
static int wait_socket(int fd, bool want_write, int64_t deadline)
{
    struct pollfd p = {.fd = fd, .events = POLLIN | (want_write ? POLLOUT : 0)};
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return 0;
        int rc = poll(&p, 1, (int)left);
        if (rc >= 0)
            return rc > 0;
        if (errno != EINTR)
            return -1;
    }
}

static PGresult *exec_until(PGconn *c, const char *sql, int nparams,
                            const char *const *params, int64_t deadline);

/* Server notices ("relation already exists, skipping") are not events. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg, (void)message;
}

/* Opens a connection within the deadline; NULL after logging why not. */
static PGconn *connect_until(int64_t deadline)
{
    char app[96];
    snprintf(app, sizeof app, "meshd-%s", cfg.pod_name);
    const char *keys[] = {"dbname", "application_name", NULL};
    const char *vals[] = {cfg.database_url, app, NULL};
    PGconn *c = PQconnectStartParams(keys, vals, 1);
    if (!c)
        return NULL;
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (PQstatus(c) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
           st != PGRES_POLLING_FAILED) {
        if (wait_socket(PQsocket(c), st == PGRES_POLLING_WRITING, deadline) <= 0)
            goto fail;
        st = PQconnectPoll(c);
    }
    if (st != PGRES_POLLING_OK || PQsetnonblocking(c, 1) != 0)
        goto fail;
    PQsetNoticeProcessor(c, ignore_notice, NULL);
    PGresult *res = exec_until(c, "SET TIME ZONE 'UTC'", -1, NULL, deadline);
    bool ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (ok)
        return c;
fail:
    note_down(PQstatus(c) == CONNECTION_BAD ? PQerrorMessage(c)
                                            : "connect timed out");
    PQfinish(c);
    return NULL;
}

/* connect_until, but while Postgres is down only one caller at a time
 * tries; the others get NULL at once. */
static PGconn *connect_gated(int64_t deadline)
{
    if (atomic_load(&pg_state) != 0)
        return connect_until(deadline);
    if (atomic_exchange(&reconnecting, true))
        return NULL;
    PGconn *c = connect_until(deadline);
    atomic_store(&reconnecting, false);
    return c;
}

/* Sends everything queued; returns false on error or at the deadline. */
static bool flush_until(PGconn *c, int64_t deadline)
{
    int rc;
    while ((rc = PQflush(c)) == 1) {
        if (wait_socket(PQsocket(c), true, deadline) <= 0 || !PQconsumeInput(c))
            return false;
    }
    return rc == 0;
}

/* Runs sql (a script when nparams < 0) and returns its first error or its
 * last result; NULL when the connection broke or the deadline passed. */
static PGresult *exec_until(PGconn *c, const char *sql, int nparams,
                            const char *const *params, int64_t deadline)
{
    int sent = nparams < 0 ? PQsendQuery(c, sql)
                           : PQsendQueryParams(c, sql, nparams, NULL, params,
                                               NULL, NULL, 0);
    if (!sent || !flush_until(c, deadline))
        return NULL;
    PGresult *kept = NULL;
    for (;;) {
        while (PQisBusy(c)) {
            if (wait_socket(PQsocket(c), false, deadline) <= 0 ||
                !PQconsumeInput(c)) {
                PQclear(kept);
                return NULL;
            }
        }
        PGresult *r = PQgetResult(c);
        if (!r)
            return kept;
        if (kept && PQresultStatus(kept) == PGRES_FATAL_ERROR) {
            PQclear(r);
            continue;
        }
        PQclear(kept);
        kept = r;
    }
}

static bool connection_level(const char *sqlstate)
{
    return !sqlstate || strncmp(sqlstate, "08", 2) == 0 ||
           strncmp(sqlstate, "57P", 3) == 0 || strcmp(sqlstate, "53300") == 0;
}

/* Classifies a finished statement; *broken tells the caller to drop c. */
static enum db_status classify(PGconn *c, PGresult *res, bool *broken)
{
    *broken = !res || PQstatus(c) != CONNECTION_OK;
    if (*broken) {
        note_broken(res                            ? PQresultErrorMessage(res)
                    : PQstatus(c) != CONNECTION_OK ? PQerrorMessage(c)
                                                   : "statement timed out");
        return DB_UNAVAILABLE;
    }
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return DB_OK;
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    if (state && strcmp(state, "23505") == 0)
        return DB_CONFLICT;
    if (state && strcmp(state, "57014") == 0)
        return DB_UNAVAILABLE;
    if (connection_level(state)) {
        *broken = true;
        note_broken(PQresultErrorMessage(res));
        return DB_UNAVAILABLE;
    }
    log_event("db_error", "sqlstate=%s error=\"%.150s\"", state,
              PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY));
    return DB_FAILED;
}

int db_init(void)
{
    pool.size = cfg.db_pool_size;
    pool.slots = calloc((size_t)pool.size, sizeof *pool.slots);
    if (!pool.slots)
        return -1;
    cond_init_monotonic(&pool.freed);
    return 0;
}

static bool any_busy(void)
{
    for (int i = 0; i < pool.size; i++)
        if (pool.slots[i].busy)
            return true;
    return false;
}

/* The slots stay allocated: a readiness probe stuck past its budget may
 * still give its slot back after this. */
void db_shutdown(void)
{
    int64_t deadline = now_ms() + SHUTDOWN_WAIT_MS;
    pthread_mutex_lock(&pool.lock);
    pool.closed = true;
    while (any_busy() && cond_wait_until(&pool.freed, &pool.lock, deadline))
        ;
    for (int i = 0; i < pool.size; i++) {
        if (!pool.slots[i].busy) {
            PQfinish(pool.slots[i].conn);
            pool.slots[i].conn = NULL;
        }
    }
    pthread_mutex_unlock(&pool.lock);
}

/* An idle connection should have nothing to read: if it has, the server
 * closed it or sent a termination notice. */
static bool idle_conn_alive(PGconn *c)
{
    struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
    return PQstatus(c) == CONNECTION_OK && poll(&p, 1, 0) == 0;
}

/* The free slot to use, or -1: one holding a connection of the current
 * generation when there is one, so a request does not pay for a new
 * connection (three round trips with SCRAM: on a slow link a new
 * connection can miss CONNECT_MS while idle ones wait in other slots).
 * Called with the lock. */
static int free_slot(void)
{
    int empty = -1;
    for (int i = 0; i < pool.size; i++) {
        const struct slot *s = &pool.slots[i];
        if (s->busy)
            continue;
        if (s->conn && s->generation == pool.generation)
            return i;
        if (empty < 0)
            empty = i;
    }
    return empty;
}

/* Reserves a slot until the deadline; -1 when none freed up. The slot's
 * connection is dropped here when it is stale or dead. */
static int pool_acquire(int64_t deadline)
{
    int found = -1;
    pthread_mutex_lock(&pool.lock);
    while (found < 0 && !pool.closed) {
        found = free_slot();
        if (found < 0 && !cond_wait_until(&pool.freed, &pool.lock, deadline))
            break;
    }
    struct slot *s = found >= 0 ? &pool.slots[found] : NULL;
    PGconn *drop = NULL;
    if (s) {
        s->busy = true;
        if (s->conn && s->generation != pool.generation) {
            drop = s->conn;
            s->conn = NULL;
        }
    }
    pthread_mutex_unlock(&pool.lock);
    PQfinish(drop);
    if (s && s->conn && !idle_conn_alive(s->conn)) {
        PQfinish(s->conn);
        s->conn = NULL;
    }
    return found;
}

static void pool_release(int i, bool broken)
{
    PGconn *drop = NULL;
    pthread_mutex_lock(&pool.lock);
    if (broken) {
        drop = pool.slots[i].conn;
        pool.slots[i].conn = NULL;
    }
    pool.slots[i].busy = false;
    pthread_cond_broadcast(&pool.freed);
    pthread_mutex_unlock(&pool.lock);
    PQfinish(drop);
}

/* Makes sure slot i holds a connection; false when none could be made. */
static bool slot_connect(int i, int64_t deadline)
{
    struct slot *s = &pool.slots[i];
    if (s->conn)
        return true;
    pthread_mutex_lock(&pool.lock);
    unsigned generation = pool.generation;
    pthread_mutex_unlock(&pool.lock);
    s->conn = connect_gated(deadline);
    s->generation = generation;
    return s->conn != NULL;
}

static enum db_status query_until(PGresult **out, const char *sql, int nparams,
                                  const char *const *params, int64_t deadline)
{
    *out = NULL;
    int i = pool_acquire(now_ms() + POOL_WAIT_MS);
    if (i < 0)
        return DB_UNAVAILABLE;
    if (!slot_connect(i, now_ms() + CONNECT_MS)) {
        pool_release(i, true);
        return DB_UNAVAILABLE;
    }
    PGconn *c = pool.slots[i].conn;
    PGresult *res = exec_until(c, sql, nparams, params, deadline);
    bool broken;
    enum db_status st = classify(c, res, &broken);
    pool_release(i, broken);
    if (st == DB_OK) {
        note_up();
        *out = res;
    } else {
        PQclear(res);
    }
    return st;
}

enum db_status db_query(PGresult **out, const char *sql, int nparams,
                        const char *const *params)
{
    return query_until(out, sql, nparams, params,
                       now_ms() + POOL_WAIT_MS + CONNECT_MS + STATEMENT_MS);
}

/* SELECT 1 on c; *broken tells the caller to drop c. */
static bool select_one(PGconn *c, int64_t deadline, bool *broken)
{
    PGresult *res = exec_until(c, "SELECT 1", 0, NULL, deadline);
    bool ok = classify(c, res, broken) == DB_OK;
    PQclear(res);
    if (ok)
        note_up();
    return ok;
}

/* Pings on a connection of its own, for when the pool is exhausted. */
static bool ping_fresh(int64_t deadline)
{
    PGconn *c = connect_gated(deadline);
    bool broken;
    bool ok = c && select_one(c, deadline, &broken);
    PQfinish(c);
    return ok;
}

bool db_ping(int budget_ms)
{
    int64_t deadline = now_ms() + budget_ms;
    int i = pool_acquire(now_ms() + budget_ms / 5);
    if (i < 0)
        return ping_fresh(deadline);
    bool broken = true;
    bool ok = slot_connect(i, deadline) &&
              select_one(pool.slots[i].conn, deadline, &broken);
    pool_release(i, broken);
    return ok;
}

enum db_status db_run_script(const char *script, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    PGconn *c = connect_until(deadline);
    if (!c)
        return DB_UNAVAILABLE;
    PGresult *res = exec_until(c, script, -1, NULL, deadline);
    bool broken;
    enum db_status st = classify(c, res, &broken);
    PQclear(res);
    PQfinish(c);
    if (st == DB_OK)
        note_up();
    return st;
}

const char *db_text(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}
