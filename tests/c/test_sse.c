/*
 * test_sse.c: unit tests for the text/event-stream parser (src/sse.c).
 *
 * A recorder turns every callback into one log entry, so each case states
 * the whole expected output as a string:
 *     E(type,data,id)  an event; id is "-" while no id was ever set
 *     R(ms)            a retry field
 *     C(text)          a comment
 * with LF, CR, NUL and other control bytes shown as \n, \r, \0, \xHH.
 * Every case is fed whole, byte by byte, and split in two at every offset;
 * all three must give the same log.
 */
#include "sse.h"
#include "tap.h"

#include <stdint.h>
#include <stdlib.h>

typedef struct {
    char *text;
    size_t size;
    FILE *out;
} recorder;

static void put_escaped(FILE *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            fputs("\\n", out);
        else if (c == '\r')
            fputs("\\r", out);
        else if (c == '\0')
            fputs("\\0", out);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(out, "\\x%02X", c);
        else
            fputc(c, out);
    }
}

static void record_event(void *ud, const mp_sse_event *ev)
{
    recorder *r = ud;
    fputs("E(", r->out);
    put_escaped(r->out, ev->type, ev->type_len);
    fputc(',', r->out);
    put_escaped(r->out, ev->data, ev->data_len);
    fputc(',', r->out);
    if (ev->has_id)
        put_escaped(r->out, ev->id, ev->id_len);
    else
        fputc('-', r->out);
    fputc(')', r->out);
}

static void record_retry(void *ud, uint64_t ms)
{
    recorder *r = ud;
    fprintf(r->out, "R(%llu)", (unsigned long long)ms);
}

static void record_comment(void *ud, const char *text, size_t len)
{
    recorder *r = ud;
    fputs("C(", r->out);
    put_escaped(r->out, text, len);
    fputc(')', r->out);
}

static const mp_sse_handlers recording = {
    .on_event = record_event,
    .on_retry = record_retry,
    .on_comment = record_comment,
};

static void recorder_open(recorder *r, mp_sse_parser *p)
{
    *r = (recorder){ 0 };
    r->out = open_memstream(&r->text, &r->size);
    mp_sse_init(p, &recording, r);
}

/* The log so far (valid until the next callback or recorder_close). */
static const char *recorder_log(recorder *r)
{
    fflush(r->out);
    return r->text;
}

static void recorder_close(recorder *r, mp_sse_parser *p)
{
    mp_sse_free(p);
    fclose(r->out);
    free(r->text);
}

/* Feed input in pieces of at most `step` bytes, the first piece being
 * `first` bytes long (0: no special first piece). Returns the last feed's
 * result and leaves the log in *log (to be freed). */
static int feed_split(const char *in, size_t len, size_t first, size_t step,
                      size_t max_size, char **log)
{
    recorder r;
    mp_sse_parser p;
    int rc = MP_SSE_OK;
    recorder_open(&r, &p);
    p.max_size = max_size;
    size_t pos = 0;
    while (pos < len) {
        size_t n = pos == 0 && first ? first : step;
        if (n > len - pos)
            n = len - pos;
        rc = mp_sse_feed(&p, in + pos, n);
        pos += n;
    }
    *log = strdup(recorder_log(&r));
    recorder_close(&r, &p);
    return rc;
}

/* Whole, byte by byte, and two pieces split at every offset must all give
 * `want` and return `want_rc`. */
static void check_limited(const char *name, const char *in, size_t len,
                          size_t max_size, int want_rc, const char *want)
{
    char *log;
    int rc = feed_split(in, len, 0, len ? len : 1, max_size, &log);
    is_str(log, want, "%s", name);
    is_int(rc, want_rc, "%s: result", name);
    free(log);

    rc = feed_split(in, len, 0, 1, max_size, &log);
    is_str(log, want, "%s: byte by byte", name);
    is_int(rc, want_rc, "%s: byte by byte result", name);
    free(log);

    size_t bad_split = 0;
    for (size_t k = 1; k < len && !bad_split; k++) {
        rc = feed_split(in, len, k, len, max_size, &log);
        if (strcmp(log, want) != 0 || rc != want_rc)
            bad_split = k;
        free(log);
    }
    if (!ok(bad_split == 0, "%s: split in two anywhere", name))
        printf("#   differs when split at %zu\n", bad_split);
}

static int feed_text(mp_sse_parser *p, const char *text)
{
    return mp_sse_feed(p, text, strlen(text));
}

