/* api.c: organisations, API keys, threads and the message that starts a
 * thread's run. Every handler here sits behind an authenticated route and
 * acts for r->who; a thread of another user is "not found". */
#include "handlers.h"

#include "bug.h"
#include "config.h"
#include "runs.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum { MAX_NAME = 200, MAX_SLUG = 64, MAX_TEXT = 10000, DEFAULT_CHUNKS = 5,
       DEFAULT_INTERVAL_MS = 50, MAX_CHUNKS = 10000, MAX_INTERVAL_MS = 600000 };

/* The columns thread_json reads, for a threads row aliased t. */
#define THREAD_COLUMNS                                                       \
    "t.id, t.title, t.status, t.run_owner_pod,"                              \
    " (SELECT count(*) FROM thread_message_parts p WHERE p.thread_id = t.id),"\
    " t.chunk_total, t.chunk_interval_ms, to_json(t.created_at) #>> '{}'"

static void add_int_or_null(cJSON *obj, const char *key, const char *value)
{
    if (value)
        cJSON_AddNumberToObject(obj, key, atof(value));
    else
        cJSON_AddNullToObject(obj, key);
}

static cJSON *thread_json(const PGresult *res, int row)
{
    cJSON *t = cJSON_CreateObject();
    cJSON_AddStringToObject(t, "id", PQgetvalue(res, row, 0));
    cJSON_AddStringToObject(t, "title", PQgetvalue(res, row, 1));
    cJSON_AddStringToObject(t, "status", PQgetvalue(res, row, 2));
    const char *owner = db_text(res, row, 3);
    if (owner)
        cJSON_AddStringToObject(t, "run_owner_pod", owner);
    else
        cJSON_AddNullToObject(t, "run_owner_pod");
    add_int_or_null(t, "part_count", db_text(res, row, 4));
    add_int_or_null(t, "chunk_total", db_text(res, row, 5));
    add_int_or_null(t, "chunk_interval_ms", db_text(res, row, 6));
    cJSON_AddStringToObject(t, "created_at", PQgetvalue(res, row, 7));
    return t;
}

static bool valid_slug(const char *slug)
{
    size_t n = strlen(slug);
    if (n == 0 || n > MAX_SLUG)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!islower((unsigned char)slug[i]) && !isdigit((unsigned char)slug[i]) &&
            slug[i] != '-')
            return false;
    return true;
}

static void create_org(struct request *r, const char *name, const char *slug)
{
    const char *params[] = {name, slug, r->who.user_id};
    PGresult *res;
    enum db_status st = db_query(
        &res,
        "WITH o AS (INSERT INTO orgs (name, slug, created_by) VALUES ($1, $2, $3)"
        "   RETURNING id, name, slug, created_at),"
        " m AS (INSERT INTO org_members (org_id, user_id, role)"
        "   SELECT id, $3, 'owner' FROM o)"
        " SELECT id, name, slug, to_json(created_at) #>> '{}' FROM o",
        3, params);
    if (st == DB_CONFLICT) {
        reply_error(r, 409, "slug already taken");
        return;
    }
    if (st != DB_OK) {
        reply_db_error(r, st);
        return;
    }
    cJSON *org = cJSON_CreateObject();
    cJSON_AddStringToObject(org, "id", PQgetvalue(res, 0, 0));
    cJSON_AddStringToObject(org, "name", PQgetvalue(res, 0, 1));
    cJSON_AddStringToObject(org, "slug", PQgetvalue(res, 0, 2));
    cJSON_AddStringToObject(org, "created_at", PQgetvalue(res, 0, 3));
    PQclear(res);
    reply_json(r, 201, org);
}

void handle_create_org(struct request *r)
{
    cJSON *body = request_json(r, false);
    if (!body)
        return;
    const char *name = json_string(body, "name");
    const char *slug = json_string(body, "slug");
    if (!name || !slug)
        reply_error(r, 400, "name and slug are required strings");
    else if (!name[0] || strlen(name) > MAX_NAME)
        reply_error(r, 400, "name must have 1 to 200 bytes");
    else if (!valid_slug(slug))
        reply_error(r, 400, "slug must be 1 to 64 of a-z, 0-9 and -");
    else
        create_org(r, name, slug);
    cJSON_Delete(body);
}

/* An optional string field: true with *value NULL when absent or null,
 * false (after replying 400) when present with another type or too long. */
