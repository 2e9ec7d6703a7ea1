/*
 * pg.c: the Lua module mpod.pg.core: Postgres connections through libpq's
 * non-blocking API, driven by the engine's loop (lua/mpod/pg.lua builds
 * the scenario API on top).
 *
 * A connection ("mpod.pg.Conn") carries one query at a time. A query is an
 * op ("mpod.pg.Op", a userdata on the calling task's stack) holding the
 * bound parameters; ops queue on their connection in FIFO order, and the
 * loop sends the next one as soon as the previous one's results are in, so
 * a task waits its turn rather than failing. The socket is watched only
 * while a query is in flight or a task waits for a notification.
 *
 * Cancelling: when a query's wait times out or its task is cancelled, the
 * wait's release callback starts a PQcancel in a short-lived thread (libpq
 * 15 has no non-blocking cancel; PQcancel is documented thread-safe on its
 * own PGcancel copy) and the connection drains the query's results in the
 * background; the next op is sent once both the results and the cancel
 * request are done, so a late cancel cannot hit the next query. A timed-out
 * task waits up to CANCEL_GRACE seconds for the drain, then closes the
 * connection. A connection that failed (server gone, drain not confirmed)
 * is broken: every later use raises "connection_lost", saying why in
 * words: what the server said last (a terminated session sends a FATAL
 * message first, taken by the notice receiver when it comes between
 * queries) or what libpq saw, without its boilerplate.
 *
 * COPY: mpod.pg has no API for COPY data. A COPY FROM STDIN is ended at
 * once (PQputCopyEnd with an error), the rows of a COPY TO STDOUT are read
 * and dropped, and the query raises a usage error; the connection stays
 * usable.
 *
 * Ownership: results belong to the op or the connection until converted;
 * an op's __gc frees its result and detaches it from its connection, and
 * closing a connection detaches every op, so neither outlives the other.
 * An op is woken only while its task waits on it (queued, running, or
 * draining after a timeout).
 */
#include "mpod.h"
#include "pgvalue.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONN_MT "mpod.pg.Conn"
#define OP_MT "mpod.pg.Op"
#define GUARD_MT "mpod.pg.Guard"
#define EXIT_MT "mpod.pg.Exit"
#define CONNECT_TIMEOUT 10.0
#define CANCEL_GRACE 5.0
#define EXIT_GRACE 2.0      /* for cancel requests when Lua closes */
#define MAX_PARAMS 65535
#define MAX_PREPARED 256     /* named statements per connection */
#define MAX_SEEN 1024        /* texts seen once, before forgetting them */

typedef enum {
    CONN_CONNECTING,
    CONN_READY,
    CONN_BROKEN,      /* lost or given up on; reason says why */
    CONN_CLOSED
} conn_state;

typedef enum {
    OP_QUEUED,        /* waiting for its turn */
    OP_RUNNING,       /* its query is on the wire */
    OP_CANCELLING,    /* released while running: results are drained */
    OP_DROPPED,       /* released while queued: never sent */
    OP_DONE           /* result (or NULL: the connection failed) is in */
} op_state;

typedef struct pg_op pg_op;
typedef struct cancel_job cancel_job;

typedef struct {
    PGconn *pg;
    conn_state state;
    int fd;                  /* the watched socket, -1 when none */
    short events;            /* what the loop watches on fd */
    bool busy;               /* a query's results are still coming */
    bool want_write;         /* PQflush left output to send */
    PGresult *result;        /* the query in flight's result so far */
    pg_op *current;          /* the op whose query is in flight, or NULL */
    pg_op *head, *tail;      /* ops waiting for their turn */
    mp_wait connect_wait;
    bool connect_waiting;
    mp_wait notify_wait;
    bool notify_waiting;
    PGnotify *notice;        /* taken from libpq, not yet given to Lua */
    cancel_job *cancel;      /* a PQcancel in progress */
    double timeout;          /* per query, < 0 for none */
    unsigned long statements;/* named statements made so far */
    int nprepared, nseen;    /* cache entries: names, texts seen once */
    bool copy_out;           /* dropping a refused COPY TO STDOUT's rows */
    char reason[256];        /* why the connection broke */
    char fatal[160];         /* the server's last FATAL message, if any */
    char fatal_state[6];     /* and its SQLSTATE */
} pg_conn;

struct pg_op {
    mp_wait w;               /* first: the release callback casts back */
    pg_conn *conn;           /* NULL once detached */
    pg_op *next;
    op_state state;
    bool draining;           /* its task waits for the cancel to finish */
    double timeout;
    const char *sql;         /* anchored on the task's stack */
    const char *stmt;        /* its prepared statement, NULL: unnamed */
    bool prepare;            /* make stmt first (its second use) */
    bool prepared;           /* this op made stmt on the server */
    bool cached;             /* stmt came from the cache */
    bool copy_refused;       /* it started a COPY, which was refused */
    int nparams;
    const char **values;
    int *lengths, *formats;
    PGresult *result;
};

struct cancel_job {
    cancel_job *next;        /* on live_jobs */
    PGcancel *cancel;
    pthread_t thread;
    int pipe[2];             /* the thread writes a byte when done */
    pg_conn *conn;           /* NULL once the connection went away */
    int ok;
    char err[256];
};

static void on_io(void *arg, int fd, int revents);
static void start_next(pg_conn *c);

/* ---- the loop side: watching, breaking ---- */

static void watch(pg_conn *c, short events)
{
    int fd = c->pg ? PQsocket(c->pg) : -1;
    if (c->fd >= 0 && (fd != c->fd || events == 0)) {
        mp_io_watch(c->fd, 0, NULL, NULL);
        c->events = 0;
    }
    c->fd = fd;
    if (fd >= 0 && events != 0 && events != c->events) {
        mp_io_watch(fd, events, on_io, c);
        c->events = events;
    }
}

