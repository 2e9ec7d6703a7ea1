/*
 * dockerlog.h: demultiplexing Docker Engine API log frames (dockerlog.c),
 * pure C so the fuzz target and the unit test can drive it directly.
 */
#ifndef MPOD_DOCKERLOG_H
#define MPOD_DOCKERLOG_H

#include <stdbool.h>
#include <stddef.h>

/* Called for each whole frame: stream 0 stdin, 1 stdout, 2 stderr. */
typedef void (*mp_demux_fn)(void *ctx, int stream, const char *data,
                            size_t len);

/* Walk the whole frames at the start of buf, calling fn for each; returns
 * the bytes consumed (an unfinished frame is left over). *raw says whether
 * the stream is known not to be multiplexed (a TTY container's): when a
 * header, even an unfinished one, cannot start a frame it becomes true and
 * the walk stops there; when it is true on entry nothing is walked. Either
 * way the bytes from the returned offset on are plain output, and a caller
 * feeding a stream in pieces passes the same flag back with the next. */
size_t mp_docker_demux(const unsigned char *buf, size_t len, mp_demux_fn fn,
                       void *ctx, bool *raw);

#endif
