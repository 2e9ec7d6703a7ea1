/*
 * buf.c: the growable byte buffer declared in buf.h.
 *
 * Growth doubles the allocation (at least MIN_CAP bytes, at least what is
 * asked for, so one large reservation allocates what it needs and no
 * more). Before growing, bytes consumed from the front are given back by
 * moving the content down; a buffer that empties starts at its
 * allocation's front again, so a queue that is drained as fast as it is
 * filled never moves a byte.
 */
#include "buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_CAP 256

/* Move the content to the front of its allocation. */
static void compact(mp_sbuf *b)
{
    char *base = b->data - b->head;
    memmove(base, b->data, b->len + 1);
    b->data = base;
    b->head = 0;
}

char *mp_sbuf_grow(mp_sbuf *b, size_t n)
{
    if (n >= SIZE_MAX - b->len)
        return NULL;
    size_t need = b->len + n + 1;
    if (b->head > 0) {
        compact(b);
        if (need <= b->cap)
            return b->data + b->len;
    }
    size_t cap = b->cap > SIZE_MAX / 2 ? SIZE_MAX : 2 * b->cap;
    if (cap < need)
        cap = need;
    if (cap < MIN_CAP)
        cap = MIN_CAP;
    char *data = realloc(b->data, cap);
    if (!data)
        return NULL;
    if (!b->data)
        data[0] = '\0';
    b->data = data;
    b->cap = cap;
    return data + b->len;
}

void mp_sbuf_consume(mp_sbuf *b, size_t n)
{
    if (n == b->len) {
        mp_sbuf_clear(b);
        return;
    }
    b->data += n;
    b->head += n;
    b->len -= n;
}

void mp_sbuf_truncate(mp_sbuf *b, size_t n)
{
    b->len = n;
    if (b->data)
        b->data[n] = '\0';
}

void mp_sbuf_free(mp_sbuf *b)
{
    if (b->data)
        free(b->data - b->head);
    *b = (mp_sbuf){ 0 };
}

void mp_sbuf_add(mp_sbuf *b, const char *s, size_t n)
{
    if (!mp_sbuf_append(b, s, n))
        abort();
}

void mp_sbuf_adds(mp_sbuf *b, const char *s)
{
    mp_sbuf_add(b, s, strlen(s));
}

void mp_sbuf_addf(mp_sbuf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        mp_sbuf_add(b, small, (size_t)n);
        return;
    }
    char *room = mp_sbuf_reserve(b, (size_t)n);
    if (!room)
        abort();
    va_start(ap, fmt);
    vsnprintf(room, (size_t)n + 1, fmt, ap);
    va_end(ap);
    mp_sbuf_commit(b, (size_t)n);
}