/* Watch what a ready connection needs: its results, notifications, and
 * room for pending output. */
static void update_watch(pg_conn *c)
{
    short events = 0;
    if (c->state == CONN_READY) {
        if (c->busy || c->notify_waiting)
            events |= POLLIN;
        if (c->want_write)
            events |= POLLOUT;
    }
    watch(c, events);
}

/* Keep the first line-broken libpq message as one line in c->reason. */
static void set_reason(pg_conn *c, const char *why)
{
    size_t n = 0;
    for (const char *p = why; *p && n + 1 < sizeof c->reason; p++) {
        char ch = (*p == '\n' || *p == '\t') ? ' ' : *p;
        if (ch == ' ' && (n == 0 || c->reason[n - 1] == ' '))
            continue;
        c->reason[n++] = ch;
    }
    while (n > 0 && c->reason[n - 1] == ' ')
        n--;
    c->reason[n] = '\0';
}

/* Hand op its outcome; wake its task if the task waits on it. */
static void op_finish(pg_op *op, PGresult *result)
{
    bool waiting = op->state == OP_QUEUED || op->state == OP_RUNNING ||
                   op->draining;
    PQclear(op->result);
    op->result = result;
    op->state = OP_DONE;
    op->draining = false;
    if (waiting)
        mp_wait_wake(&op->w);
}

/* Finish the op in flight and every queued op with no result. */
static void fail_ops(pg_conn *c)
{
    if (c->current) {
        c->current->conn = NULL;
        op_finish(c->current, NULL);
        c->current = NULL;
    }
    while (c->head) {
        pg_op *op = c->head;
        c->head = op->next;
        op->conn = NULL;
        op_finish(op, NULL);
    }
    c->tail = NULL;
}

static void wake_waiters(pg_conn *c)
{
    if (c->connect_waiting) {
        c->connect_waiting = false;
        mp_wait_wake(&c->connect_wait);
    }
    if (c->notify_waiting) {
        c->notify_waiting = false;
        mp_wait_wake(&c->notify_wait);
    }
}

/* The connection cannot go on: fail everything waiting on it. why: the
 * reason, or NULL when c->reason already says it. */
static void conn_break(pg_conn *c, const char *why)
{
    if (c->state >= CONN_BROKEN)
        return;
    if (why)
        set_reason(c, why);
    c->state = CONN_BROKEN;
    c->busy = c->want_write = false;
    PQclear(c->result);
    c->result = NULL;
    watch(c, 0);
    fail_ops(c);
    wake_waiters(c);
}

/* The first line of libpq's error text that says something: not its
 * explanation lines (indented), not "invalid socket" or "no connection to
 * the server" (what a call on a closed connection adds). Into c->reason. */
static void set_libpq_reason(pg_conn *c, const char *text)
{
    static const char *const noise[] = { "invalid socket",
        "no connection to the server", NULL };
    for (const char *line = text; *line; ) {
        size_t len = strcspn(line, "\n");
        bool skip = line[0] == '\t' || line[0] == ' ' || len == 0;
        for (int i = 0; noise[i] && !skip; i++)
            skip = strncmp(line, noise[i], strlen(noise[i])) == 0;
        if (!skip) {
            snprintf(c->reason, sizeof c->reason, "%.*s", (int)len, line);
            return;
        }
        line += len + (line[len] == '\n');
    }
    snprintf(c->reason, sizeof c->reason, "libpq gave no reason");
}

/* Keep r's message in c->fatal when it is a FATAL (or PANIC) one. Also
 * libpq's notice receiver: a session the server ends between queries
 * says why in a message libpq hands to it; other notices are dropped. */
static void remember_fatal(void *arg, const PGresult *r)
{
    pg_conn *c = arg;
    const char *severity = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (!severity || (strcmp(severity, "FATAL") && strcmp(severity, "PANIC")))
        return;
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *text = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    snprintf(c->fatal_state, sizeof c->fatal_state, "%s", state ? state : "");
    snprintf(c->fatal, sizeof c->fatal, "%s", text ? text : severity);
}

/* Say in c->reason why the server is gone: from the FATAL error of the
 * query in flight (last, may be NULL), else the one that came between
 * queries, else libpq's text. */
static void set_lost_reason(pg_conn *c, const PGresult *last)
{
    if (last)
        remember_fatal(c, last);
    const char *libpq = PQerrorMessage(c->pg);
    if (c->fatal[0])
        snprintf(c->reason, sizeof c->reason, "the server ended this session "
                 "(%s%s)", c->fatal, strcmp(c->fatal_state, "57P01") == 0
                 ? ": pg_terminate_backend() or a server shutdown" : "");
    else if (strstr(libpq, "server closed the connection unexpectedly"))
        snprintf(c->reason, sizeof c->reason, "the server closed the "
                 "connection unexpectedly (it stopped or crashed, or ended "
                 "this session)");
    else
        set_libpq_reason(c, libpq);
}

/* The server went away (last: the query's final result, or NULL). */
static void conn_lost(pg_conn *c, const PGresult *last)
{
    if (c->state >= CONN_BROKEN)
        return;
    set_lost_reason(c, last);
    conn_break(c, NULL);
}

/* ---- cancelling in a thread ---- */

static cancel_job *live_jobs;    /* jobs whose thread was started */

static void *cancel_main(void *arg)
{
    cancel_job *job = arg;
    job->ok = PQcancel(job->cancel, job->err, sizeof job->err);
    char byte = 1;
    ssize_t ignored = write(job->pipe[1], &byte, 1);
    (void)ignored;
    return NULL;
}

static void free_job(cancel_job *job)
{
    if (job->pipe[0] >= 0) {
        mp_io_watch(job->pipe[0], 0, NULL, NULL);
        close(job->pipe[0]);
        close(job->pipe[1]);
    }
    PQfreeCancel(job->cancel);
    free(job);
}