#define CHECK_LIMITED(name, literal, max_size, want_rc, want) \
    check_limited(name, literal, sizeof(literal) - 1, max_size, want_rc, want)

#define CHECK(name, literal, want) \
    CHECK_LIMITED(name, literal, MP_SSE_DEFAULT_MAX_SIZE, MP_SSE_OK, want)

static void test_line_ends(void)
{
    CHECK("LF", "event: a\ndata: 1\n\n", "E(a,1,-)");
    CHECK("CRLF", "event: a\r\ndata: 1\r\n\r\n", "E(a,1,-)");
    CHECK("CR", "event: a\rdata: 1\r\r", "E(a,1,-)");
    CHECK("mixed line ends", "data: a\r\rdata: b\n\r\ndata: c\r\n\n",
          "E(message,a,-)E(message,b,-)E(message,c,-)");
    CHECK("LF CR is two line ends", "data: a\n\rdata: b\n\n",
          "E(message,a,-)E(message,b,-)");
    CHECK("CR CR LF is two line ends", "data: a\r\r\ndata: b\n\n",
          "E(message,a,-)E(message,b,-)");
    CHECK("no line end: nothing", "data: a", "");
    CHECK("one line end: nothing", "data: a\n", "");
}

/* A CR ending one feed and an LF starting the next are one line end. */
static void test_crlf_across_feeds(void)
{
    recorder r;
    mp_sse_parser p;
    recorder_open(&r, &p);
    feed_text(&p, "data: a\r");
    feed_text(&p, "\ndata: b\r");
    feed_text(&p, "\n");
    is_str(recorder_log(&r), "", "CR|LF across feeds is one line end");
    feed_text(&p, "\r");
    is_str(recorder_log(&r), "E(message,a\\nb,-)",
           "the next empty line dispatches");
    recorder_close(&r, &p);
}

static void test_bom(void)
{
    CHECK("BOM stripped", "\xEF\xBB\xBF" "data: x\n\n", "E(message,x,-)");
    CHECK("BOM stripped once", "\xEF\xBB\xBF\xEF\xBB\xBF" "data: x\n\n", "");
    CHECK("BOM-like prefix kept", "\xEF" "data: x\n\n", "");
    CHECK("two BOM bytes kept", "\xEF\xBB" "data: x\n\n", "");
    CHECK("BOM prefix then line end", "\xEF\xBB\ndata: x\n\n",
          "E(message,x,-)");
    CHECK("BOM later is data", "data: a\n\n\xEF\xBB\xBF" "data: b\n\n"
          "data: \xEF\xBB\xBF\n\n", "E(message,a,-)E(message,\\xEF\\xBB\\xBF,-)");
    CHECK("BOM only", "\xEF\xBB\xBF", "");
}

static void test_fields(void)
{
    CHECK("one leading space removed", "data:a\n\ndata: b\n\ndata:  c\n\n",
          "E(message,a,-)E(message,b,-)E(message, c,-)");
    CHECK("colon in value", "data: a:b: c\n\n", "E(message,a:b: c,-)");
    CHECK("field without colon", "data\n\n", "E(message,,-)");
    CHECK("empty value", "data:\n\n", "E(message,,-)");
    CHECK("space only value", "data: \n\n", "E(message,,-)");
    CHECK("two empty data lines", "data\ndata\n\n", "E(message,\\n,-)");
    CHECK("multi-line data", "data: a\ndata:\ndata: b\n\n",
          "E(message,a\\n\\nb,-)");
    CHECK("trailing space kept", "data: a \n\n", "E(message,a ,-)");
    CHECK("tab is not a space", "data:\ta\n\n", "E(message,\\x09a,-)");
    CHECK("NUL in data", "data: a\0b\n\n", "E(message,a\\0b,-)");
    CHECK("UTF-8 data", "data: caf\xC3\xA9 \xE2\x9C\x93\n\n",
          "E(message,caf\\xC3\\xA9 \\xE2\\x9C\\x93,-)");
    CHECK("unknown fields ignored", "foo: bar\ndata: a\nDATA: b\n"
          "Data: c\n data: d\ndata : e\n\n", "E(message,a,-)");
    CHECK("unknown field alone dispatches nothing", "foo: bar\n\n", "");
}

