/*
 * sse.c: the incremental text/event-stream parser declared in sse.h.
 *
 * Input flows through three stages: strip_bom() consumes a UTF-8 BOM at
 * the start of a stream (re-parsing the bytes of a false start), scan()
 * cuts the bytes into lines, carrying an incomplete line and a trailing CR
 * over to the next feed, and process_line() applies the spec's field rules
 * to each whole line. Every line is gathered in p->line first, so handlers
 * always see NUL-terminated text and the result cannot depend on where the
 * input was split. Sizes are checked before anything grows: p->line and
 * p->data never exceed max_size, and type and ids are copies of one line.
 */
#include "sse.h"

#include <stdlib.h>
#include <string.h>

static const char utf8_bom[3] = { '\xEF', '\xBB', '\xBF' };

/* ---- byte strings ---- */

/* Append n bytes to b. Returns MP_SSE_OK or MP_SSE_E_NO_MEMORY (b is
 * unchanged then). */
static int add_bytes(mp_sbuf *b, const char *s, size_t n)
{
    return mp_sbuf_append(b, s, n) ? MP_SSE_OK : MP_SSE_E_NO_MEMORY;
}

static int set_bytes(mp_sbuf *b, const char *s, size_t n)
{
    mp_sbuf_clear(b);
    return add_bytes(b, s, n);
}

/* ---- fields and dispatch ---- */

static bool field_is(const char *name, size_t len, const char *want)
{
    return len == strlen(want) && memcmp(name, want, len) == 0;
}

/* The `retry` field: only a non-empty run of ASCII digits counts. */
static void handle_retry(mp_sse_parser *p, const char *value, size_t len)
{
    uint64_t ms = 0;
    if (len == 0 || !p->handlers.on_retry)
        return;
    for (size_t i = 0; i < len; i++) {
        if (value[i] < '0' || value[i] > '9')
            return;
        unsigned digit = (unsigned)(value[i] - '0');
        ms = ms > (UINT64_MAX - digit) / 10 ? UINT64_MAX : ms * 10 + digit;
    }
    p->handlers.on_retry(p->ud, ms);
}

static int handle_data(mp_sse_parser *p, const char *value, size_t len)
{
    if (!mp_sbuf_fits(&p->data, len + 1, p->max_size))
        return MP_SSE_E_TOO_BIG;
    int rc = add_bytes(&p->data, value, len);
    return rc ? rc : add_bytes(&p->data, "\n", 1);
}

static int handle_field(mp_sse_parser *p, const char *name, size_t name_len,
                        const char *value, size_t value_len)
{
    if (field_is(name, name_len, "data"))
        return handle_data(p, value, value_len);
    if (field_is(name, name_len, "event"))
        return set_bytes(&p->type, value, value_len);
    if (field_is(name, name_len, "id")) {
        if (memchr(value, '\0', value_len))
            return MP_SSE_OK;
        p->id_pending = true;
        return set_bytes(&p->pending_id, value, value_len);
    }
    if (field_is(name, name_len, "retry"))
        handle_retry(p, value, value_len);
    return MP_SSE_OK;
}

/* An empty line: the last event ID takes the pending one, then an event
 * with data goes to on_event. Data and type start afresh either way. */
static int dispatch(mp_sse_parser *p)
{
    if (p->id_pending) {
        int rc = set_bytes(&p->last_id, mp_sbuf_text(&p->pending_id),
                         p->pending_id.len);
        if (rc)
            return rc;
        p->id_pending = false;
        p->has_id = true;
    }
    if (p->data.len > 0 && p->handlers.on_event) {
        mp_sbuf_truncate(&p->data, p->data.len - 1);    /* the final LF */
        bool typed = p->type.len > 0;
        mp_sse_event ev = {
            .type = typed ? p->type.data : "message",
            .type_len = typed ? p->type.len : strlen("message"),
            .data = p->data.data,
            .data_len = p->data.len,
            .id = mp_sbuf_text(&p->last_id),
            .id_len = p->last_id.len,
            .has_id = p->has_id,
        };
        p->handlers.on_event(p->ud, &ev);
    }
    mp_sbuf_clear(&p->data);
    mp_sbuf_clear(&p->type);
    return MP_SSE_OK;
}

