/* sse.c: GET /api/threads/{id}/stream, a text/event-stream of the thread's
 * chunks.
 *
 * Postgres is the truth and NATS the fast path. A stream keeps next_seq, the
 * one chunk it may send next; chunks arrive from the hub (NATS) or from
 * reading thread_message_parts, and whatever is not next_seq is dropped (an
 * old one was sent already; a later one means a gap, so Postgres is read at
 * once). That makes every chunk go out exactly once, in seq order, whatever
 * NATS does. Postgres is also read every SAFETY_POLL_MS while NATS is up and
 * every FALLBACK_POLL_MS while it is down. "done" is sent when a read finds
 * the thread completed and no chunk left after next_seq. libmicrohttpd
 * calls read_stream on the connection's own thread, which blocks there
 * until there is something to send; a ": ping" comment goes out after
 * SSE_PING_MS of silence. */
#include "handlers.h"

#include "bug.h"
#include "bus.h"
#include "config.h"
#include "hub.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SAFETY_POLL_MS = 1000, FALLBACK_POLL_MS = 200, ERROR_POLL_MS = 500,
       READ_LIMIT = 500, BLOCK_SIZE = 4096 };

struct stream {
    char thread_id[40];
    struct hub_sub *sub;
    long next_seq;
    struct buf out;
    bool finished; /* nothing more once out is drained */
    bool broken;   /* out of memory: abort the response */
    bool poll_now;
    int64_t next_poll_ms, next_ping_ms;
    const char *end_reason;
};

static void finish(struct stream *s, const char *reason)
{
    s->finished = true;
    s->end_reason = reason;
}

static void put(struct stream *s, int rc)
{
    if (rc < 0) {
        s->broken = true;
        finish(s, "out_of_memory");
    }
}

/* Appends chunk seq when it is the next one; a later one makes the stream
 * read Postgres. Returns true when it was sent. */
static bool send_chunk(struct stream *s, long seq, const char *text,
                       const char *pod)
{
    if (seq != s->next_seq) {
        if (seq > s->next_seq)
            s->poll_now = true;
        return false;
    }
    cJSON *data = cJSON_CreateObject();
    cJSON_AddNumberToObject(data, "seq", (double)seq);
    cJSON_AddStringToObject(data, "text", text);
    cJSON_AddStringToObject(data, "pod", pod);
    char *json = cJSON_PrintUnformatted(data);
    cJSON_Delete(data);
    put(s, json ? buf_printf(&s->out, "id: %ld\nevent: chunk\ndata: %s\n\n", seq, json)
                : -1);
    free(json);
    s->next_seq++;
    return true;
}

static int compare_seq(const void *a, const void *b)
{
    long x = ((const struct hub_part *)a)->seq, y = ((const struct hub_part *)b)->seq;
    return (x > y) - (x < y);
}

static void take_batch(struct stream *s, struct hub_batch *batch)
{
    if (batch->count > 1)
        qsort(batch->parts, batch->count, sizeof *batch->parts, compare_seq);
    for (size_t i = 0; i < batch->count; i++)
        send_chunk(s, batch->parts[i].seq, batch->parts[i].text,
                   batch->parts[i].pod);
    if (batch->overflowed || batch->done)
        s->poll_now = true;
    if (batch->closed)
        finish(s, "shutdown");
}

/* Sends what Postgres has from next_seq on, and "done" when that is all. */
static void read_postgres(struct stream *s)
{
    char from[24];
    snprintf(from, sizeof from, "%ld", s->next_seq);
    const char *params[] = {s->thread_id, from};
    PGresult *res;
    s->poll_now = false;
    if (db_query(&res,
                 "SELECT t.status, p.seq, p.text, p.pod FROM threads t"
                 " LEFT JOIN LATERAL (SELECT seq, text, pod FROM thread_message_parts"
                 "   WHERE thread_id = t.id AND seq >= $2 ORDER BY seq LIMIT 500) p"
                 " ON true WHERE t.id = $1 ORDER BY p.seq",
                 2, params) != DB_OK) {
        s->next_poll_ms = now_ms() + ERROR_POLL_MS;
        return;
    }
    int rows = PQntuples(res);
    bool complete = rows > 0 && strcmp(PQgetvalue(res, 0, 0), "completed") == 0;
    for (int i = 0; i < rows && db_text(res, i, 1); i++)
        complete &= send_chunk(s, atol(PQgetvalue(res, i, 1)),
                               PQgetvalue(res, i, 2), PQgetvalue(res, i, 3));
    s->poll_now = rows == READ_LIMIT; /* more to read; a gap waits a poll */
    if (rows == 0)
        finish(s, "thread_deleted");
    else if (complete && rows < READ_LIMIT) {
        put(s, buf_printf(&s->out, "event: done\ndata: {\"status\":\"completed\","
                                   "\"last_seq\":%ld}\n\n", s->next_seq - 1));
        finish(s, "done");
    }
    PQclear(res);
    s->next_poll_ms = now_ms() + (bus_connected() ? SAFETY_POLL_MS : FALLBACK_POLL_MS);
}