static void test_event_type(void)
{
    CHECK("event sets the type", "event: add\ndata: 1\n\n", "E(add,1,-)");
    CHECK("type resets after dispatch", "event: add\ndata: 1\n\ndata: 2\n\n",
          "E(add,1,-)E(message,2,-)");
    CHECK("type resets without data", "event: x\n\ndata: y\n\n",
          "E(message,y,-)");
    CHECK("last event field wins", "event: a\nevent: b\ndata: 1\n\n",
          "E(b,1,-)");
    CHECK("empty event field means message", "event: a\nevent\ndata: 1\n\n",
          "E(message,1,-)");
    CHECK("field order is free", "data: 1\nevent: late\n\n", "E(late,1,-)");
}

static void test_empty_dispatch(void)
{
    CHECK("empty lines alone", "\n\n\r\n\r", "");
    CHECK("event without data", "event: x\n\n", "");
    CHECK("comment then empty line", ": c\n\n", "C( c)");
}

static void test_comments(void)
{
    CHECK("comment text", ": hello\n", "C( hello)");
    CHECK("bare colon", ":\n", "C()");
    CHECK("comment keeps colons", "::x: y\n", "C(:x: y)");
    CHECK("comment inside an event", "data: a\n: ping\ndata: b\n\n",
          "C( ping)E(message,a\\nb,-)");
    CHECK("comment with CRLF", ": a\r\n:b\r\n", "C( a)C(b)");
}

static void test_ids(void)
{
    CHECK("id on the event", "id: 1\ndata: a\n\n", "E(message,a,1)");
    CHECK("id persists", "id: 1\ndata: a\n\ndata: b\n\n",
          "E(message,a,1)E(message,b,1)");
    CHECK("id after data", "data: a\nid: 5\n\n", "E(message,a,5)");
    CHECK("empty id resets to empty", "id: 1\ndata: a\n\nid\ndata: b\n\n",
          "E(message,a,1)E(message,b,)");
    CHECK("id with NUL ignored", "id: 1\ndata: a\n\nid: 2\0" "3\ndata: b\n\n",
          "E(message,a,1)E(message,b,1)");
    CHECK("id with only NUL ignored", "id: \0\ndata: a\n\n", "E(message,a,-)");
    CHECK("id-only event updates the id", "id: 7\n\ndata: a\n\n",
          "E(message,a,7)");
    CHECK("id keeps spaces", "id:  x y \ndata: a\n\n", "E(message,a, x y )");
}

static void test_retry(void)
{
    CHECK("retry", "retry: 1500\n", "R(1500)");
    CHECK("retry zero", "retry: 0\n", "R(0)");
    CHECK("retry without space", "retry:20\n", "R(20)");
    CHECK("retry with a letter", "retry: 15x\n", "");
    CHECK("retry negative", "retry: -1\n", "");
    CHECK("retry decimal", "retry: 1.5\n", "");
    CHECK("retry empty", "retry:\nretry\n", "");
    CHECK("retry with two spaces", "retry:  10\n", "");
    CHECK("retry trailing space", "retry: 10 \n", "");
    CHECK("retry saturates", "retry: 99999999999999999999999\n",
          "R(18446744073709551615)");
    CHECK("retry does not dispatch", "retry: 5\n\n", "R(5)");
    CHECK("retry inside an event", "data: a\nretry: 5\ndata: b\n\n",
          "R(5)E(message,a\\nb,-)");
}

static void test_stream(void)
{
    CHECK("several events in one feed",
          ": stream\nretry: 10\n\nid: 1\nevent: a\ndata: x\n\n"
          "data: {\"k\": [1, 2]}\n\nid: 3\r\ndata: y\r\n\r\n",
          "C( stream)R(10)E(a,x,1)E(message,{\"k\": [1, 2]},1)"
          "E(message,y,3)");
    CHECK("incomplete last event dropped", "data: a\n\ndata: b\n",
          "E(message,a,-)");
}

static void test_last_id(void)
{
    recorder r;
    mp_sse_parser p;
    size_t len = 99;
    recorder_open(&r, &p);
    ok(mp_sse_last_id(&p, &len) == NULL && len == 0, "no last id at first");
    feed_text(&p, "id: 4\n");
    ok(mp_sse_last_id(&p, NULL) == NULL, "an id counts from dispatch on");
    feed_text(&p, "\n");
    is_str(mp_sse_last_id(&p, &len), "4", "id-only event sets the last id");
    is_int(len, 1, "last id length");
    feed_text(&p, "id\n\n");
    is_str(mp_sse_last_id(&p, &len), "", "empty id: set but empty");
    feed_text(&p, "id: 5\ndata: x\n\n");
    is_str(mp_sse_last_id(&p, NULL), "5", "id from a dispatched event");
    is_str(recorder_log(&r), "E(message,x,5)", "one event");
    recorder_close(&r, &p);
}