static void unlink_job(cancel_job *job)
{
    cancel_job **p = &live_jobs;
    while (*p != job)
        p = &(*p)->next;
    *p = job->next;
}

/* The thread finished: reap it; a failed cancel breaks the connection
 * when the query is still running, else the next op may go. */
static void on_cancel_done(void *arg, int fd, int revents)
{
    (void)fd;
    (void)revents;
    cancel_job *job = arg;
    pthread_join(job->thread, NULL);
    unlink_job(job);
    pg_conn *c = job->conn;
    if (c) {
        c->cancel = NULL;
        if (!job->ok && c->busy) {
            char why[320];
            snprintf(why, sizeof why, "could not cancel the query: %s",
                     job->err);
            conn_break(c, why);
        } else {
            start_next(c);
        }
    }
    free_job(job);
}

/* Start a PQcancel for c's query in flight; false when it cannot start. */
static bool start_cancel(pg_conn *c)
{
    if (c->cancel)
        return true;
    cancel_job *job = calloc(1, sizeof *job);
    if (!job)
        return false;
    job->pipe[0] = job->pipe[1] = -1;
    job->cancel = PQgetCancel(c->pg);
    if (!job->cancel || pipe2(job->pipe, O_CLOEXEC) < 0)
        goto fail;
    if (pthread_create(&job->thread, NULL, cancel_main, job) != 0)
        goto fail;
    mp_io_watch(job->pipe[0], POLLIN, on_cancel_done, job);
    job->next = live_jobs;
    live_jobs = job;
    job->conn = c;
    c->cancel = job;
    return true;
fail:
    free_job(job);
    return false;
}

/* Cancel c's query in flight (if any) and let the job run on its own. */
static void cancel_detached(pg_conn *c)
{
    if (c->busy && c->pg && !c->cancel)
        start_cancel(c);
    if (c->cancel) {
        c->cancel->conn = NULL;
        c->cancel = NULL;
    }
}

/* Wait up to `seconds` for the cancel requests still in flight, so a
 * scenario that ends right after cancelling still stops its queries. */
static void finish_cancels(double seconds)
{
    double deadline = mp_now() + seconds;
    while (live_jobs) {
        struct pollfd p = { .fd = live_jobs->pipe[0], .events = POLLIN };
        int ms = (int)((deadline - mp_now()) * 1000);
        if (ms <= 0 || poll(&p, 1, ms) <= 0)
            return;
        on_cancel_done(live_jobs, p.fd, p.revents);
    }
}

/* ---- queries on the wire ---- */

static void flush_output(pg_conn *c)
{
    int r = PQflush(c->pg);
    if (r < 0)
        conn_lost(c, NULL);
    else
        c->want_write = r == 1;
}

static void enqueue(pg_conn *c, pg_op *op)
{
    op->conn = c;
    op->next = NULL;
    if (c->tail)
        c->tail->next = op;
    else
        c->head = op;
    c->tail = op;
}

static void unlink_queued(pg_conn *c, pg_op *op)
{
    pg_op **p = &c->head;
    while (*p && *p != op)
        p = &(*p)->next;
    if (!*p)
        return;
    *p = op->next;
    if (c->tail == op) {
        c->tail = c->head;
        while (c->tail && c->tail->next)
            c->tail = c->tail->next;
    }
    op->next = NULL;
}

static int send_op(pg_conn *c, const pg_op *op)
{
    if (op->prepare)
        return PQsendPrepare(c->pg, op->stmt, op->sql, op->nparams, NULL);
    if (op->stmt)
        return PQsendQueryPrepared(c->pg, op->stmt, op->nparams, op->values,
                                   op->lengths, op->formats, 0);
    return PQsendQueryParams(c->pg, op->sql, op->nparams, NULL, op->values,
                             op->lengths, op->formats, 0);
}

/* Send queued ops while the connection is free. */
static void start_next(pg_conn *c)
{
    while (c->state == CONN_READY && !c->busy && !c->cancel && c->head) {
        pg_op *op = c->head;
        c->head = op->next;
        if (!c->head)
            c->tail = NULL;
        op->next = NULL;
        if (!send_op(c, op)) {
            op->conn = NULL;
            op_finish(op, NULL);
            conn_lost(c, NULL);
            return;
        }
        op->state = OP_RUNNING;
        c->current = op;
        c->busy = true;
        flush_output(c);
    }
    update_watch(c);
}

/* Keep the first error, else the latest result. */
static void keep_result(pg_conn *c, PGresult *r)
{
    if (c->result && PQresultStatus(c->result) == PGRES_FATAL_ERROR) {
        PQclear(r);
        return;
    }
    PQclear(c->result);
    c->result = r;
}

/* op's statement is made: send it again, first in line, to execute. */
static void execute_prepared(pg_conn *c, pg_op *op)
{
    op->prepare = false;
    op->state = OP_QUEUED;
    op->next = c->head;
    c->head = op;
    if (!c->tail)
        c->tail = op;
}

/* The query in flight is complete: hand its result over, go on. */
static void query_done(pg_conn *c)
{
    PGresult *r = c->result;
    pg_op *op = c->current;
    bool lost = PQstatus(c->pg) == CONNECTION_BAD;
    if (lost && c->state == CONN_READY)
        set_lost_reason(c, r);          /* while r is still ours */
    c->result = NULL;
    c->current = NULL;
    c->busy = false;
    if (op && op->prepare && PQresultStatus(r) == PGRES_COMMAND_OK) {
        op->prepared = true;
        if (op->state == OP_RUNNING) {
            PQclear(r);
            execute_prepared(c, op);
            start_next(c);
            return;
        }
    }
    if (op) {
        op->conn = NULL;
        op_finish(op, r);
    } else {
        PQclear(r);
    }
    if (lost)
        conn_break(c, NULL);
    else
        start_next(c);
}

