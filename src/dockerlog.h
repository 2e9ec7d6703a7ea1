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
 * the bytes consumed (an unfinished frame is left over). Sets *raw and stops
 * when a header is not a frame header (the stream is not multiplexed). */
size_t mp_docker_demux(const unsigned char *buf, size_t len, mp_demux_fn fn,
                       void *ctx, bool *raw);

#endif
