/* util.h: small helpers shared by every meshd module: monotonic time,
 * condition variables on the monotonic clock, random tokens, and a growable
 * byte buffer. Nothing here knows about HTTP, Postgres or NATS. */
#ifndef MESHD_UTIL_H
#define MESHD_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t now_ms(void);

/* Initialises a condition variable whose timed waits use CLOCK_MONOTONIC. */
void cond_init_monotonic(pthread_cond_t *cond);

/* Waits on cond (mutex held) until the monotonic time deadline_ms at most.
 * Returns false when the deadline passed. */
bool cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *mutex,
                     int64_t deadline_ms);

/* Writes 2*nbytes lowercase hex digits of OS randomness and a NUL into out
 * (which holds 2*nbytes+1). Returns 0, or -1 when the OS gave none. */
int random_hex(char *out, size_t nbytes);

/* A growable byte buffer; len bytes are valid, the first off already read.
 * The text is always NUL-terminated when p is not NULL. */
struct buf {
    char *p;
    size_t len, cap, off;
};

/* Appends printf-formatted text. Returns 0, or -1 when out of memory. */
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_append(struct buf *b, const char *data, size_t n);
void buf_clear(struct buf *b);
void buf_free(struct buf *b);

#endif