/* A COPY the query started: see the file's comment. COPY BOTH (a
 * replication connection) cannot be refused and breaks the connection. */
static void refuse_copy(pg_conn *c, ExecStatusType st)
{
    if (c->current)
        c->current->copy_refused = true;
    if (st == PGRES_COPY_OUT) {
        c->copy_out = true;
    } else if (st == PGRES_COPY_IN) {
        if (PQputCopyEnd(c->pg, "COPY FROM STDIN is not supported by "
                         "mpod.pg") == 1)
            flush_output(c);
        else
            conn_lost(c, NULL);
    } else {
        conn_break(c, "COPY BOTH (replication) is not supported by mpod.pg");
    }
}

/* Read and drop the rows of a refused COPY TO STDOUT; true once the last
 * is read (or the connection broke), false while more are to come. */
static bool drop_copy_rows(pg_conn *c)
{
    char *row;
    int n;
    while ((n = PQgetCopyData(c->pg, &row, 1)) > 0)
        PQfreemem(row);
    if (n == 0)
        return false;
    c->copy_out = false;
    if (n == -2)
        conn_lost(c, NULL);
    return true;
}

/* Take every result libpq has complete. */
static void collect_results(pg_conn *c)
{
    while (c->busy) {
        if (c->copy_out && !drop_copy_rows(c))
            return;
        if (!c->busy || PQisBusy(c->pg))
            return;
        PGresult *r = PQgetResult(c->pg);
        if (!r) {
            query_done(c);
            return;
        }
        ExecStatusType st = PQresultStatus(r);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT ||
            st == PGRES_COPY_BOTH) {
            PQclear(r);
            refuse_copy(c, st);
            continue;
        }
        keep_result(c, r);
    }
}

/* Reading failed: the server went away. A query in flight gets what the
 * server said last (a shutdown's FATAL error); libpq has closed the
 * socket, so PQgetResult cannot block here. */
static void input_failed(pg_conn *c)
{
    if (!c->busy || PQstatus(c->pg) != CONNECTION_BAD) {
        conn_lost(c, NULL);
        return;
    }
    PGresult *r;
    while ((r = PQgetResult(c->pg)) != NULL)
        keep_result(c, r);
    query_done(c);
}

/* Pass a notification to the task waiting for one. */
static void deliver_notify(pg_conn *c)
{
    if (!c->notify_waiting)
        return;
    if (!c->notice)
        c->notice = PQnotifies(c->pg);
    if (c->notice) {
        c->notify_waiting = false;
        mp_wait_wake(&c->notify_wait);
    }
}

static void connect_step(pg_conn *c)
{
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_READING:
        watch(c, POLLIN);
        break;
    case PGRES_POLLING_WRITING:
        watch(c, POLLOUT);
        break;
    case PGRES_POLLING_OK:
        c->state = CONN_READY;
        PQsetnonblocking(c->pg, 1);
        watch(c, 0);
        wake_waiters(c);
        break;
    default:
        conn_break(c, PQerrorMessage(c->pg));
        break;
    }
}

static void on_io(void *arg, int fd, int revents)
{
    (void)fd;
    pg_conn *c = arg;
    if (c->state == CONN_CONNECTING) {
        connect_step(c);
        return;
    }
    if (c->want_write)
        flush_output(c);
    if (c->state == CONN_READY && (revents & (POLLIN | POLLERR | POLLHUP))) {
        if (!PQconsumeInput(c->pg)) {
            input_failed(c);
            return;
        }
        collect_results(c);
        if (c->state == CONN_READY)
            deliver_notify(c);
    }
    update_watch(c);
}

/* ---- closing ---- */

/* Let go of the server: cancel what runs, say goodbye, stop watching. */
static void conn_drop(pg_conn *c)
{
    cancel_detached(c);
    watch(c, 0);
    c->fd = -1;
    PQfinish(c->pg);
    c->pg = NULL;
    c->busy = c->want_write = false;
}

/* Idempotent: __gc, __close and db:close(). */
static void conn_close(pg_conn *c)
{
    if (c->state == CONN_CLOSED)
        return;
    c->state = CONN_CLOSED;
    snprintf(c->reason, sizeof c->reason, "the connection was closed");
    PQclear(c->result);
    c->result = NULL;
    fail_ops(c);
    wake_waiters(c);
    PQfreemem(c->notice);
    c->notice = NULL;
    if (c->pg)
        conn_drop(c);
}

static void op_release(mp_wait *w)
{
    pg_op *op = (pg_op *)w;
    pg_conn *c = op->conn;
    if (op->state == OP_QUEUED) {
        if (c)
            unlink_queued(c, op);
        op->conn = NULL;
        op->state = OP_DROPPED;
    } else if (op->state == OP_RUNNING) {
        op->state = OP_CANCELLING;
        if (c && !start_cancel(c))
            conn_break(c, "could not start cancelling the query");
    }
    op->draining = false;
}

/* ---- Lua API: errors and results ---- */

static pg_conn *check_conn(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, CONN_MT);
}

/* Raise what a connection that cannot take a query gives: "closed" (with
 * `what` as the message) or "connection_lost". */
static int raise_unusable(lua_State *L, pg_conn *c, const char *what)
{
    if (c->state == CONN_CLOSED)
        mp_raise(L, "closed", "%s", what);
    return mp_raise(L, "connection_lost",
                    "the connection to the server was lost: %s", c->reason);
}

static pg_conn *check_ready(lua_State *L, int idx)
{
    pg_conn *c = check_conn(L, idx);
    if (c->state != CONN_READY)
        raise_unusable(L, c, "attempt to use a closed connection");
    return c;
}

/* Push s without its trailing newlines and blanks. */
static void push_trimmed(lua_State *L, const char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
        n--;
    lua_pushlstring(L, s, n);
}

static void set_diag(lua_State *L, const PGresult *r, int code,
                     const char *name)
{
    mp_error_set_string(L, name, PQresultErrorField(r, code));
}