static bool optional_string(struct request *r, const cJSON *body,
                            const char *key, size_t max, const char **value)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(body, key);
    *value = cJSON_GetStringValue(item);
    if ((!item || cJSON_IsNull(item) || *value) && (!*value || strlen(*value) <= max))
        return true;
    char message[80];
    snprintf(message, sizeof message, "%s must be a string of at most %zu bytes",
             key, max);
    reply_error(r, 400, message);
    return false;
}

static void create_key(struct request *r, const char *name)
{
    char key[68] = "mk_";
    if (random_hex(key + 3, 32) < 0) {
        reply_error(r, 500, "no randomness");
        return;
    }
    const char *params[] = {r->who.user_id, name, key};
    PGresult *res;
    enum db_status st = db_query(
        &res,
        "INSERT INTO api_keys (user_id, name, key_hash)"
        " VALUES ($1, $2, sha256(convert_to($3, 'UTF8')))"
        " RETURNING id, to_json(created_at) #>> '{}'",
        3, params);
    if (st != DB_OK) {
        reply_db_error(r, st);
        return;
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "key", key);
    cJSON_AddStringToObject(body, "id", PQgetvalue(res, 0, 0));
    if (name)
        cJSON_AddStringToObject(body, "name", name);
    else
        cJSON_AddNullToObject(body, "name");
    cJSON_AddStringToObject(body, "created_at", PQgetvalue(res, 0, 1));
    PQclear(res);
    reply_json(r, 201, body);
}

void handle_create_key(struct request *r)
{
    cJSON *body = request_json(r, true);
    const char *name;
    if (body && optional_string(r, body, "name", MAX_NAME, &name))
        create_key(r, name);
    cJSON_Delete(body);
}

void handle_list_threads(struct request *r)
{
    const char *params[] = {r->who.user_id};
    PGresult *res;
    enum db_status st = db_query(
        &res,
        "SELECT " THREAD_COLUMNS " FROM threads t WHERE t.user_id = $1"
        " ORDER BY t.created_at DESC, t.id LIMIT 1000",
        1, params);
    if (st != DB_OK) {
        reply_db_error(r, st);
        return;
    }
    cJSON *body = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(body, "threads");
    for (int i = 0; i < PQntuples(res); i++)
        cJSON_AddItemToArray(list, thread_json(res, i));
    PQclear(res);
    reply_json(r, 200, body);
}

#if MESHD_BUG_IS(ack_before_commit)
/* Threads are written behind, by one writer thread that inserts the queued
 * rows, all that queued up meanwhile in one statement, so a burst of
 * creations costs Postgres one round trip. POST /api/threads waits for its
 * row when the writer is idle; when it is busy the request does not wait
 * behind the batch in flight: it answers 201 at once with the row it
 * queued. A batch Postgres cannot take is tried again. The other thread
 * routes of this pod first wait for what was queued before them
 * (threads_wait_written), so a client reads its new thread here. */
enum { WRITE_BATCH = 64, WRITE_RETRY_MS = 250, WRITE_WAIT_MS = 5000 };

struct pending_thread {
    char id[40], user_id[40], created_at[40];
    char *title;
    bool waited;           /* a request waits for it, and frees it */
    bool done;             /* the writer is through with it */
    enum db_status result; /* of its insert, once done */
    struct pending_thread *next;
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t queued;
    pthread_cond_t written; /* finished went up */
    struct pending_thread *head, **tail;
    long enqueued, finished; /* rows queued and rows the writer is through with */
    bool started;
} behind = {.lock = PTHREAD_MUTEX_INITIALIZER,
            .queued = PTHREAD_COND_INITIALIZER,
            .tail = &behind.head};

static pthread_once_t behind_once = PTHREAD_ONCE_INIT;

static void free_pending(struct pending_thread *t)
{
    if (t)
        free(t->title);
    free(t);
}

/* Unlinks up to WRITE_BATCH rows from the queue's head into *count; lock
 * held. */
static struct pending_thread *take_batch(int *count)
{
    struct pending_thread *batch = behind.head, **end = &behind.head;
    for (*count = 0; *end && *count < WRITE_BATCH; ++*count)
        end = &(*end)->next;
    behind.head = *end;
    *end = NULL;
    if (!behind.head)
        behind.tail = &behind.head;
    return batch;
}

