/*
 * pgvalue.c: Postgres text-format values to Lua values by type OID, and
 * Lua values to query parameters (pgvalue.h).
 *
 * Integers (int2, int4, int8, oid) become Lua integers; float4/float8 Lua
 * floats (NaN, Infinity); numeric an integer when its text is a whole
 * number that fits 64 bits, else its exact text; bool a boolean; bytea
 * its bytes (hex or escape output); json/jsonb decoded values; arrays of
 * those (any number of dimensions, NULL elements as mp.null) Lua arrays.
 * Everything else, and text that does not parse as its type says, is the
 * text itself. The array parser follows array_out's rules: elements are
 * separated by commas, may be double-quoted with \" and \\ escapes, an
 * unquoted NULL is NULL, and a "[lo:hi]=" dimension prefix is skipped.
 */
#include "pgvalue.h"

#include "mpod.h"
#include "num.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    unsigned int array, element;
} array_types[] = {
    { 1000, PGV_BOOL }, { 1001, PGV_BYTEA }, { 1005, PGV_INT2 },
    { 1007, PGV_INT4 }, { 1016, PGV_INT8 }, { 1028, PGV_OID },
    { 1021, PGV_FLOAT4 }, { 1022, PGV_FLOAT8 }, { 1231, PGV_NUMERIC },
    { 199, PGV_JSON }, { 3807, PGV_JSONB },
    { 1009, 25 }, { 1015, 1043 }, { 1014, 1042 }, { 1003, 19 },
    { 2951, 2950 }, { 1182, 1082 }, { 1183, 1083 }, { 1115, 1114 },
    { 1185, 1184 }, { 1187, 1186 }, { 1270, 1266 },
};

/* The element type of an array type we read, or 0. */
static unsigned int element_type(unsigned int oid)
{
    for (size_t i = 0; i < sizeof array_types / sizeof array_types[0]; i++)
        if (array_types[i].array == oid)
            return array_types[i].element;
    return 0;
}

/* ---- scalars ---- */

static void push_integer(lua_State *L, const char *s, size_t len)
{
    int64_t v;
    if (mp_parse_int64(s, len, &v))
        lua_pushinteger(L, (lua_Integer)v);
    else
        lua_pushlstring(L, s, len);
}

static void push_float(lua_State *L, const char *s, size_t len)
{
    char buf[64], *end;
    if (len == 0 || len >= sizeof buf) {
        lua_pushlstring(L, s, len);
        return;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    double d = mp_strtod(buf, &end);
    if (*end != '\0' || buf[0] == ' ')
        lua_pushlstring(L, s, len);
    else
        lua_pushnumber(L, d);
}

static void push_bool(lua_State *L, const char *s, size_t len)
{
    if (len == 1 && (s[0] == 't' || s[0] == 'f'))
        lua_pushboolean(L, s[0] == 't');
    else
        lua_pushlstring(L, s, len);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode bytea hex output "\x0a1b..." into b; false when malformed. */
static bool bytea_hex(luaL_Buffer *b, const char *s, size_t len)
{
    if ((len - 2) % 2 != 0)
        return false;
    for (size_t i = 2; i < len; i += 2) {
        int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        luaL_addchar(b, (char)(hi << 4 | lo));
    }
    return true;
}

static bool is_octal(char c)
{
    return c >= '0' && c <= '7';
}

/* Decode bytea escape output (\\ and \ooo); false when malformed. */
static bool bytea_escape(luaL_Buffer *b, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\\') {
            luaL_addchar(b, s[i]);
        } else if (i + 1 < len && s[i + 1] == '\\') {
            luaL_addchar(b, '\\');
            i++;
        } else if (i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '3' &&
                   is_octal(s[i + 2]) && is_octal(s[i + 3])) {
            luaL_addchar(b, (char)((s[i + 1] - '0') << 6 |
                                   (s[i + 2] - '0') << 3 | (s[i + 3] - '0')));
            i += 3;
        } else {
            return false;
        }
    }
    return true;
}

