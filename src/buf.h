/*
 * buf.h: the engine's one growable byte buffer, mp_sbuf. Pure C, no Lua.
 *
 * The content is data[0 .. len). Bytes are appended at the end and
 * consumed from the front (a stream's input, an output queue): consuming
 * moves `data` forward in its allocation, and the room it frees is
 * reclaimed when the buffer empties or must grow. Once allocated the
 * buffer is NUL-terminated (data[len] == '\0'), so text can be handed to C
 * string functions; before that data is NULL and len 0. A zeroed mp_sbuf
 * is an empty buffer.
 *
 * Allocation failure: the functions that return a bool or a pointer
 * report it (false, NULL) and leave the buffer as it was, for code that
 * must go on (an HTTP body, an SSE stream, a pipe's input). The mp_sbuf_add
 * family aborts instead, for small texts whose half would be worse than
 * nothing (reports). A size cap is the caller's: mp_sbuf_fits says whether
 * more bytes stay within one.
 */
#ifndef MPOD_BUF_H
#define MPOD_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef struct {
    char *data;          /* the content; NUL-terminated once allocated */
    size_t len;
    size_t head;         /* bytes consumed before data in its allocation */
    size_t cap;          /* the allocation's size */
} mp_sbuf;

/* Room for n more bytes after the content (and the NUL), growing the
 * buffer: mp_sbuf_reserve's slow path. */
char *mp_sbuf_grow(mp_sbuf *b, size_t n);

/* The small functions below are inline: the SSE parser and the HTTP
 * callbacks call them for every line and chunk. */

/* Room for n more bytes after the content (and the NUL): a pointer to it,
 * or NULL when out of memory. Write there, then mp_sbuf_commit. */
static inline char *mp_sbuf_reserve(mp_sbuf *b, size_t n)
{
    if (n < b->cap - b->head - b->len)     /* 0 before the first allocation */
        return b->data + b->len;
    return mp_sbuf_grow(b, n);
}

/* The first n bytes written at mp_sbuf_reserve's pointer join the
 * content (n at most what was reserved). */
static inline void mp_sbuf_commit(mp_sbuf *b, size_t n)
{
    b->len += n;
    b->data[b->len] = '\0';
}

/* Append n bytes of s; false when out of memory. */
static inline bool mp_sbuf_append(mp_sbuf *b, const void *s, size_t n)
{
    char *room = mp_sbuf_reserve(b, n);
    if (!room)
        return false;
    if (n)
        memcpy(room, s, n);
    mp_sbuf_commit(b, n);
    return true;
}

/* Whether n more bytes keep the content within max bytes (also when the
 * content already holds more than max: then never). */
static inline bool mp_sbuf_fits(const mp_sbuf *b, size_t n, size_t max)
{
    return b->len <= max && n <= max - b->len;
}

/* The content as a C string: "" before the first allocation. */
static inline const char *mp_sbuf_text(const mp_sbuf *b)
{
    return b->data ? b->data : "";
}

/* Empty the buffer, keeping its memory. */
static inline void mp_sbuf_clear(mp_sbuf *b)
{
    b->len = 0;
    if (!b->data)
        return;
    b->data -= b->head;
    b->head = 0;
    b->data[0] = '\0';
}

/* Drop the first n bytes of the content (n at most len). */
void mp_sbuf_consume(mp_sbuf *b, size_t n);

/* Keep the first n bytes of the content (n at most len). */
void mp_sbuf_truncate(mp_sbuf *b, size_t n);

/* Release the memory; b is an empty buffer again. */
void mp_sbuf_free(mp_sbuf *b);

/* Append, aborting when out of memory: n bytes of s, a C string, or
 * printf-style formatted text. */
void mp_sbuf_add(mp_sbuf *b, const char *s, size_t n);
void mp_sbuf_adds(mp_sbuf *b, const char *s);
void mp_sbuf_addf(mp_sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
