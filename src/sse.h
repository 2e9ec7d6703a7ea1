/*
 * sse.h: an incremental parser for the text/event-stream format (WHATWG
 * HTML, "Server-sent events", section "Parsing an event stream"). Pure C,
 * no Lua: the HTTP binding feeds it the body bytes as they arrive and turns
 * the callbacks into Lua values.
 *
 * Usage:
 *
 *     mp_sse_parser p;
 *     mp_sse_init(&p, &(mp_sse_handlers){ .on_event = got_event }, ctx);
 *     while (body bytes arrive)
 *         if (mp_sse_feed(&p, buf, len) != MP_SSE_OK) ... give up ...
 *     mp_sse_reset(&p);      (stream ended; before feeding a reconnection)
 *     mp_sse_free(&p);
 *
 * The parser follows the spec's rules exactly: one UTF-8 BOM is stripped at
 * the start of a stream; lines end in CRLF, LF or CR, also when a CRLF pair
 * is split between two feeds; ':' lines are comments; `data`, `event`, `id`
 * (ignored when the value holds a NUL byte) and `retry` (digits only) are
 * the fields, others are ignored; an empty line dispatches the event unless
 * its data is empty. Output never depends on how the input was split.
 *
 * Invariants: memory is bounded by max_size (one line, one event's data);
 * a feed that would exceed it fails with MP_SSE_E_TOO_BIG and the parser
 * stays failed (every later feed returns the same code) until mp_sse_reset.
 * Callbacks run inside mp_sse_feed; they must not feed, reset or free the
 * same parser. Strings handed to callbacks are NUL-terminated and valid
 * only during the call; `data` may itself contain NUL bytes, so use the
 * lengths.
 */
#ifndef MPOD_SSE_H
#define MPOD_SSE_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MP_SSE_DEFAULT_MAX_SIZE ((size_t)16 << 20)

enum {
    MP_SSE_OK = 0,
    MP_SSE_E_TOO_BIG = -1,   /* a line or an event's data beyond max_size */
    MP_SSE_E_NO_MEMORY = -2  /* malloc failed */
};

/* One dispatched event. `type` is "message" unless an `event` field named
 * another. `id` is the last event ID as it stands at dispatch: it persists
 * across events (and mp_sse_reset) until an `id` field changes it; has_id
 * stays false (and id "") until some dispatch has taken an `id` field. */
typedef struct {
    const char *type;
    size_t type_len;
    const char *data;
    size_t data_len;
    const char *id;
    size_t id_len;
    bool has_id;
} mp_sse_event;

/* Any handler may be NULL. on_retry receives the `retry` field's value in
 * milliseconds (saturating at UINT64_MAX); on_comment the text after the
 * ':' of a comment line, spaces included (heartbeats are often ": ping"). */
typedef struct {
    void (*on_event)(void *ud, const mp_sse_event *ev);
    void (*on_retry)(void *ud, uint64_t ms);
    void (*on_comment)(void *ud, const char *text, size_t len);
} mp_sse_handlers;

/* The parser. Set max_size after mp_sse_init to change the limit; the
 * fields below it are private. */
typedef struct {
    size_t max_size;          /* default MP_SSE_DEFAULT_MAX_SIZE */

    mp_sse_handlers handlers;
    void *ud;
    int error;                /* sticky: MP_SSE_OK or the failing code */
    int bom_matched;          /* BOM bytes seen at stream start; -1: done */
    bool after_cr;            /* the last line ended in CR: skip one LF */
    bool id_pending;          /* pending_id was set since the last dispatch */
    bool has_id;              /* last_id holds a dispatched id */
    mp_sbuf line;             /* the current incomplete line */
    mp_sbuf data;
    mp_sbuf type;
    mp_sbuf pending_id;       /* the spec's "last event ID buffer" */
    mp_sbuf last_id;          /* the id as of the last dispatch */
} mp_sse_parser;

/* Prepare p; handlers are copied, ud is passed to every handler. */
void mp_sse_init(mp_sse_parser *p, const mp_sse_handlers *handlers, void *ud);

/* Release p's memory. p may be initialised again afterwards. */
void mp_sse_free(mp_sse_parser *p);

/* Parse len bytes of the stream, calling handlers for what completes.
 * Returns MP_SSE_OK or a negative MP_SSE_E_* code (see above). */
int mp_sse_feed(mp_sse_parser *p, const void *buf, size_t len);

/* The stream ended (or is being replaced by a reconnection): discard the
 * incomplete line and event, clear a failure, and expect a BOM again. The
 * last event ID survives, and the next stream's events carry it until it
 * sends an `id` of its own. */
void mp_sse_reset(mp_sse_parser *p);

/* The last event ID as of the last dispatch (what a client sends as
 * Last-Event-ID on reconnect, if not empty), or NULL when no `id` field
 * was ever dispatched. *len receives its length when len is not NULL. */
const char *mp_sse_last_id(const mp_sse_parser *p, size_t *len);

#endif