/* One whole line, without its line end; line[len] is '\0'. */
static int process_line(mp_sse_parser *p, const char *line, size_t len)
{
    if (len == 0)
        return dispatch(p);
    if (line[0] == ':') {
        if (p->handlers.on_comment)
            p->handlers.on_comment(p->ud, line + 1, len - 1);
        return MP_SSE_OK;
    }
    const char *colon = memchr(line, ':', len);
    size_t name_len = colon ? (size_t)(colon - line) : len;
    const char *value = colon ? colon + 1 : line + len;
    size_t value_len = len - (size_t)(value - line);
    if (value_len > 0 && value[0] == ' ') {
        value++;
        value_len--;
    }
    return handle_field(p, line, name_len, value, value_len);
}

/* ---- line splitting ---- */

static const char *find_line_end(const char *in, const char *end)
{
    while (in < end && *in != '\n' && *in != '\r')
        in++;
    return in;
}

/* Cut [in, end) into lines, processing each whole one. */
static int scan(mp_sse_parser *p, const char *in, const char *end)
{
    while (in < end) {
        if (p->after_cr) {
            p->after_cr = false;
            if (*in == '\n') {
                in++;
                continue;
            }
        }
        const char *eol = find_line_end(in, end);
        size_t n = (size_t)(eol - in);
        if (!mp_sbuf_fits(&p->line, n, p->max_size))
            return MP_SSE_E_TOO_BIG;
        int rc = add_bytes(&p->line, in, n);
        if (rc || eol == end)
            return rc;
        p->after_cr = *eol == '\r';
        in = eol + 1;
        rc = process_line(p, mp_sbuf_text(&p->line), p->line.len);
        mp_sbuf_clear(&p->line);
        if (rc)
            return rc;
    }
    return MP_SSE_OK;
}

/* At the start of a stream, consume the bytes of a UTF-8 BOM, however the
 * feeds split it. When the stream turns out to start otherwise, the bytes
 * taken for a BOM prefix are scanned as text. Returns MP_SSE_OK or an
 * error; *in advances past what was consumed. */
static int strip_bom(mp_sse_parser *p, const char **in, const char *end)
{
    while (p->bom_matched >= 0 && *in < end) {
        if (**in == utf8_bom[p->bom_matched]) {
            (*in)++;
            if (++p->bom_matched == (int)sizeof utf8_bom)
                p->bom_matched = -1;
        } else {
            int taken = p->bom_matched;
            p->bom_matched = -1;
            return scan(p, utf8_bom, utf8_bom + taken);
        }
    }
    return MP_SSE_OK;
}

/* ---- public API ---- */

void mp_sse_init(mp_sse_parser *p, const mp_sse_handlers *handlers, void *ud)
{
    *p = (mp_sse_parser){
        .max_size = MP_SSE_DEFAULT_MAX_SIZE,
        .handlers = handlers ? *handlers : (mp_sse_handlers){ 0 },
        .ud = ud,
    };
}

void mp_sse_free(mp_sse_parser *p)
{
    mp_sbuf_free(&p->line);
    mp_sbuf_free(&p->data);
    mp_sbuf_free(&p->type);
    mp_sbuf_free(&p->pending_id);
    mp_sbuf_free(&p->last_id);
}

int mp_sse_feed(mp_sse_parser *p, const void *buf, size_t len)
{
    if (p->error || len == 0)
        return p->error;
    const char *in = buf, *end = in + len;
    int rc = strip_bom(p, &in, end);
    if (rc == MP_SSE_OK)
        rc = scan(p, in, end);
    p->error = rc;
    return rc;
}

void mp_sse_reset(mp_sse_parser *p)
{
    mp_sbuf_clear(&p->line);
    mp_sbuf_clear(&p->data);
    mp_sbuf_clear(&p->type);
    p->error = MP_SSE_OK;
    p->bom_matched = 0;
    p->after_cr = false;
    p->id_pending = false;
}

const char *mp_sse_last_id(const mp_sse_parser *p, size_t *len)
{
    if (len)
        *len = p->has_id ? p->last_id.len : 0;
    return p->has_id ? mp_sbuf_text(&p->last_id) : NULL;
}