/* Raise the error result r of sql: kind "sql", or "connection_lost" when
 * the connection broke with it (a server shutting down says why). */
static int raise_result(lua_State *L, pg_conn *c, const PGresult *r,
                        const char *sql)
{
    const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    push_trimmed(L, primary ? primary : PQresultErrorMessage(r));
    if (c->state == CONN_BROKEN)
        mp_push_error(L, "connection_lost", "the connection to the server "
                      "was lost during the query: %s", c->reason);
    else
        mp_push_error(L, "sql", "%s", lua_tostring(L, -1));
    set_diag(L, r, PG_DIAG_SQLSTATE, "sqlstate");
    set_diag(L, r, PG_DIAG_SEVERITY_NONLOCALIZED, "severity");
    set_diag(L, r, PG_DIAG_MESSAGE_DETAIL, "detail");
    set_diag(L, r, PG_DIAG_MESSAGE_HINT, "hint");
    set_diag(L, r, PG_DIAG_CONTEXT, "context");
    set_diag(L, r, PG_DIAG_SCHEMA_NAME, "schema");
    set_diag(L, r, PG_DIAG_TABLE_NAME, "table");
    set_diag(L, r, PG_DIAG_COLUMN_NAME, "column");
    set_diag(L, r, PG_DIAG_CONSTRAINT_NAME, "constraint");
    const char *position = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION);
    if (position)
        mp_error_set_integer(L, "position", atoi(position));
    mp_error_set_string(L, "query", sql);
    return lua_error(L);
}

static void push_cell(lua_State *L, const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        mp_push_null(L);
    else
        mp_pgv_push(L, PQftype(r, col), PQgetvalue(r, row, col),
                    (size_t)PQgetlength(r, row, col));
}

/* Push rows (tables keyed by column name; rows.columns lists the names in
 * order) and the command's row count. */
static int push_result(lua_State *L, const PGresult *r)
{
    int nrows = PQntuples(r), ncols = PQnfields(r);
    lua_createtable(L, nrows, 1);
    int rows = lua_gettop(L);
    lua_createtable(L, ncols, 0);
    int names = rows + 1;
    for (int j = 0; j < ncols; j++) {
        lua_pushstring(L, PQfname(r, j));
        lua_rawseti(L, names, j + 1);
    }
    for (int i = 0; i < nrows; i++) {
        lua_createtable(L, 0, ncols);
        for (int j = 0; j < ncols; j++) {
            lua_rawgeti(L, names, j + 1);
            push_cell(L, r, i, j);
            lua_rawset(L, -3);
        }
        lua_rawseti(L, rows, i + 1);
    }
    lua_setfield(L, rows, "columns");
    lua_pushinteger(L, strtoll(PQcmdTuples((PGresult *)r), NULL, 10));
    return 2;
}

/* ---- Lua API: queries ---- */

static int l_op_gc(lua_State *L)
{
    pg_op *op = luaL_checkudata(L, 1, OP_MT);
    pg_conn *c = op->conn;
    if (c && c->current == op)
        c->current = NULL;
    else if (c)
        unlink_queued(c, op);
    op->conn = NULL;
    PQclear(op->result);
    op->result = NULL;
    return 0;
}

/* Push an op for the query at stack index sql with the n parameters
 * after it; the parameters' texts are pushed above the op. */
static pg_op *push_op(lua_State *L, int sql, int n, double timeout)
{
    if (n > MAX_PARAMS)
        mp_raise(L, "usage", "a query takes at most %d parameters",
                 MAX_PARAMS);
    luaL_checkstack(L, n + 8, "too many query parameters");
    size_t arrays = (size_t)n * (sizeof(char *) + 2 * sizeof(int));
    pg_op *op = lua_newuserdatauv(L, sizeof *op + arrays, 0);
    memset(op, 0, sizeof *op);
    luaL_setmetatable(L, OP_MT);
    op->w.release = op_release;
    op->sql = lua_tostring(L, sql);
    op->timeout = timeout;
    op->nparams = n;
    op->values = (const char **)(op + 1);
    op->lengths = (int *)(op->values + n);
    op->formats = op->lengths + n;
    for (int i = 0; i < n; i++) {
        const char *s = NULL;
        size_t len = 0;
        pgv_param how = mp_pgv_param(L, sql + 1 + i, i + 1, &s, &len);
        if (len > 0x7fffffff)
            mp_raise(L, "usage", "query parameter $%d is too long", i + 1);
        op->values[i] = s;
        op->lengths[i] = (int)len;
        op->formats[i] = how == PGV_PARAM_BINARY;
    }
    return op;
}

/* ---- Lua API: the statement cache ---- */

/* The cache (the connection's user value) maps a query's text to its
 * prepared statement's name, or to true once seen: a text is prepared on
 * its second use, so a one-off query costs one round trip and a repeated
 * one skips parsing and planning. At most MAX_PREPARED names; the texts
 * seen once are forgotten when MAX_SEEN pile up. In these functions the
 * connection is at stack index 1 and the query text at index 2. */

static void forget_seen(lua_State *L, pg_conn *c, int cache)
{
    for (lua_pushnil(L); lua_next(L, cache); lua_pop(L, 1))
        if (lua_type(L, -1) == LUA_TBOOLEAN) {
            lua_pushvalue(L, -2);
            lua_pushnil(L);
            lua_rawset(L, cache);
        }
    c->nseen = 0;
}