/* Blocks until out has bytes to send or the stream is finished. */
static void fill(struct stream *s)
{
    while (s->out.len == 0 && !s->finished) {
        int64_t now = now_ms();
        if (s->poll_now || now >= s->next_poll_ms) {
            read_postgres(s);
            continue;
        }
        if (now >= s->next_ping_ms) {
            put(s, buf_printf(&s->out, ": ping\n\n"));
            break;
        }
        struct hub_batch batch;
        hub_wait(s->sub, s->next_poll_ms < s->next_ping_ms ? s->next_poll_ms
                                                           : s->next_ping_ms,
                 &batch);
        take_batch(s, &batch);
        hub_batch_free(&batch);
    }
    s->next_ping_ms = now_ms() + cfg.sse_ping_ms;
}

static ssize_t read_stream(void *cls, uint64_t pos, char *dst, size_t max)
{
    (void)pos;
    struct stream *s = cls;
    if (s->out.off == s->out.len) {
        buf_clear(&s->out);
        fill(s);
    }
    size_t left = s->out.len - s->out.off;
    if (left == 0)
        return s->broken ? MHD_CONTENT_READER_END_WITH_ERROR
                         : MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = left < max ? left : max;
    memcpy(dst, s->out.p + s->out.off, n);
    s->out.off += n;
    return (ssize_t)n;
}

static void close_stream(void *cls)
{
    struct stream *s = cls;
    log_event("stream_end", "thread=%s next_seq=%ld reason=%s", s->thread_id,
              s->next_seq, s->end_reason ? s->end_reason : "client_gone");
    hub_leave(s->sub);
    buf_free(&s->out);
    free(s);
}

static struct stream *open_stream(const char *thread_id, long after)
{
    struct stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    snprintf(s->thread_id, sizeof s->thread_id, "%s", thread_id);
    s->sub = hub_join(thread_id);
    if (!s->sub || buf_printf(&s->out, ": meshd pod=%s\n\n", cfg.pod_name) < 0) {
        if (s->sub)
            hub_leave(s->sub);
        buf_free(&s->out);
        free(s);
        return NULL;
    }
    s->next_seq = after + 1;
    s->poll_now = true;
    s->next_ping_ms = now_ms() + cfg.sse_ping_ms;
    log_event("stream_open", "thread=%s after=%ld", thread_id, after);
    return s;
}

/* The seq in Last-Event-ID, or 0 when absent or not a plain number. */
static long last_event_id(const struct request *r)
{
    const char *v = request_header(r, "Last-Event-ID");
    if (!v || !*v)
        return 0;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < 0 || n > 1000000000)
        return 0;
#if MESHD_BUG_IS(resume_skips_chunk)
    return n + 1; /* the client has seq n already: resume after it */
#else
    return n;
#endif
}

static bool thread_visible(struct request *r)
{
    const char *params[] = {r->param, r->who.user_id};
    PGresult *res;
    enum db_status st = db_query(
        &res, "SELECT 1 FROM threads WHERE id = $1 AND user_id = $2", 2, params);
    if (st != DB_OK) {
        reply_db_error(r, st);
        return false;
    }
    bool found = PQntuples(res) == 1;
    PQclear(res);
    if (!found)
        reply_error(r, 404, "thread not found");
    return found;
}

void handle_stream(struct request *r)
{
    if (!thread_visible(r))
        return;
    struct stream *s = open_stream(r->param, last_event_id(r));
    struct MHD_Response *resp =
        s ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, BLOCK_SIZE,
                                              read_stream, s, close_stream)
          : NULL;
    if (!resp) {
        if (s)
            close_stream(s);
        reply_error(r, 500, "could not open the stream");
        return;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    reply_response(r, 200, resp);
}
