/*
 * fuzz_dockerlog.c: libFuzzer target for the Docker log demultiplexer
 * (src/dockerlog.c).
 *
 * A differential check: each input is demultiplexed whole, then fed in
 * pseudo-random pieces (derived from the input) the way a streaming caller
 * does, through the `rest` mechanism: the unconsumed bytes go before the
 * next piece, and the raw flag is passed back. Both must give the same
 * transcript (every frame with its stream, then the plain output of a
 * stream that is not multiplexed), the same final rest and the same flag.
 * This runs twice: on mp_docker_demux in C, where every call gets a buffer
 * of exactly its size so ASan sees any read past it, and on the Lua
 * functions dockerlog.demux and dockerlog.merge. Frames must also account
 * for exactly the bytes reported consumed.
 */
#include "dockerlog.h"
#include "mpod.h"

#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int luaopen_mpod_dockerlog(lua_State *L);

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_dockerlog: %s\n", what);
    abort();
}

/* ---- C level ---- */

typedef struct {
    FILE *out;
    char *bytes;
    size_t len;
    size_t consumed;        /* header + payload of the frames of one call */
    const unsigned char *buf;
    size_t buf_len;
} transcript;

static void on_frame(void *ctx, int stream, const char *data, size_t len)
{
    transcript *t = ctx;
    if (stream < 0 || stream > 2)
        fail("a frame with a stream number other than 0, 1, 2");
    if ((const unsigned char *)data < t->buf + 8
        || (const unsigned char *)data + len > t->buf + t->buf_len)
        fail("a frame payload outside the buffer");
    fputc('F', t->out);
    fputc(stream, t->out);
    fwrite(&len, sizeof len, 1, t->out);
    fwrite(data, 1, len, t->out);
    t->consumed += 8 + len;
}

/* One call as a streaming caller makes it: buf is a private copy of
 * exactly len bytes; returns the bytes consumed, raw output recorded. */
static size_t demux_call(transcript *t, const unsigned char *data, size_t len,
                         bool *raw)
{
    unsigned char *buf = malloc(len ? len : 1);
    if (len)
        memcpy(buf, data, len);
    t->buf = buf;
    t->buf_len = len;
    t->consumed = 0;
    bool was_raw = *raw;
    size_t used = mp_docker_demux(buf, len, on_frame, t, raw);
    if (used > len || used != t->consumed)
        fail("consumed bytes do not match the frames");
    if (was_raw && (used != 0 || !*raw))
        fail("a raw stream was walked as frames");
    if (*raw && used < len) {
        size_t n = len - used;
        fputc('R', t->out);
        fwrite(&n, sizeof n, 1, t->out);
        fwrite(buf + used, 1, n, t->out);
        used = len;
    }
    free(buf);
    return used;
}

static uint64_t next_random(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

static uint64_t seed_from(const uint8_t *data, size_t size)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 0x100000001b3u;
    return h ? h : 1;
}

static size_t piece_size(uint64_t *seed, size_t left)
{
    uint64_t r = next_random(seed);
    size_t piece = 1 + r % ((r >> 32) & 1 ? 9 : 61);
    return piece < left ? piece : left;
}

/* Records are 'F' stream size payload and 'R' size bytes (raw output,
 * one record per call); merge runs of 'R' so that whole and split
 * transcripts compare. */
static void normalize(transcript *t)
{
    size_t w = 0, raw_head = 0;
    bool in_raw = false;
    for (size_t r = 0; r < t->len;) {
        char kind = t->bytes[r];
        size_t head = kind == 'F' ? 2 : 1, len;
        memcpy(&len, t->bytes + r + head, sizeof len);
        if (kind == 'R' && in_raw) {
            size_t total;
            memcpy(&total, t->bytes + raw_head + 1, sizeof total);
            total += len;
            memcpy(t->bytes + raw_head + 1, &total, sizeof total);
            memmove(t->bytes + w, t->bytes + r + head + sizeof len, len);
            w += len;
        } else {
            size_t n = head + sizeof len + len;
            if (kind == 'R')
                raw_head = w;
            memmove(t->bytes + w, t->bytes + r, n);
            w += n;
        }
        in_raw = kind == 'R';
        r += head + sizeof len + len;
    }
    t->len = w;
}

