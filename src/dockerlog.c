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
 * That is decided on the first header byte that rules a frame out, so a
 * short TTY log is not held back as an unfinished frame, and the decision
 * sticks: the caller passes it back with the next piece of the stream.
 */
#include "dockerlog.h"

#include "mpod.h"

#include <string.h>

#define HEADER 8

/* True when the n bytes at h (n < HEADER allowed) can begin a header:
 * stream 0..2, then three zero bytes. */
static bool header_start(const unsigned char *h, size_t n)
{
    if (n > 0 && h[0] > 2)
        return false;
    for (size_t i = 1; i < n && i < 4; i++)
        if (h[i])
            return false;
    return true;
}

size_t mp_docker_demux(const unsigned char *buf, size_t len,
                       mp_demux_fn fn, void *ctx, bool *raw)
{
    size_t off = 0;
    while (!*raw && off < len) {
        const unsigned char *h = buf + off;
        if (!header_start(h, len - off)) {
            *raw = true;
            break;
        }
        if (len - off < HEADER)
            break;
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
 * whole frames (all of them when the input is not framed) and updates
 * *raw (see mp_docker_demux). */
static size_t push_stream(lua_State *L, const char *buf, size_t len,
                          wanted_stream want, bool *raw)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    sink s = { &b, want };
    size_t used = mp_docker_demux((const unsigned char *)buf, len, to_buffer,
                                  &s, raw);
    if (*raw) {
        if (want != WANT_STDERR)
            luaL_addlstring(&b, buf + used, len - used);
        used = len;
    }
    luaL_pushresult(&b);
    return used;
}

/* dockerlog.demux(bytes [, raw]) -> stdout, stderr, rest, raw: rest is
 * the bytes of an unfinished frame, to put before the next piece of the
 * stream, and raw says the stream turned out not to be multiplexed (its
 * bytes come back whole as stdout); pass both back with the next piece. */
static int l_demux(lua_State *L)
{
    size_t len;
    const char *buf = luaL_checklstring(L, 1, &len);
    bool raw = lua_toboolean(L, 2), raw_too = raw;
    size_t used = push_stream(L, buf, len, WANT_STDOUT, &raw);
    push_stream(L, buf, len, WANT_STDERR, &raw_too);
    lua_pushlstring(L, buf + used, len - used);
    lua_pushboolean(L, raw);
    return 4;
}

/* dockerlog.merge(bytes [, raw]) -> text of every frame in order, rest,
 * raw (as for demux) */
static int l_merge(lua_State *L)
{
    size_t len;
    const char *buf = luaL_checklstring(L, 1, &len);
    bool raw = lua_toboolean(L, 2);
    size_t used = push_stream(L, buf, len, WANT_ALL, &raw);
    lua_pushlstring(L, buf + used, len - used);
    lua_pushboolean(L, raw);
    return 3;
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
