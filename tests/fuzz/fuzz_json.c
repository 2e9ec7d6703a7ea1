/*
 * fuzz_json.c: libFuzzer target for the JSON module (src/json.c).
 *
 * A differential round trip, not only "no crash". Each input is decoded
 * with mp_json_decode straight from libFuzzer's buffer (no NUL after it).
 * A failure must be a "json" error whose position lies within the input.
 * A value v1 must then encode (the one allowed failure: an object key with
 * a NUL byte, which cJSON cannot write), decode back to a value deeply equal
 * to v1 (same types, same integer or float subtype and bits, same bytes, the
 * same null), and encode again to the very same text, which also proves
 * that arrays stayed arrays. The pretty and unsorted encodings must decode
 * to v1 as well. The decoder is its own parser, stricter than cJSON: a text
 * it takes must be one cJSON parses too, to its last non-blank byte (cJSON
 * is the independent judge of the structure).
 */
#include "mpod.h"

#include <cjson/cJSON.h>
#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The opener of src/json.c (module openers have no header: src/gen_modules.sh
 * registers them). */
int luaopen_mpod_json(lua_State *L);

static lua_State *L;

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_json: %s\n", what);
    abort();
}

static bool equal(int a, int b);

/* Tables: the same keys with equal values. */
static bool equal_tables(int a, int b)
{
    size_t count = 0;
    luaL_checkstack(L, 6, "fuzz_json");
    lua_pushnil(L);
    while (lua_next(L, a)) {
        lua_pushvalue(L, -2);
        lua_rawget(L, b);
        bool same = equal(lua_gettop(L) - 1, lua_gettop(L));
        lua_pop(L, 2);
        if (!same) {
            lua_pop(L, 1);
            return false;
        }
        count++;
    }
    lua_pushnil(L);
    while (lua_next(L, b)) {
        lua_pop(L, 1);
        count--;
    }
    return count == 0;
}

static bool equal(int a, int b)
{
    if (lua_type(L, a) != lua_type(L, b))
        return false;
    if (lua_type(L, a) == LUA_TTABLE)
        return equal_tables(a, b);
    if (lua_type(L, a) != LUA_TNUMBER)
        return lua_rawequal(L, a, b);
    if (lua_isinteger(L, a) != lua_isinteger(L, b))
        return false;
    if (lua_isinteger(L, a))
        return lua_tointeger(L, a) == lua_tointeger(L, b);
    double x = lua_tonumber(L, a), y = lua_tonumber(L, b);
    return memcmp(&x, &y, sizeof x) == 0;
}

static int decode_input(lua_State *S)
{
    mp_json_decode(S, lua_touserdata(S, 1), (size_t)lua_tointeger(S, 2));
    return 1;
}

/* json.<fn>(value at idx [, {<option> = <flag>}]), protected: true with the
 * result pushed, or false with the error pushed. */
static bool json_call(const char *fn, int idx, const char *option, bool flag)
{
    lua_getglobal(L, "json");
    lua_getfield(L, -1, fn);
    lua_remove(L, -2);
    lua_pushvalue(L, idx);
    if (option) {
        lua_createtable(L, 0, 1);
        lua_pushboolean(L, flag);
        lua_setfield(L, -2, option);
    }
    return lua_pcall(L, option ? 2 : 1, 1, 0) == LUA_OK;
}

static void check_error(int err, size_t size)
{
    if (lua_getfield(L, err, "kind") != LUA_TSTRING
        || strcmp(lua_tostring(L, -1), "json") != 0)
        fail("a decode error that is not a json error");
    lua_getfield(L, err, "position");
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0
        || (size_t)lua_tointeger(L, -1) > size)
        fail("a decode error position outside the input");
}

/* Encode v1 (at index 1) with an option and check it decodes to v1. */
static void check_variant(const char *option, bool flag)
{
    if (!json_call("encode", 1, option, flag))
        fail("an encoding variant failed where the plain one worked");
    if (!json_call("decode", lua_gettop(L), NULL, false) || !equal(1, lua_gettop(L)))
        fail("an encoding variant does not decode to the same value");
    lua_pop(L, 2);
}

static void round_trip(void)
{
    if (!json_call("encode", 1, NULL, false)) {
        lua_getfield(L, -1, "message");
        const char *msg = lua_tostring(L, -1);
        if (!msg || !strstr(msg, "object key with a NUL byte"))
            fail("a decoded value does not encode");
        return;
    }
    size_t n1, n2;
    const char *s1 = lua_tolstring(L, 2, &n1);
    if (!json_call("decode", 2, NULL, false))
        fail("encoded text does not decode");
    if (!equal(1, 3))
        fail("the round trip changed the value");
    if (!json_call("encode", 3, NULL, false))
        fail("the decoded round trip does not encode");
    const char *s2 = lua_tolstring(L, 4, &n2);
    if (n1 != n2 || memcmp(s1, s2, n1) != 0)
        fail("encoding is not stable across a round trip");
    lua_settop(L, 1);
    check_variant("pretty", true);
    check_variant("sort_keys", false);
}

static void setup(void)
{
    L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "mpod.json", luaopen_mpod_json, 0);
    lua_setglobal(L, "json");
}

/* A text the decoder took must be JSON to cJSON as well, all of it. */
static void check_cjson_agrees(const uint8_t *data, size_t size)
{
    /* with a NUL after it, counted: cJSON looks one byte past a BOM */
    char *text = malloc(size + 1);
    if (!text)
        fail("out of memory");
    memcpy(text, data, size);
    text[size] = '\0';
    const char *end = NULL;
    cJSON *tree = cJSON_ParseWithLengthOpts(text, size + 1, &end, 0);
    bool parsed = tree != NULL;
    size_t rest = parsed ? (size_t)(end - text) : 0;
    cJSON_Delete(tree);
    free(text);
    if (!parsed)
        fail("decoded a text that cJSON rejects");
    while (rest < size && strchr(" \t\r\n", data[rest]) && data[rest])
        rest++;
    if (rest != size)
        fail("decoded a text with data after the value that cJSON left");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!L)
        setup();
    lua_settop(L, 0);
    lua_pushcfunction(L, decode_input);
    lua_pushlightuserdata(L, (void *)data);
    lua_pushinteger(L, (lua_Integer)size);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK) {
        check_error(1, size);
    } else {
        check_cjson_agrees(data, size);
        round_trip();
    }
    lua_settop(L, 0);
    return 0;
}