/* Feed the input whole (seed 0) or in pieces; rest and raw at the end. */
static void feed(const uint8_t *data, size_t size, uint64_t seed,
                 transcript *t, unsigned char **rest, size_t *rest_len,
                 bool *raw)
{
    *t = (transcript){ 0 };
    t->out = open_memstream(&t->bytes, &t->len);
    *raw = false;
    unsigned char *pending = NULL;
    size_t pending_len = 0;
    for (size_t pos = 0; pos < size || (pos == 0 && size == 0);) {
        size_t piece = seed ? piece_size(&seed, size - pos) : size;
        unsigned char *buf = malloc(pending_len + piece + 1);
        if (pending_len)
            memcpy(buf, pending, pending_len);
        if (piece)
            memcpy(buf + pending_len, data + pos, piece);
        size_t len = pending_len + piece;
        size_t used = demux_call(t, buf, len, raw);
        free(pending);
        pending_len = len - used;
        pending = malloc(pending_len + 1);
        memcpy(pending, buf + used, pending_len);
        free(buf);
        pos += piece;
        if (size == 0)
            break;
    }
    fclose(t->out);
    normalize(t);
    *rest = pending;
    *rest_len = pending_len;
}

static void check_c(const uint8_t *data, size_t size)
{
    transcript whole, split;
    unsigned char *rest_w, *rest_s;
    size_t len_w, len_s;
    bool raw_w, raw_s;
    feed(data, size, 0, &whole, &rest_w, &len_w, &raw_w);
    feed(data, size, seed_from(data, size), &split, &rest_s, &len_s, &raw_s);
    if (whole.len != split.len || memcmp(whole.bytes, split.bytes, whole.len))
        fail("whole and split feeding give different output");
    if (len_w != len_s || memcmp(rest_w, rest_s, len_w) || raw_w != raw_s)
        fail("whole and split feeding leave a different rest");
    if (raw_w && len_w)
        fail("a raw stream left a rest");
    free(whole.bytes);
    free(split.bytes);
    free(rest_w);
    free(rest_s);
}

/* ---- Lua level ---- */

static lua_State *L;

/* The Lua streaming loop, in Lua: whole vs pieces, demux and merge. */
static const char lua_check[] =
    "local dl, data, cuts = ...\n"
    "local function run(fn, pieces)\n"
    "  local out, err, rest, raw = {}, {}, '', false\n"
    "  for _, p in ipairs(pieces) do\n"
    "    local a, b, c, d = fn(rest .. p, raw)\n"
    "    if fn == dl.demux then out[#out+1], err[#err+1], rest, raw = a, b, c, d\n"
    "    else out[#out+1], rest, raw = a, b, c end\n"
    "  end\n"
    "  return table.concat(out), table.concat(err), rest, raw\n"
    "end\n"
    "local pieces, pos = {}, 1\n"
    "for _, n in ipairs(cuts) do pieces[#pieces+1] = data:sub(pos, pos + n - 1); pos = pos + n end\n"
    "pieces[#pieces+1] = data:sub(pos)\n"
    "for _, fn in ipairs { dl.demux, dl.merge } do\n"
    "  local a = table.pack(run(fn, { data }))\n"
    "  local b = table.pack(run(fn, pieces))\n"
    "  for i = 1, 4 do\n"
    "    if a[i] ~= b[i] then error('whole and split differ in result ' .. i) end\n"
    "  end\n"
    "end\n";

/* A fresh state per input: a long-lived one grows between collections and
 * makes every run look like a leak to LeakSanitizer (slow). */
static void check_lua(const uint8_t *data, size_t size)
{
    L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "mpod.dockerlog", luaopen_mpod_dockerlog, 0);
    lua_pop(L, 1);
    if (luaL_loadbufferx(L, lua_check, sizeof lua_check - 1, "=check", "t"))
        fail(lua_tostring(L, -1));
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, "mpod.dockerlog");
    lua_remove(L, -2);
    lua_pushlstring(L, (const char *)data, size);
    lua_newtable(L);
    uint64_t seed = seed_from(data, size) ^ 0x9e3779b97f4a7c15u;
    size_t pos = 0;
    for (lua_Integer i = 1; pos < size; i++) {
        size_t piece = piece_size(&seed, size - pos);
        lua_pushinteger(L, (lua_Integer)piece);
        lua_rawseti(L, -2, i);
        pos += piece;
    }
    if (lua_pcall(L, 3, 0, 0) != LUA_OK)
        fail(lua_tostring(L, -1));
    lua_close(L);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_c(data, size);
    check_lua(data, size);
    return 0;
}
