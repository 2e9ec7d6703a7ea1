/*
 * test_dockerlog.c: unit tests for the Docker log demultiplexer
 * (src/dockerlog.c).
 *
 * A recorder turns every frame into "<stream>:<payload>|" and the plain
 * output of a stream that is not multiplexed into "raw:<bytes>|" (one
 * record for a run of it, however many calls it took), with
 * control bytes shown as \n, \0, \xHH, so each case states the whole
 * expected output, the bytes consumed and the raw flag. Cases that feed a
 * stream in pieces go through feed(), a streaming caller: the unconsumed
 * bytes go before the next piece and the raw flag is passed back.
 */
#include "dockerlog.h"
#include "mpod.h"
#include "tap.h"

#include <lualib.h>
#include <stdlib.h>

int luaopen_mpod_dockerlog(lua_State *L);

typedef struct {
    char text[4096];
    size_t len;
    bool in_raw;        /* the last record is raw output: extend it */
} recorder;

static void put(recorder *r, const char *s, size_t len)
{
    for (size_t i = 0; i < len && r->len + 5 < sizeof r->text; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n')
            r->len += (size_t)snprintf(r->text + r->len, 3, "\\n");
        else if (c < 0x20 || c >= 0x7f)
            r->len += (size_t)snprintf(r->text + r->len, 5, "\\x%02X", c);
        else
            r->text[r->len++] = (char)c;
    }
    r->text[r->len] = '\0';
}

static void on_frame(void *ctx, int stream, const char *data, size_t len)
{
    recorder *r = ctx;
    char head[4] = { (char)('0' + stream), ':', 0 };
    put(r, head, 2);
    put(r, data, len);
    put(r, "|", 1);
    r->in_raw = false;
}

/* demux once; records raw output too. Returns the bytes consumed. */
static size_t demux(recorder *r, const char *buf, size_t len, bool *raw)
{
    size_t used = mp_docker_demux((const unsigned char *)buf, len, on_frame,
                                  r, raw);
    if (*raw && used < len) {
        if (r->in_raw)
            r->len--;               /* drop the "|" and go on */
        else
            put(r, "raw:", 4);
        put(r, buf + used, len - used);
        put(r, "|", 1);
        r->in_raw = true;
        used = len;
    }
    return used;
}

/* Feed buf cut at the given offsets (ascending, 0-terminated list) as a
 * streaming caller does; returns the rest left at the end. */
static size_t feed(recorder *r, const char *buf, size_t len,
                   const size_t *cuts, bool *raw)
{
    char pending[256];
    size_t pending_len = 0, pos = 0;
    *raw = false;
    for (int i = 0;; i++) {
        size_t end = cuts[i] ? cuts[i] : len;
        memcpy(pending + pending_len, buf + pos, end - pos);
        pending_len += end - pos;
        pos = end;
        size_t used = demux(r, pending, pending_len, raw);
        memmove(pending, pending + used, pending_len - used);
        pending_len -= used;
        if (!cuts[i])
            break;
    }
    return pending_len;
}

#define S(lit) lit, sizeof lit - 1
#define OUT1 "\x01\0\0\0\0\0\0\x06hello\n"
#define ERR1 "\x02\0\0\0\0\0\0\x05oops\n"

static void test_frames(void)
{
    recorder r = { 0 };
    bool raw = false;
    is_int(demux(&r, S(OUT1 ERR1), &raw), 27, "two whole frames are consumed");
    is_str(r.text, "1:hello\\n|2:oops\\n|", "stdout and stderr frames, in order");
    ok(!raw, "a multiplexed stream is not raw");

    r = (recorder){ 0 };
    is_int(demux(&r, S("\x01\0\0\0\0\0\0\0" "\x00\0\0\0\0\0\0\x02in"), &raw), 18,
           "an empty frame and a stdin frame");
    is_str(r.text, "1:|0:in|", "an empty payload is a frame too");
}

static void test_unfinished(void)
{
    recorder r = { 0 };
    bool raw = false;
    is_int(demux(&r, S(OUT1 "\x02\0\0"), &raw), 14,
           "an unfinished header is left over");
    ok(!raw, "a header that may still be one is not raw");
    r = (recorder){ 0 };
    is_int(demux(&r, S(OUT1 "\x02\0\0\0\0\0\0\x05oo"), &raw), 14,
           "an unfinished payload is left over");
    is_str(r.text, "1:hello\\n|", "only the whole frame is reported");
    r = (recorder){ 0 };
    is_int(demux(&r, S("\x01\0\0\0\xff\xff\xff\xff" "abc"), &raw), 0,
           "a 4 GiB frame waits for its payload");
    ok(!raw, "a large size is not mistaken for text");
}