/* End of stream: mp_sse_reset drops what is incomplete, keeps the id. */
static void test_reset(void)
{
    recorder r;
    mp_sse_parser p;
    recorder_open(&r, &p);
    feed_text(&p, "id: 1\ndata: a\n\nid: 2\nevent: t\ndata: b\n");
    mp_sse_reset(&p);
    feed_text(&p, "\n");
    is_str(recorder_log(&r), "E(message,a,1)", "incomplete event discarded");
    is_str(mp_sse_last_id(&p, NULL), "1", "pending id discarded too");
    feed_text(&p, "data: c");
    mp_sse_reset(&p);
    feed_text(&p, "\n\n");
    is_str(recorder_log(&r), "E(message,a,1)", "incomplete line discarded");
    mp_sse_reset(&p);
    feed_text(&p, "\xEF\xBB\xBF" "data: e\n\n");
    is_str(recorder_log(&r), "E(message,a,1)E(message,e,1)",
           "new stream: BOM stripped again, id kept");
    recorder_close(&r, &p);
}

static void test_size_limit(void)
{
    CHECK_LIMITED("line at the limit", "data: 1234567890\n\n", 16,
                  MP_SSE_OK, "E(message,1234567890,-)");
    CHECK_LIMITED("line over the limit", "data: a\n\ndata: 12345678901\n\n",
                  16, MP_SSE_E_TOO_BIG, "E(message,a,-)");
    CHECK_LIMITED("unterminated line over the limit",
                  "data: a\n\n: 123456789012345", 16, MP_SSE_E_TOO_BIG,
                  "E(message,a,-)");
    CHECK_LIMITED("data at the limit", "data: 1234567\ndata: 1234567\n\n",
                  16, MP_SSE_OK, "E(message,1234567\\n1234567,-)");
    CHECK_LIMITED("data over the limit",
                  "data: 1234567\ndata: 1234567\ndata:\n\n", 16,
                  MP_SSE_E_TOO_BIG, "");

    recorder r;
    mp_sse_parser p;
    recorder_open(&r, &p);
    is_int(p.max_size, MP_SSE_DEFAULT_MAX_SIZE, "default limit");
    p.max_size = 8;
    is_int(feed_text(&p, "data: 12345\n"), MP_SSE_E_TOO_BIG,
           "feed fails past the limit");
    is_int(feed_text(&p, "\n"), MP_SSE_E_TOO_BIG, "the failure sticks");
    mp_sse_reset(&p);
    is_int(feed_text(&p, "data: 1\n\n"), MP_SSE_OK, "reset clears it");
    is_str(recorder_log(&r), "E(message,1,-)", "and parsing goes on");
    recorder_close(&r, &p);
}

/* A 1 MiB event under the default limit, fed in 4 KiB pieces. */
static void test_big_event(void)
{
    size_t n = (size_t)1 << 20;
    char *in = malloc(n + 8);
    memcpy(in, "data: ", 6);
    memset(in + 6, 'x', n);
    memcpy(in + 6 + n, "\n\n", 2);
    recorder r;
    mp_sse_parser p;
    recorder_open(&r, &p);
    int rc = MP_SSE_OK;
    for (size_t pos = 0; pos < n + 8 && rc == MP_SSE_OK; pos += 4096)
        rc = mp_sse_feed(&p, in + pos, n + 8 - pos < 4096 ? n + 8 - pos : 4096);
    is_int(rc, MP_SSE_OK, "1 MiB event accepted");
    is_int(strlen(recorder_log(&r)), n + strlen("E(message,,-)"),
           "1 MiB event delivered whole");
    recorder_close(&r, &p);
    free(in);
}

static void test_no_handlers(void)
{
    mp_sse_parser p;
    mp_sse_init(&p, NULL, NULL);
    is_int(feed_text(&p, ": c\nretry: 1\nid: 2\ndata: x\n\n"), MP_SSE_OK,
           "parses without handlers");
    is_str(mp_sse_last_id(&p, NULL), "2", "and tracks the id");
    mp_sse_free(&p);
}

int main(void)
{
    test_line_ends();
    test_crlf_across_feeds();
    test_bom();
    test_fields();
    test_event_type();
    test_empty_dispatch();
    test_comments();
    test_ids();
    test_retry();
    test_stream();
    test_last_id();
    test_reset();
    test_size_limit();
    test_big_event();
    test_no_handlers();
    return done_testing();
}