static void push_bytea(lua_State *L, const char *s, size_t len)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    bool hex = len >= 2 && s[0] == '\\' && s[1] == 'x';
    bool ok = hex ? bytea_hex(&b, s, len) : bytea_escape(&b, s, len);
    luaL_pushresult(&b);
    if (!ok) {
        lua_pop(L, 1);
        lua_pushlstring(L, s, len);
    }
}

/* numeric: a whole number that fits is an integer, anything else (a
 * fraction, even .00, out of range, NaN, Infinity) keeps its exact text. */
static void push_numeric(lua_State *L, const char *s, size_t len)
{
    int64_t v;
    if (mp_parse_int64(s, len, &v))
        lua_pushinteger(L, (lua_Integer)v);
    else
        lua_pushlstring(L, s, len);
}

/* ---- arrays ---- */

typedef struct {
    lua_State *L;
    const char *s;
    size_t len, pos;
    unsigned int element;
} array_parser;

static bool at_end(const array_parser *p)
{
    return p->pos >= p->len;
}

static char peek(const array_parser *p)
{
    return at_end(p) ? '\0' : p->s[p->pos];
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

static void skip_blanks(array_parser *p)
{
    while (!at_end(p) && is_blank(p->s[p->pos]))
        p->pos++;
}

/* Skip an optional "[lo:hi][lo:hi]=" dimension prefix. */
static bool skip_dimensions(array_parser *p)
{
    if (peek(p) != '[')
        return true;
    while (!at_end(p) && p->s[p->pos] != '=') {
        char c = p->s[p->pos++];
        if (!(c == '[' || c == ']' || c == ':' || c == '-' ||
              (c >= '0' && c <= '9')))
            return false;
    }
    if (at_end(p) || p->s[p->pos - 1] != ']')
        return false;
    p->pos++;
    return true;
}

/* Read a double-quoted element into b; false when unterminated. */
static bool read_quoted(array_parser *p, luaL_Buffer *b)
{
    p->pos++;
    while (!at_end(p)) {
        char c = p->s[p->pos++];
        if (c == '"')
            return true;
        if (c == '\\') {
            if (at_end(p))
                return false;
            c = p->s[p->pos++];
        }
        luaL_addchar(b, c);
    }
    return false;
}

/* Read an unquoted element into b (backslash escapes honoured, trailing
 * blanks dropped); *plain_null is set when it is the word NULL. */
static bool read_unquoted(array_parser *p, luaL_Buffer *b, bool *plain_null)
{
    size_t keep = 0;
    bool escaped = false;
    while (!at_end(p) && p->s[p->pos] != ',' && p->s[p->pos] != '}') {
        char c = p->s[p->pos++];
        if (c == '{' || c == '"')
            return false;
        if (c == '\\') {
            if (at_end(p))
                return false;
            c = p->s[p->pos++];
            escaped = true;
            luaL_addchar(b, c);
            keep = luaL_bufflen(b);
            continue;
        }
        luaL_addchar(b, c);
        if (!is_blank(c))
            keep = luaL_bufflen(b);
    }
    luaL_buffsub(b, luaL_bufflen(b) - keep);
    if (keep == 0)
        return false;
    *plain_null = !escaped && keep == 4 &&
                  strncasecmp(luaL_buffaddr(b), "NULL", 4) == 0;
    return true;
}

/* Push one element (not a sub-array); false on a syntax error. */
static bool push_element(array_parser *p)
{
    lua_State *L = p->L;
    luaL_Buffer b;
    bool plain_null = false, ok;
    luaL_buffinit(L, &b);
    if (peek(p) == '"')
        ok = read_quoted(p, &b);
    else
        ok = read_unquoted(p, &b, &plain_null);
    luaL_pushresult(&b);
    if (!ok)
        return false;
    size_t len;
    const char *text = lua_tolstring(L, -1, &len);
    if (plain_null)
        mp_push_null(L);
    else
        mp_pgv_push(L, p->element, text, len);
    lua_remove(L, -2);
    return true;
}

/* Parse "{...}" at p->pos and push it as a table; false on a syntax error
 * (with whatever it pushed still on the stack: the caller resets). */
static bool push_array(array_parser *p, int depth)
{
    lua_State *L = p->L;
    if (depth > PGV_MAX_DEPTH || peek(p) != '{')
        return false;
    luaL_checkstack(L, 4, "array nesting");
    p->pos++;
    lua_newtable(L);
    skip_blanks(p);
    if (peek(p) == '}') {
        p->pos++;
        return true;
    }
    for (lua_Integer n = 1;; n++) {
        skip_blanks(p);
        bool ok = peek(p) == '{' ? push_array(p, depth + 1) : push_element(p);
        if (!ok)
            return false;
        lua_rawseti(L, -2, n);
        skip_blanks(p);
        char c = peek(p);
        p->pos++;
        if (c == '}')
            return true;
        if (c != ',')
            return false;
    }
}

/* Push an array value as a Lua table, or its text when malformed. */
static void push_array_value(lua_State *L, unsigned int element,
                             const char *s, size_t len)
{
    array_parser p = { L, s, len, 0, element };
    int top = lua_gettop(L);
    skip_blanks(&p);
    bool ok = skip_dimensions(&p) && push_array(&p, 1);
    skip_blanks(&p);
    if (ok && at_end(&p))
        return;
    lua_settop(L, top);
    lua_pushlstring(L, s, len);
}

void mp_pgv_push(lua_State *L, unsigned int oid, const char *s, size_t len)
{
    switch (oid) {
    case PGV_BOOL: push_bool(L, s, len); return;
    case PGV_INT2: case PGV_INT4: case PGV_INT8: case PGV_OID:
        push_integer(L, s, len);
        return;
    case PGV_FLOAT4: case PGV_FLOAT8: push_float(L, s, len); return;
    case PGV_NUMERIC: push_numeric(L, s, len); return;
    case PGV_BYTEA: push_bytea(L, s, len); return;
    case PGV_JSON: case PGV_JSONB: mp_json_decode(L, s, len); return;
    default: break;
    }
    unsigned int element = element_type(oid);
    if (element)
        push_array_value(L, element, s, len);
    else
        lua_pushlstring(L, s, len);
}

/* ---- parameters ---- */

/* The shortest %g form that reads back as d; Postgres spellings for the
 * non-finite values. */
static void push_float_text(lua_State *L, double d)
{
    if (isnan(d)) {
        lua_pushliteral(L, "NaN");
        return;
    }
    if (isinf(d)) {
        lua_pushstring(L, d > 0 ? "Infinity" : "-Infinity");
        return;
    }
    char buf[40];
    mp_format_double(buf, sizeof buf, d);
    lua_pushstring(L, buf);
}

/* Push the text of a non-string scalar parameter; false for a type no
 * parameter can hold. */
static bool push_scalar_text(lua_State *L, int idx)
{
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
        lua_pushstring(L, lua_toboolean(L, idx) ? "true" : "false");
        return true;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            lua_pushfstring(L, "%I", lua_tointeger(L, idx));
        else
            push_float_text(L, lua_tonumber(L, idx));
        return true;
    case LUA_TTABLE:
        mp_json_encode(L, idx);
        return true;
    default:
        return false;
    }
}

pgv_param mp_pgv_param(lua_State *L, int idx, int n, const char **s,
                       size_t *len)
{
    idx = lua_absindex(L, idx);
    if (lua_isnoneornil(L, idx) || mp_is_null(L, idx))
        return PGV_PARAM_NULL;
    if (lua_type(L, idx) == LUA_TSTRING) {
        lua_pushvalue(L, idx);
    } else if (!push_scalar_text(L, idx)) {
        mp_raise(L, "usage", "query parameter $%d is a %s; parameters are "
                 "nil, mp.null, booleans, numbers, strings or tables (sent "
                 "as JSON)", n, luaL_typename(L, idx));
    }
    *s = lua_tolstring(L, -1, len);
    return memchr(*s, '\0', *len) ? PGV_PARAM_BINARY : PGV_PARAM_TEXT;
}
