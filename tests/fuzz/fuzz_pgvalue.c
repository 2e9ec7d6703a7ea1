/*
 * fuzz_pgvalue.c: libFuzzer target for the Postgres value conversion
 * (src/pgvalue.c), arrays above all.
 *
 * The first input byte picks a type OID from `types`; the rest is the
 * value's text, passed straight from libFuzzer's buffer (no NUL after it).
 * Checks, beyond "no crash": a conversion fails only for the json types,
 * with a "json" error; a value that is not an array or json comes back as
 * its own type or as the exact input text. Then the same text is read as
 * text[]: when it parses, the array is written back in array_out's syntax
 * (every element quoted and escaped, NULL bare, sub-arrays nested), read
 * again, and must be deeply equal to the first reading.
 */
#include "buf.h"
#include "mpod.h"
#include "pgvalue.h"

#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int luaopen_mpod_json(lua_State *L);

static const unsigned int types[] = {
    PGV_BOOL, PGV_BYTEA, PGV_INT8, PGV_INT2, PGV_INT4, PGV_OID, PGV_JSON,
    PGV_FLOAT4, PGV_FLOAT8, PGV_NUMERIC, PGV_JSONB, PGV_TEXT, 1043, 600,
    1000, 1001, 1005, PGV_INT4_ARRAY, 1016, 1028, 1021, 1022, 1231, 199,
    3807, PGV_TEXT_ARRAY, 1015, 2951, 1182, 1185,
};

static lua_State *L;

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_pgvalue: %s\n", what);
    abort();
}

/* Write the array at idx back in array_out's syntax. */
static void write_array(mp_sbuf *b, int idx)
{
    mp_sbuf_add(b, "{", 1);
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
        if (i > 1)
            mp_sbuf_add(b, ",", 1);
        lua_rawgeti(L, idx, i);
        if (lua_istable(L, -1)) {
            write_array(b, lua_gettop(L));
        } else if (mp_is_null(L, -1)) {
            mp_sbuf_add(b, "NULL", 4);
        } else {
            size_t len;
            const char *s = lua_tolstring(L, -1, &len);
            mp_sbuf_add(b, "\"", 1);
            for (size_t k = 0; k < len; k++) {
                if (s[k] == '"' || s[k] == '\\')
                    mp_sbuf_add(b, "\\", 1);
                mp_sbuf_add(b, s + k, 1);
            }
            mp_sbuf_add(b, "\"", 1);
        }
        lua_pop(L, 1);
    }
    mp_sbuf_add(b, "}", 1);
}

/* Text arrays read back: same shape, same strings, NULLs where they were. */
static bool same_array(int a, int b)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, a);
    if ((lua_Integer)lua_rawlen(L, b) != n)
        return false;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, a, i);
        lua_rawgeti(L, b, i);
        bool same = lua_istable(L, -2) && lua_istable(L, -1)
            ? same_array(lua_gettop(L) - 1, lua_gettop(L))
            : lua_rawequal(L, -2, -1);
        lua_pop(L, 2);
        if (!same)
            return false;
    }
    return true;
}

static int convert(lua_State *S)
{
    mp_pgv_push(S, (unsigned int)lua_tointeger(S, 1), lua_touserdata(S, 2),
                (size_t)lua_tointeger(S, 3));
    return 1;
}

/* Convert text as oid, protected; true with the value pushed. */
static bool pcall_convert(unsigned int oid, const char *text, size_t len)
{
    lua_pushcfunction(L, convert);
    lua_pushinteger(L, oid);
    lua_pushlightuserdata(L, (void *)text);
    lua_pushinteger(L, (lua_Integer)len);
    return lua_pcall(L, 3, 1, 0) == LUA_OK;
}

static bool is_json(unsigned int oid)
{
    return oid == PGV_JSON || oid == PGV_JSONB || oid == 199 || oid == 3807;
}

/* A scalar of a non-json type: its own type, or the exact input text. */
static void check_scalar(unsigned int oid, const char *text, size_t len)
{
    int t = lua_type(L, -1);
    if (t == LUA_TSTRING) {
        size_t n;
        const char *s = lua_tolstring(L, -1, &n);
        bool fallback = n == len && memcmp(s, text, len) == 0;
        if (!fallback && oid != PGV_BYTEA)
            fail("a string that is not the input text");
        return;
    }
    if ((t == LUA_TBOOLEAN) != (oid == PGV_BOOL))
        fail("a boolean for a type that is not bool, or the reverse");
    if (t == LUA_TNUMBER && lua_isinteger(L, -1) &&
        (oid == PGV_FLOAT4 || oid == PGV_FLOAT8))
        fail("an integer from a float type");
    if (t == LUA_TTABLE && oid < 199)
        fail("a table from a scalar type");
}

static void round_trip(const char *text, size_t len)
{
    if (!pcall_convert(PGV_TEXT_ARRAY, text, len))
        fail("reading text[] raised");
    if (!lua_istable(L, -1))
        return;
    mp_sbuf b = { 0 };
    write_array(&b, lua_gettop(L));
    if (!pcall_convert(PGV_TEXT_ARRAY, b.data, b.len))
        fail("reading a written text[] raised");
    if (!lua_istable(L, -1) || !same_array(lua_gettop(L) - 1, lua_gettop(L)))
        fail("a text[] written back reads differently");
    mp_sbuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!L) {
        L = luaL_newstate();
        luaL_openlibs(L);
        luaL_requiref(L, "mpod.json", luaopen_mpod_json, 0);
    }
    lua_settop(L, 0);
    if (size == 0)
        return 0;
    unsigned int oid = types[data[0] % (sizeof types / sizeof types[0])];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    if (pcall_convert(oid, text, len)) {
        if (!is_json(oid))
            check_scalar(oid, text, len);
    } else if (!is_json(oid)) {
        fail("a conversion raised for a type that is not json");
    } else if (lua_getfield(L, -1, "kind") != LUA_TSTRING ||
               strcmp(lua_tostring(L, -1), "json") != 0) {
        fail("a json conversion raised something else than a json error");
    }
    lua_settop(L, 0);
    round_trip(text, len);
    lua_settop(L, 0);
    return 0;
}