static void test_raw(void)
{
    recorder r = { 0 };
    bool raw = false;
    is_int(demux(&r, S("plain TTY output\n"), &raw), 17, "a TTY stream is consumed");
    is_str(r.text, "raw:plain TTY output\\n|", "and comes back as plain output");
    ok(raw, "the stream is raw");

    r = (recorder){ 0 };
    raw = false;
    demux(&r, S("hi\n"), &raw);
    is_str(r.text, "raw:hi\\n|", "a TTY log shorter than a header is not held back");

    r = (recorder){ 0 };
    raw = false;
    demux(&r, S(OUT1 "then text"), &raw);
    is_str(r.text, "1:hello\\n|raw:then text|", "frames, then text that is not a frame");

    r = (recorder){ 0 };
    raw = false;
    demux(&r, S("\x01\0\x01\0\0\0\0\x01x"), &raw);
    is_str(r.text, "raw:\\x01\\x00\\x01\\x00\\x00\\x00\\x00\\x01x|",
           "a header with a non-zero padding byte is not a frame");

    r = (recorder){ 0 };
    raw = false;
    demux(&r, S("\x03\0\0\0\0\0\0\x01x"), &raw);
    ok(raw, "stream number 3 is not a frame");

    r = (recorder){ 0 };
    raw = true;
    is_int(demux(&r, S(OUT1), &raw), 14, "a stream known to be raw stays raw");
    is_str(r.text, "raw:\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x06hello\\n|",
           "even when its bytes look like a frame");
}

/* A stream fed in two pieces, cut at every offset, and byte by byte, must
 * give what it gives whole. */
static void test_pieces(void)
{
    static const char *const streams[] = {
        OUT1 ERR1, OUT1 "text after\n", "TTY\n" OUT1,
    };
    static const size_t lens[] = { 27, 25, 18 };
    for (size_t s = 0; s < 3; s++) {
        recorder whole = { 0 };
        bool raw_whole, raw;
        size_t none[] = { 0 };
        size_t rest_whole = feed(&whole, streams[s], lens[s], none, &raw_whole);
        bool all_same = true;
        for (size_t cut = 1; cut < lens[s]; cut++) {
            recorder r = { 0 };
            size_t cuts[] = { cut, 0 };
            size_t rest = feed(&r, streams[s], lens[s], cuts, &raw);
            all_same &= strcmp(r.text, whole.text) == 0 && rest == rest_whole
                        && raw == raw_whole;
        }
        ok(all_same, "stream %zu: two pieces cut anywhere give the whole output", s);
        recorder r = { 0 };
        size_t bytes[64];
        for (size_t i = 0; i + 1 < lens[s]; i++)
            bytes[i] = i + 1;
        bytes[lens[s] - 1] = 0;
        feed(&r, streams[s], lens[s], bytes, &raw);
        is_str(r.text, whole.text, "stream %zu: byte by byte too", s);
    }
}

/* The Lua functions: demux -> stdout, stderr, rest, raw; merge -> text,
 * rest, raw; raw passed back with the next piece. */
static void test_lua(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "dl", luaopen_mpod_dockerlog, 1);
    lua_pop(L, 1);
    static const char script[] =
        "local o, e, rest, raw = dl.demux('\\1\\0\\0\\0\\0\\0\\0\\3out\\2\\0\\0\\0\\0\\0\\0\\3err\\1\\0')\n"
        "assert(o == 'out' and e == 'err' and rest == '\\1\\0' and raw == false, 'demux')\n"
        "local t, rest2, raw2 = dl.merge('\\2\\0\\0\\0\\0\\0\\0\\1a\\1\\0\\0\\0\\0\\0\\0\\1b')\n"
        "assert(t == 'ab' and rest2 == '' and raw2 == false, 'merge keeps order')\n"
        "local t3, rest3, raw3 = dl.merge('tty')\n"
        "assert(t3 == 'tty' and rest3 == '' and raw3 == true, 'short tty')\n"
        "local t4 = dl.merge('\\1\\0\\0\\0\\0\\0\\0\\1x', true)\n"
        "assert(t4 == '\\1\\0\\0\\0\\0\\0\\0\\1x', 'raw passed back')\n"
        "local o5, e5 = dl.demux('tty text', false)\n"
        "assert(o5 == 'tty text' and e5 == '', 'raw is stdout')\n";
    bool passed = luaL_dostring(L, script) == LUA_OK;
    ok(passed, "dockerlog.demux and dockerlog.merge from Lua");
    if (!passed)
        printf("#   %s\n", lua_tostring(L, -1));
    lua_close(L);
}

int main(void)
{
    test_frames();
    test_unfinished();
    test_raw();
    test_pieces();
    test_lua();
    return done_testing();
}