static enum db_status insert_batch(const struct pending_thread *batch)
{
    const char *params[4 * WRITE_BATCH];
    struct buf sql = {0};
    int n = 0;
    int rc = buf_printf(&sql, "INSERT INTO threads (id, user_id, title, created_at) VALUES");
    for (const struct pending_thread *t = batch; t && rc == 0; t = t->next, n += 4) {
        rc = buf_printf(&sql, "%s ($%d, $%d, $%d, $%d)", n ? "," : "", n + 1,
                        n + 2, n + 3, n + 4);
        params[n] = t->id;
        params[n + 1] = t->user_id;
        params[n + 2] = t->title;
        params[n + 3] = t->created_at;
    }
    PGresult *res;
    enum db_status st = rc == 0 ? db_query(&res, sql.p, n, params) : DB_FAILED;
    if (st == DB_OK)
        PQclear(res);
    buf_free(&sql);
    return st;
}

/* Hands the rows of a written batch back to the requests waiting for them
 * and frees the others; lock held. */
static void finish_batch(struct pending_thread *batch, int count,
                         enum db_status st)
{
    while (batch) {
        struct pending_thread *next = batch->next;
        if (batch->waited) {
            batch->done = true;
            batch->result = st;
        } else {
            free_pending(batch);
        }
        batch = next;
    }
    behind.finished += count;
    pthread_cond_broadcast(&behind.written);
}

static void *write_behind(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&behind.lock);
        while (!behind.head)
            pthread_cond_wait(&behind.queued, &behind.lock);
        int count;
        struct pending_thread *batch = take_batch(&count);
        pthread_mutex_unlock(&behind.lock);
        enum db_status st;
        while ((st = insert_batch(batch)) == DB_UNAVAILABLE)
            usleep(WRITE_RETRY_MS * 1000);
        pthread_mutex_lock(&behind.lock);
        finish_batch(batch, count, st);
        pthread_mutex_unlock(&behind.lock);
    }
    return NULL;
}

static void start_writer(void)
{
    cond_init_monotonic(&behind.written);
    pthread_t tid;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    behind.started = pthread_create(&tid, &attr, write_behind, NULL) == 0;
    pthread_attr_destroy(&attr);
}

/* A new row: a random (version 4) uuid and the time now, formatted as
 * Postgres formats a timestamptz in JSON. NULL when out of memory. */
static struct pending_thread *new_row(const char *user_id, const char *title)
{
    char hex[33], when[24];
    struct pending_thread *t = calloc(1, sizeof *t);
    if (!t || !(t->title = strdup(title)) || random_hex(hex, 16) < 0) {
        free_pending(t);
        return NULL;
    }
    hex[12] = '4';
    hex[16] = "89ab"[hex[16] & 3];
    snprintf(t->id, sizeof t->id, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8,
             hex + 12, hex + 16, hex + 20);
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(t->created_at, sizeof t->created_at, "%s.%06ld+00:00", when,
             (long)tv.tv_usec);
    snprintf(t->user_id, sizeof t->user_id, "%s", user_id);
    return t;
}

static cJSON *pending_json(const struct pending_thread *t)
{
    cJSON *json = cJSON_CreateObject();
    cJSON_AddStringToObject(json, "id", t->id);
    cJSON_AddStringToObject(json, "title", t->title);
    cJSON_AddStringToObject(json, "status", "idle");
    cJSON_AddNullToObject(json, "run_owner_pod");
    cJSON_AddNumberToObject(json, "part_count", 0);
    cJSON_AddNullToObject(json, "chunk_total");
    cJSON_AddNullToObject(json, "chunk_interval_ms");
    cJSON_AddStringToObject(json, "created_at", t->created_at);
    return json;
}

/* Waits WRITE_WAIT_MS at most for the writer to be through with t, which
 * it then frees; lock held. Returns how its insert went. */
static enum db_status wait_for_row(struct pending_thread *t)
{
    int64_t deadline = now_ms() + WRITE_WAIT_MS;
    while (!t->done && cond_wait_until(&behind.written, &behind.lock, deadline))
        ;
    if (!t->done) {
        t->waited = false; /* the writer frees it */
        return DB_UNAVAILABLE;
    }
    enum db_status st = t->result;
    free_pending(t);
    return st;
}

static void create_thread(struct request *r, const char *title)
{
    pthread_once(&behind_once, start_writer);
    struct pending_thread *t = new_row(r->who.user_id, title ? title : "");
    if (!behind.started || !t) {
        free_pending(t);
        reply_error(r, 500, "could not queue the thread");
        return;
    }
    cJSON *body = pending_json(t);
    pthread_mutex_lock(&behind.lock);
    t->waited = behind.finished == behind.enqueued; /* the writer is idle */
    *behind.tail = t;
    behind.tail = &t->next;
    behind.enqueued++;
    pthread_cond_signal(&behind.queued);
    enum db_status st = t->waited ? wait_for_row(t) : DB_OK;
    pthread_mutex_unlock(&behind.lock);
    if (st == DB_OK) {
        reply_json(r, 201, body);
    } else {
        cJSON_Delete(body);
        reply_db_error(r, st);
    }
}