/* Choose how op runs; pushes the cache and what anchors the name. */
static void choose_statement(lua_State *L, pg_conn *c, pg_op *op)
{
    lua_getiuservalue(L, 1, 1);
    int cache = lua_gettop(L);
    lua_pushvalue(L, 2);
    int type = lua_rawget(L, cache);
    if (type == LUA_TSTRING) {
        op->stmt = lua_tostring(L, -1);
        op->cached = true;
    } else if (type == LUA_TBOOLEAN && c->nprepared < MAX_PREPARED) {
        op->stmt = lua_pushfstring(L, "mpod_lua_%I",
                                   (lua_Integer)++c->statements);
        op->prepare = true;
    } else if (type == LUA_TNIL) {
        if (++c->nseen > MAX_SEEN)
            forget_seen(L, c, cache);
        lua_pushvalue(L, 2);
        lua_pushboolean(L, 1);
        lua_rawset(L, cache);
    }
}

/* Set the cache entry of this query's text to v (popped). */
static void set_cache(lua_State *L)
{
    lua_getiuservalue(L, 1, 1);
    lua_pushvalue(L, 2);
    lua_rotate(L, -3, -1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

/* Record the statement op made on the server (whatever came after). */
static void remember_statement(lua_State *L, pg_conn *c, pg_op *op)
{
    if (!op->prepared)
        return;
    op->prepared = false;
    c->nprepared++;
    lua_pushstring(L, op->stmt);
    set_cache(L);
}

/* A cached statement the server no longer has, or whose result type a
 * schema change altered. */
static bool stale_statement(const pg_op *op)
{
    const char *state = PQresultErrorField(op->result, PG_DIAG_SQLSTATE);
    return op->cached && state &&
           (strcmp(state, "26000") == 0 || strcmp(state, "0A000") == 0);
}

static void forget_statement(lua_State *L, pg_conn *c)
{
    c->nprepared--;
    lua_pushnil(L);
    set_cache(L);
}

/* ---- Lua API: running queries ---- */

static int query_k(lua_State *L, int status, lua_KContext ctx);
static int finish_query(lua_State *L, pg_op *op);

/* Send op when its turn comes and wait for it. */
static int run_op(lua_State *L, pg_conn *c, pg_op *op)
{
    enqueue(c, op);
    start_next(c);
    if (op->state == OP_DONE)
        return finish_query(L, op);
    return mp_wait_yield(L, &op->w, op->timeout, (lua_KContext)op, query_k);
}

/* Run op again as an unnamed statement (its cached one went stale). */
static int retry_unnamed(lua_State *L, pg_conn *c, pg_op *op)
{
    mp_task_require(L, "db:query");
    PQclear(op->result);
    op->result = NULL;
    op->stmt = NULL;
    op->cached = false;
    op->state = OP_QUEUED;
    return run_op(L, c, op);
}

/* Raise the usage error of a COPY the connection refused. */
static int raise_copy(lua_State *L, const pg_op *op)
{
    mp_push_error(L, "usage", "COPY ... TO STDOUT and COPY ... FROM STDIN "
                  "are not supported by mpod.pg (the connection is still "
                  "usable): read rows with SELECT, write them with INSERT, "
                  "or COPY to or from a file on the server");
    mp_error_set_string(L, "query", op->sql);
    return lua_error(L);
}

/* The op is done: push its rows and count, or raise its error. Outside a
 * transaction block, a stale cached statement is retried unnamed. */
static int finish_query(lua_State *L, pg_op *op)
{
    pg_conn *c = lua_touserdata(L, 1);
    PGresult *r = op->result;
    if (!r)
        return raise_unusable(L, c, "the connection was closed while the "
                              "query waited or ran");
    remember_statement(L, c, op);
    if (op->copy_refused)
        return raise_copy(L, op);
    switch (PQresultStatus(r)) {
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
    case PGRES_EMPTY_QUERY:
        return push_result(L, r);
    default:
        break;
    }
    if (stale_statement(op)) {
        forget_statement(L, c);
        if (c->state == CONN_READY &&
            PQtransactionStatus(c->pg) == PQTRANS_IDLE)
            return retry_unnamed(L, c, op);
    }
    return raise_result(L, c, r, op->sql);
}

static bool was_cancelled(const pg_op *op)
{
    const char *state = op->result
        ? PQresultErrorField(op->result, PG_DIAG_SQLSTATE) : NULL;
    return state && strcmp(state, "57014") == 0;
}

/* Raise the "timeout" error of an op whose wait timed out. */
static int raise_timeout(lua_State *L, pg_op *op)
{
    pg_conn *c = lua_touserdata(L, 1);
    bool cancelled = was_cancelled(op);
    remember_statement(L, c, op);
    const char *how =
        op->state == OP_DROPPED ? " while waiting for its turn on the "
                                  "connection (never sent)"
        : cancelled ? "; cancelled on the server"
        : c->state != CONN_READY ? "; the cancel was not confirmed, so the "
                                   "connection was closed"
        : "; it completed while being cancelled";
    mp_push_error(L, "timeout", "query timed out after %g s%s", op->timeout,
                  how);
    mp_error_set_number(L, "timeout", op->timeout);
    mp_error_set_string(L, "query", op->sql);
    lua_pushboolean(L, cancelled);
    lua_setfield(L, -2, "cancelled");
    return lua_error(L);
}

static int drain_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    pg_op *op = (pg_op *)ctx;
    pg_conn *c = lua_touserdata(L, 1);
    if (mp_wait_check(L, &op->w) == MP_WAKE_TIMEOUT &&
        op->state == OP_CANCELLING) {
        conn_break(c, "a query ignored its cancellation, so the "
                   "connection was closed");
        conn_drop(c);
    }
    return raise_timeout(L, op);
}

static int query_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    pg_op *op = (pg_op *)ctx;
    if (mp_wait_check(L, &op->w) != MP_WAKE_TIMEOUT)
        return finish_query(L, op);
    if (op->state != OP_CANCELLING)
        return raise_timeout(L, op);
    op->draining = true;
    return mp_wait_yield(L, &op->w, CANCEL_GRACE, ctx, drain_k);
}

/* db:query(sql, ...) -> rows, count. Waits for its turn on the
 * connection, then for the results; the timeout covers both. */
