/*
 * dockerlog.c: the Lua module mpod.dockerlog: demultiplexing the log
 * stream of the Docker Engine API.
 *
 * A container without a TTY sends its logs as frames: one header byte for
 * the stream (1 stdout, 2 stderr, 0 stdin), three zero bytes, a 4-byte
 * big-endian payload size, then the payload. demux() takes any bytes, so a
 * frame split across reads is kept for the next call instead of being
 * misread; a header that is not a valid frame header means the stream was
 * not multiplexed (a TTY container) and the bytes are returned as stdout.
 */
#include "dockerlog.h"

#include "mpod.h"

#include <string.h>

#define HEADER 8

size_t mp_docker_demux(const unsigned char *buf, size_t len,
                       mp_demux_fn fn, void *ctx, bool *raw)
{
    size_t off = 0;
    *raw = false;
    while (len - off >= HEADER) {
        const unsigned char *h = buf + off;
        if (h[0] > 2 || h[1] || h[2] || h[3]) {
            *raw = true;
            return off;
        }
        size_t size = ((size_t)h[4] << 24) | ((size_t)h[5] << 16) |
                      ((size_t)h[6] << 8) | (size_t)h[7];
        if (len - off - HEADER < size)
            break;
        fn(ctx, h[0], (const char *)h + HEADER, size);
        off += HEADER + size;
    }
    return off;
}

typedef enum { WANT_STDOUT, WANT_STDERR, WANT_ALL } wanted_stream;

typedef struct {
    luaL_Buffer *buffer;
    wanted_stream want;
} sink;

static void to_buffer(void *ctx, int stream, const char *data, size_t len)
{
    sink *s = ctx;
    if (s->want == WANT_ALL || (stream == 2) == (s->want == WANT_STDERR))
        luaL_addlstring(s->buffer, data, len);
}

/* Push the payloads of the wanted frames; returns how many bytes were
 * whole frames (all of them when the input is not framed). */
static size_t push_stream(lua_State *L, const char *buf, size_t len,
                          wanted_stream want)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    sink s = { &b, want };
    bool raw;
    size_t used = mp_docker_demux((const unsigned char *)buf, len, to_buffer,
                                  &s, &raw);
    if (raw) {
        if (want != WANT_STDERR)
            luaL_addlstring(&b, buf + used, len - used);
        used = len;
    }
    luaL_pushresult(&b);
    return used;
}

/* dockerlog.demux(bytes) -> stdout, stderr, rest (the bytes of an
 * unfinished frame, to put before the next call's). Bytes that are not a
 * multiplexed stream come back whole as stdout. */
static int l_demux(lua_State *L)
{
    size_t len;
    const char *buf = luaL_checklstring(L, 1, &len);
    size_t used = push_stream(L, buf, len, WANT_STDOUT);
    push_stream(L, buf, len, WANT_STDERR);
    lua_pushlstring(L, buf + used, len - used);
    return 3;
}

/* dockerlog.merge(bytes) -> text of every frame in order, rest */
static int l_merge(lua_State *L)
{
    size_t len;
    const char *buf = luaL_checklstring(L, 1, &len);
    size_t used = push_stream(L, buf, len, WANT_ALL);
    lua_pushlstring(L, buf + used, len - used);
    return 2;
}

static const luaL_Reg dockerlog_functions[] = {
    { "demux", l_demux },
    { "merge", l_merge },
    { NULL, NULL }
};

int luaopen_mpod_dockerlog(lua_State *L)
{
    luaL_newlib(L, dockerlog_functions);
    return 1;
}