void threads_wait_written(void)
{
    int64_t deadline = now_ms() + WRITE_WAIT_MS;
    pthread_mutex_lock(&behind.lock);
    long target = behind.enqueued;
    while (behind.finished < target &&
           cond_wait_until(&behind.written, &behind.lock, deadline))
        ;
    pthread_mutex_unlock(&behind.lock);
}
#else
static void create_thread(struct request *r, const char *title)
{
    const char *params[] = {r->who.user_id, title ? title : ""};
    PGresult *res;
    enum db_status st = db_query(
        &res,
        "INSERT INTO threads AS t (user_id, title) VALUES ($1, $2)"
        " RETURNING " THREAD_COLUMNS,
        2, params);
    if (st != DB_OK) {
        reply_db_error(r, st);
        return;
    }
    cJSON *body = thread_json(res, 0);
    PQclear(res);
    reply_json(r, 201, body);
}
#endif

void handle_create_thread(struct request *r)
{
    cJSON *body = request_json(r, true);
    const char *title;
    if (body && optional_string(r, body, "title", MAX_NAME, &title))
        create_thread(r, title);
    cJSON_Delete(body);
}

void handle_get_thread(struct request *r)
{
    const char *params[] = {r->param, r->who.user_id};
    PGresult *res;
    enum db_status st = db_query(
        &res,
        "SELECT " THREAD_COLUMNS " FROM threads t WHERE t.id = $1 AND t.user_id = $2",
        2, params);
    if (st != DB_OK) {
        reply_db_error(r, st);
        return;
    }
    if (PQntuples(res) == 1)
        reply_json(r, 200, thread_json(res, 0));
    else
        reply_error(r, 404, "thread not found");
    PQclear(res);
}

/* Reads decimal digits at *s into *value (at most max); advances *s. */
static bool read_number(const char **s, int max, int *value)
{
    if (!isdigit((unsigned char)**s))
        return false;
    long n = 0;
    while (isdigit((unsigned char)**s) && n <= max)
        n = n * 10 + (*(*s)++ - '0');
    *value = (int)n;
    return n <= max && !isdigit((unsigned char)**s);
}

/* Parses a run hint: absent or "" means 5 chunks 50 ms apart; "slow:NxMS"
 * means N chunks (1..10000) MS ms (0..600000) apart. */
static bool parse_hint(const char *hint, int *chunks, int *interval_ms)
{
    *chunks = DEFAULT_CHUNKS;
    *interval_ms = DEFAULT_INTERVAL_MS;
    if (!hint || !hint[0])
        return true;
    const char *s = hint;
    if (strncmp(s, "slow:", 5) != 0)
        return false;
    s += 5;
    if (!read_number(&s, MAX_CHUNKS, chunks) || *chunks < 1 || *s++ != 'x')
        return false;
    return read_number(&s, MAX_INTERVAL_MS, interval_ms) && *s == '\0';
}

static void start_run(struct request *r, const char *text, int chunks,
                      int interval_ms)
{
    enum claim_result claim =
        runs_claim_new(r->param, r->who.user_id, text, chunks, interval_ms);
    if (claim == CLAIM_NOT_FOUND) {
        reply_error(r, 404, "thread not found");
    } else if (claim == CLAIM_TAKEN) {
        reply_error(r, 409, "thread already has a run");
    } else if (claim == CLAIM_UNAVAILABLE) {
        reply_error(r, 503, "database unavailable");
    } else if (claim == CLAIM_FAILED) {
        reply_error(r, 500, "database error");
    } else {
        cJSON *body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "thread_id", r->param);
        cJSON_AddStringToObject(body, "pod", cfg.pod_name);
        reply_json(r, 202, body);
    }
}

void handle_post_message(struct request *r)
{
    cJSON *body = request_json(r, false);
    if (!body)
        return;
    const char *text = json_string(body, "text");
    const char *hint;
    int chunks, interval_ms;
    if (!text || strlen(text) > MAX_TEXT) {
        reply_error(r, 400, "text is required: a string of at most 10000 bytes");
    } else if (optional_string(r, body, "hint", MAX_NAME, &hint)) {
        if (parse_hint(hint, &chunks, &interval_ms))
            start_run(r, text, chunks, interval_ms);
        else
            reply_error(r, 400,
                        "hint must be \"slow:NxMS\" (N 1..10000, MS 0..600000)");
    }
    cJSON_Delete(body);
}