static int l_query(lua_State *L)
{
    pg_conn *c = check_ready(L, 1);
    size_t len;
    const char *sql = luaL_checklstring(L, 2, &len);
    if (strlen(sql) != len)
        mp_raise(L, "usage", "SQL text cannot hold a NUL byte (byte %zu "
                 "is one); pass such data as a parameter ($1)",
                 strlen(sql) + 1);
    mp_task_require(L, "db:query");
    pg_op *op = push_op(L, 2, lua_gettop(L) - 2, c->timeout);
    choose_statement(L, c, op);
    return run_op(L, c, op);
}

/* ---- Lua API: notifications ---- */

/* Take a pending notification into c->notice; false when none. */
static bool take_notice(pg_conn *c)
{
    if (c->notice)
        return true;
    if (!c->busy && !PQconsumeInput(c->pg)) {
        conn_lost(c, NULL);
        return false;
    }
    c->notice = PQnotifies(c->pg);
    return c->notice != NULL;
}

static int push_notice(lua_State *L, pg_conn *c)
{
    lua_createtable(L, 0, 3);
    lua_pushstring(L, c->notice->relname);
    lua_setfield(L, -2, "channel");
    lua_pushstring(L, c->notice->extra);
    lua_setfield(L, -2, "payload");
    lua_pushinteger(L, c->notice->be_pid);
    lua_setfield(L, -2, "pid");
    PQfreemem(c->notice);
    c->notice = NULL;
    return 1;
}

static void notify_release(mp_wait *w)
{
    pg_conn *c = (pg_conn *)((char *)w - offsetof(pg_conn, notify_wait));
    c->notify_waiting = false;
    update_watch(c);
}

static int notify_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    pg_conn *c = (pg_conn *)ctx;
    if (mp_wait_check(L, &c->notify_wait) == MP_WAKE_TIMEOUT) {
        lua_pushnil(L);
        lua_pushliteral(L, "timeout");
        return 2;
    }
    if (c->notice)
        return push_notice(L, c);
    return raise_unusable(L, c, "the connection was closed while waiting "
                          "for a notification");
}

/* db:wait_notify([timeout]) -> {channel=, payload=, pid=} | nil, "timeout" */
static int l_wait_notify(lua_State *L)
{
    pg_conn *c = check_ready(L, 1);
    double timeout = luaL_optnumber(L, 2, -1);
    lua_settop(L, 2);
    if (take_notice(c))
        return push_notice(L, c);
    if (c->state != CONN_READY)
        return raise_unusable(L, c, "attempt to use a closed connection");
    if (c->notify_waiting)
        mp_raise(L, "usage", "another task is already waiting for "
                 "notifications on this connection");
    mp_task_require(L, "db:wait_notify");
    memset(&c->notify_wait, 0, sizeof c->notify_wait);
    c->notify_wait.release = notify_release;
    c->notify_waiting = true;
    update_watch(c);
    return mp_wait_yield(L, &c->notify_wait, timeout, (lua_KContext)c,
                         notify_k);
}

/* ---- Lua API: connecting ---- */

/* Raise the "connect" error for c (its reason), dropping the attempt. */
static int raise_connect(lua_State *L, pg_conn *c)
{
    mp_push_error(L, "connect", "could not connect to Postgres: %s",
                  c->reason);
    if (c->pg) {
        mp_error_set_string(L, "host", PQhost(c->pg));
        mp_error_set_string(L, "port", PQport(c->pg));
        mp_error_set_string(L, "dbname", PQdb(c->pg));
        mp_error_set_string(L, "user", PQuser(c->pg));
        conn_drop(c);
    }
    c->state = CONN_CLOSED;
    return lua_error(L);
}

static void connect_release(mp_wait *w)
{
    pg_conn *c = (pg_conn *)((char *)w - offsetof(pg_conn, connect_wait));
    c->connect_waiting = false;
    watch(c, 0);
    c->state = CONN_BROKEN;
}

static int connect_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    pg_conn *c = (pg_conn *)ctx;
    if (mp_wait_check(L, &c->connect_wait) == MP_WAKE_TIMEOUT)
        snprintf(c->reason, sizeof c->reason, "timed out after %g s",
                 lua_tonumber(L, 2));
    if (c->state != CONN_READY)
        return raise_connect(L, c);
    return 1;
}

static pg_conn *push_conn(lua_State *L)
{
    pg_conn *c = lua_newuserdatauv(L, sizeof *c, 1);
    memset(c, 0, sizeof *c);
    lua_newtable(L);                     /* the statement cache */
    lua_setiuservalue(L, -2, 1);
    c->state = CONN_CLOSED;
    c->fd = -1;
    c->timeout = -1;
    luaL_setmetatable(L, CONN_MT);
    return c;
}

/* core.connect(dsn [, timeout]) -> Conn; raises a "connect" error. */
static int l_connect(lua_State *L)
{
    static const char *const keys[] = {
        "fallback_application_name", "client_encoding", "dbname", NULL
    };
    const char *dsn = luaL_checkstring(L, 1);
    lua_Number timeout = luaL_optnumber(L, 2, CONNECT_TIMEOUT);
    lua_settop(L, 1);
    lua_pushnumber(L, timeout);
    mp_task_require(L, "mp.pg.connect");
    pg_conn *c = push_conn(L);
    const char *values[] = { "mpod-lua", "UTF8", dsn, NULL };
    c->pg = PQconnectStartParams(keys, values, 1);
    if (!c->pg)
        mp_raise(L, "memory", "out of memory starting a connection");
    c->state = CONN_CONNECTING;
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        set_reason(c, PQerrorMessage(c->pg));
        return raise_connect(L, c);
    }
    if (PQsocket(c->pg) < 0) {
        set_reason(c, "libpq opened no socket");
        return raise_connect(L, c);
    }
    PQsetNoticeReceiver(c->pg, remember_fatal, c);
    c->connect_wait.release = connect_release;
    c->connect_waiting = true;
    watch(c, POLLOUT);
    return mp_wait_yield(L, &c->connect_wait, timeout, (lua_KContext)c,
                         connect_k);
}

/* ---- Lua API: the rest ---- */

static int l_close(lua_State *L)
{
    conn_close(check_conn(L, 1));
    return 0;
}

/* db:set_timeout(seconds | nil): the limit for each later query */
static int l_set_timeout(lua_State *L)
{
    pg_conn *c = check_conn(L, 1);
    lua_Number t = luaL_optnumber(L, 2, -1);
    luaL_argcheck(L, lua_isnoneornil(L, 2) || t >= 0, 2,
                  "a timeout is seconds >= 0, or nil for none");
    c->timeout = t;
    return 0;
}

/* db:timeout() -> seconds, or nil when queries have no limit */
static int l_timeout(lua_State *L)
{
    pg_conn *c = check_conn(L, 1);
    if (c->timeout < 0)
        return 0;
    lua_pushnumber(L, c->timeout);
    return 1;
}

/* db:backend_pid() -> the server process serving this connection */
static int l_backend_pid(lua_State *L)
{
    lua_pushinteger(L, PQbackendPID(check_ready(L, 1)->pg));
    return 1;
}

static const char *status_name(const pg_conn *c)
{
    switch (c->state) {
    case CONN_READY: return c->busy || c->head ? "busy" : "idle";
    case CONN_BROKEN: return "broken";
    case CONN_CLOSED: return "closed";
    default: return "connecting";
    }
}

/* db:status() -> "idle" | "busy" | "broken" | "closed" */
static int l_status(lua_State *L)
{
    lua_pushstring(L, status_name(check_conn(L, 1)));
    return 1;
}

static int l_tostring(lua_State *L)
{
    pg_conn *c = check_conn(L, 1);
    if (c->state == CONN_READY)
        lua_pushfstring(L, "%s (%s, pid %d)", CONN_MT, status_name(c),
                        PQbackendPID(c->pg));
    else
        lua_pushfstring(L, "%s (%s)", CONN_MT, status_name(c));
    return 1;
}

typedef struct {
    PQconninfoOption *options;
} conninfo_guard;

static int l_guard_gc(lua_State *L)
{
    conninfo_guard *g = luaL_checkudata(L, 1, GUARD_MT);
    PQconninfoFree(g->options);
    g->options = NULL;
    return 0;
}

/* Pushes the value of `keyword` in parsed conninfo options, or nil. */
static void push_option(lua_State *L, const PQconninfoOption *options, const char *keyword)
{
    for (const PQconninfoOption *o = options; o && o->keyword; o++)
        if (strcmp(o->keyword, keyword) == 0 && o->val) {
            lua_pushstring(L, o->val);
            return;
        }
    lua_pushnil(L);
}

/* core.dsn_password(dsn) -> password | nil, whether the DSN parsed, and
 * its user and dbname (or nil). libpq's parse message is dropped: it may
 * quote the password. */
static int l_dsn_password(lua_State *L)
{
    const char *dsn = luaL_checkstring(L, 1);
    conninfo_guard *g = lua_newuserdatauv(L, sizeof *g, 0);
    g->options = NULL;
    luaL_setmetatable(L, GUARD_MT);
    char *message = NULL;
    g->options = PQconninfoParse(dsn, &message);
    PQfreemem(message);
    push_option(L, g->options, "password");
    lua_pushboolean(L, g->options != NULL);
    push_option(L, g->options, "user");
    push_option(L, g->options, "dbname");
    return 4;
}

/* __gc of the sentinel made when the module loads: collected last when
 * the Lua state closes (finalizers run in reverse order of marking), after
 * every connection, so the cancels their closing started get sent. */
static int l_exit_gc(lua_State *L)
{
    (void)L;
    finish_cancels(EXIT_GRACE);
    return 0;
}

/* core.libpq_version() -> e.g. 150018 */
static int l_libpq_version(lua_State *L)
{
    lua_pushinteger(L, PQlibVersion());
    return 1;
}

static const luaL_Reg conn_methods[] = {
    { "query", l_query },
    { "wait_notify", l_wait_notify },
    { "close", l_close },
    { "set_timeout", l_set_timeout },
    { "timeout", l_timeout },
    { "backend_pid", l_backend_pid },
    { "status", l_status },
    { NULL, NULL }
};

static const luaL_Reg conn_meta[] = {
    { "__gc", l_close },
    { "__close", l_close },
    { "__tostring", l_tostring },
    { NULL, NULL }
};

static const luaL_Reg op_meta[] = {
    { "__gc", l_op_gc },
    { NULL, NULL }
};

static const luaL_Reg guard_meta[] = {
    { "__gc", l_guard_gc },
    { NULL, NULL }
};

static const luaL_Reg exit_meta[] = {
    { "__gc", l_exit_gc },
    { NULL, NULL }
};

static const luaL_Reg core_functions[] = {
    { "connect", l_connect },
    { "dsn_password", l_dsn_password },
    { "libpq_version", l_libpq_version },
    { NULL, NULL }
};

int luaopen_mpod_pg_core(lua_State *L)
{
    lua_newuserdatauv(L, 0, 0);
    mp_new_class(L, EXIT_MT, NULL, exit_meta);
    lua_setmetatable(L, -2);
    lua_setfield(L, LUA_REGISTRYINDEX, EXIT_MT);
    mp_new_class(L, OP_MT, NULL, op_meta);
    mp_new_class(L, GUARD_MT, NULL, guard_meta);
    mp_new_class(L, CONN_MT, conn_methods, conn_meta);
    luaL_newlib(L, core_functions);
    lua_getfield(L, -2, "__index");        /* Lua adds one(), exec(), ... */
    lua_setfield(L, -2, "Conn");
    return 1;
}
