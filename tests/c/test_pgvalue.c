/*
 * test_pgvalue.c: unit tests for the Postgres value conversion
 * (src/pgvalue.c), without a server.
 *
 * One Lua state with two C helpers: pgv(oid, text) runs mp_pgv_push and
 * param(value) runs mp_pgv_param. Results are compared as one line of
 * text from the Lua helper show(): strings quoted (bytes outside printable
 * ASCII as \xHH), floats with a trailing "f", mp.null as null, tables as
 * {a,b}, errors as "error: kind message".
 */
#include "mpod.h"
#include "pgvalue.h"
#include "tap.h"

#include <locale.h>
#include <lualib.h>

int luaopen_mpod_json(lua_State *L);

static lua_State *L;
static char result[4096];

static const char helpers[] =
    "json = require 'mpod.json'\n"
    "function hex(s)\n"
    "  return (s:gsub('[^\\32-\\126]', function(c)\n"
    "    return string.format('\\\\x%02X', c:byte()) end))\n"
    "end\n"
    "function show(v)\n"
    "  if v == json.null then return 'null' end\n"
    "  if type(v) == 'table' then\n"
    "    local parts = {}\n"
    "    for i, x in ipairs(v) do parts[i] = show(x) end\n"
    "    for k, x in pairs(v) do\n"
    "      if type(k) ~= 'number' then parts[#parts + 1] = k .. '=' .. show(x) end\n"
    "    end\n"
    "    return '{' .. table.concat(parts, ',') .. '}'\n"
    "  end\n"
    "  if type(v) == 'string' then return '\"' .. hex(v) .. '\"' end\n"
    "  if math.type(v) == 'float' then return string.format('%.17g', v) .. 'f' end\n"
    "  return tostring(v)\n"
    "end\n"
    "function shown(ok, v, k)\n"
    "  if not ok then return 'error: ' .. tostring(v.kind) .. ' ' .. tostring(v.message) end\n"
    "  if k then return k .. ' ' .. show(v) end\n"
    "  return show(v)\n"
    "end\n";

/* pgv(oid, text) -> the converted value */
static int l_pgv(lua_State *L1)
{
    lua_Integer oid = luaL_checkinteger(L1, 1);
    size_t len;
    const char *text = luaL_checklstring(L1, 2, &len);
    mp_pgv_push(L1, (unsigned int)oid, text, len);
    return 1;
}

/* param(value) -> the parameter text (or nil), "text"|"binary"|"null" */
static int l_param(lua_State *L1)
{
    const char *s = NULL;
    size_t len = 0;
    pgv_param how = mp_pgv_param(L1, 1, 1, &s, &len);
    if (how == PGV_PARAM_NULL)
        lua_pushnil(L1);
    else
        lua_pushlstring(L1, s, len);
    lua_pushstring(L1, how == PGV_PARAM_NULL ? "null"
                       : how == PGV_PARAM_BINARY ? "binary" : "text");
    return 2;
}

/* Run `code` (which returns the arguments of shown) and keep its text. */
static const char *run(const char *code)
{
    if (luaL_dostring(L, code) != LUA_OK)
        snprintf(result, sizeof result, "lua error: %s", lua_tostring(L, -1));
    else
        snprintf(result, sizeof result, "%s", lua_tostring(L, -1));
    lua_settop(L, 0);
    return result;
}

/* The value of text (exact length) as type oid, shown. */
static const char *conv(unsigned int oid, const char *text, size_t len)
{
    lua_getglobal(L, "shown");
    lua_getglobal(L, "pcall");
    lua_getglobal(L, "pgv");
    lua_pushinteger(L, oid);
    lua_pushlstring(L, text, len);
    lua_call(L, 3, 2);
    lua_call(L, 2, 1);
    snprintf(result, sizeof result, "%s", lua_tostring(L, -1));
    lua_settop(L, 0);
    return result;
}

#define CONV(oid, text) conv((oid), (text), sizeof(text) - 1)

static void test_scalars(void)
{
    is_str(CONV(PGV_BOOL, "t"), "true", "bool t");
    is_str(CONV(PGV_BOOL, "f"), "false", "bool f");
    is_str(CONV(PGV_BOOL, "yes"), "\"yes\"", "bool text it cannot read");
    is_str(CONV(PGV_INT2, "-32768"), "-32768", "int2");
    is_str(CONV(PGV_INT4, "+5"), "5", "int4 with a plus sign");
    is_str(CONV(PGV_INT8, "9223372036854775807"), "9223372036854775807",
           "int8 max");
    is_str(CONV(PGV_INT8, "-9223372036854775808"), "-9223372036854775808",
           "int8 min");
    is_str(CONV(PGV_INT8, "9223372036854775808"), "\"9223372036854775808\"",
           "int8 overflow stays text");
    is_str(CONV(PGV_INT4, ""), "\"\"", "empty integer stays text");
    is_str(CONV(PGV_INT4, "-"), "\"-\"", "a lone sign stays text");
    is_str(CONV(PGV_INT4, "12a"), "\"12a\"", "trailing junk stays text");
    is_str(CONV(PGV_OID, "4294967295"), "4294967295", "oid");
    is_str(CONV(PGV_FLOAT8, "1.5"), "1.5f", "float8");
    is_str(CONV(PGV_FLOAT4, "1"), "1f", "float4 whole number is a float");
    is_str(CONV(PGV_FLOAT8, "Infinity"), "inff", "float8 Infinity");
    is_str(CONV(PGV_FLOAT8, "-Infinity"), "-inff", "float8 -Infinity");
    is_str(run("local v = pgv(701, 'NaN') return tostring(v ~= v)"), "true",
           "float8 NaN");
    is_str(CONV(PGV_FLOAT8, " 1"), "\" 1\"", "float with a blank stays text");
    is_str(CONV(PGV_FLOAT8, "1e999999"), "inff", "float8 overflow");
    is_str(CONV(PGV_NUMERIC, "42"), "42", "numeric whole number");
    is_str(CONV(PGV_NUMERIC, "-0"), "0", "numeric -0");
    is_str(CONV(PGV_NUMERIC, "1.50"), "\"1.50\"", "numeric fraction");
    is_str(CONV(PGV_NUMERIC, "2.00"), "\"2.00\"", "numeric .00 keeps text");
    is_str(CONV(PGV_NUMERIC, "99999999999999999999"),
           "\"99999999999999999999\"", "numeric beyond int64");
    is_str(CONV(PGV_NUMERIC, "NaN"), "\"NaN\"", "numeric NaN");
    is_str(CONV(PGV_TEXT, "a,b\n\"c\""), "\"a,b\\x0A\"c\"\"", "text as is");
    is_str(CONV(600, "(1,2)"), "\"(1,2)\"", "unknown type as text");
}

static void test_bytea_json(void)
{
    is_str(CONV(PGV_BYTEA, "\\x"), "\"\"", "bytea empty");
    is_str(CONV(PGV_BYTEA, "\\x00ff41"), "\"\\x00\\xFFA\"", "bytea hex");
    is_str(CONV(PGV_BYTEA, "\\xABcd"), "\"\\xAB\\xCD\"", "bytea hex cases");
    is_str(CONV(PGV_BYTEA, "\\x0"), "\"\\x0\"", "bytea odd hex stays text");
    is_str(CONV(PGV_BYTEA, "\\xzz"), "\"\\xzz\"", "bytea bad hex stays text");
    is_str(CONV(PGV_BYTEA, "a\\\\b\\000\\377"), "\"a\\b\\x00\\xFF\"",
           "bytea escape format");
    is_str(CONV(PGV_BYTEA, "a\\9"), "\"a\\9\"", "bytea bad escape stays text");
    is_str(CONV(PGV_BYTEA, "a\\"), "\"a\\\"", "bytea lone backslash");
    is_str(CONV(PGV_JSON, "{\"a\":[1,null,2.5]}"), "{a={1,null,2.5f}}",
           "json decoded");
    is_str(CONV(PGV_JSONB, "null"), "null", "jsonb null is mp.null");
    ok(strncmp(CONV(PGV_JSON, "{\"a\":"), "error: json ", 12) == 0,
       "invalid json raises a json error");
}

static void test_arrays(void)
{
    is_str(CONV(PGV_INT4_ARRAY, "{1,2,3}"), "{1,2,3}", "int4[]");
    is_str(CONV(PGV_INT4_ARRAY, "{}"), "{}", "empty array");
    is_str(CONV(PGV_INT4_ARRAY, "{1,NULL,3}"), "{1,null,3}", "NULL element");
    is_str(CONV(PGV_INT4_ARRAY, "{null}"), "{null}", "null in lower case");
    is_str(CONV(PGV_INT4_ARRAY, "{{1,2},{3,4}}"), "{{1,2},{3,4}}",
           "two dimensions");
    is_str(CONV(PGV_INT4_ARRAY, "[0:1]={7,8}"), "{7,8}", "lower bound prefix");
    is_str(CONV(PGV_INT4_ARRAY, "[0:0][1:2]={{7,8}}"), "{{7,8}}",
           "two-dimension prefix");
    is_str(CONV(PGV_INT4_ARRAY, " { 1 , 2 } "), "{1,2}", "blanks around");
    is_str(CONV(PGV_TEXT_ARRAY,
                "{\"a,b\",\"q\\\"x\",\"back\\\\slash\",NULL,\"NULL\",\"\"}"),
           "{\"a,b\",\"q\"x\",\"back\\slash\",null,\"NULL\",\"\"}",
           "text[] quoting and escapes");
    is_str(CONV(PGV_TEXT_ARRAY, "{a\\,b,c\\ ,\\NULL}"),
           "{\"a,b\",\"c \",\"NULL\"}", "unquoted escapes");
    is_str(CONV(PGV_TEXT_ARRAY, "{\"line\nbreak\",x y}"),
           "{\"line\\x0Abreak\",\"x y\"}", "newline and inner blank");
    is_str(CONV(1000, "{t,f,NULL}"), "{true,false,null}", "bool[]");
    is_str(CONV(1022, "{1.5,NaN,-Infinity}"), "{1.5f,nanf,-inff}",
           "float8[]");
    is_str(CONV(1231, "{1,1.5}"), "{1,\"1.5\"}", "numeric[]");
    is_str(CONV(1001, "{\"\\\\x0001\"}"), "{\"\\x00\\x01\"}", "bytea[]");
    is_str(CONV(3807, "{\"{\\\"a\\\": 1}\",\"[1]\"}"), "{{a=1},{1}}",
           "jsonb[]");
    is_str(CONV(1016, "{9223372036854775807}"), "{9223372036854775807}",
           "int8[]");
    is_str(CONV(2951, "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}"),
           "{\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\"}", "uuid[]");
}

static void test_bad_arrays(void)
{
    static const char *const bad[] = {
        "{1,2", "{1,,2}", "{,}", "{\"a\"b}", "{\"a}", "{a\\}", "1,2}",
        "{1}x", "[0:1={1}", "[x]={1}", "{{{{{{{1}}}}}}}", "{a\"b}", "{a{b}",
        "{1,}", "", "{", "}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char want[64];
        snprintf(want, sizeof want, "\"%s\"", bad[i]);
        is_str(conv(PGV_TEXT_ARRAY, bad[i], strlen(bad[i])), want,
               "malformed array %s stays text", bad[i]);
    }
    is_str(CONV(PGV_TEXT_ARRAY, "{{{{{{1}}}}}}"), "{{{{{{\"1\"}}}}}}",
           "six dimensions are read");
}

static void test_params(void)
{
    is_str(run("return shown(true, param(nil))"), "null nil", "nil");
    is_str(run("return shown(true, param(json.null))"), "null nil",
           "mp.null");
    is_str(run("return shown(true, param(true))"), "text \"true\"", "true");
    is_str(run("return shown(true, param(false))"), "text \"false\"",
           "false");
    is_str(run("return shown(true, param(-42))"), "text \"-42\"", "integer");
    is_str(run("return shown(true, param(math.mininteger))"),
           "text \"-9223372036854775808\"", "min integer");
    is_str(run("return shown(true, param(0.1))"), "text \"0.1\"",
           "float, shortest");
    is_str(run("return shown(true, param(1/3))"),
           "text \"0.3333333333333333\"", "float needing 16 digits");
    is_str(run("return shown(true, param(0.1 + 0.2))"),
           "text \"0.30000000000000004\"", "float needing 17 digits");
    is_str(run("return shown(true, param(3.0))"), "text \"3\"",
           "whole float reads as an integer too");
    is_str(run("return shown(true, param(-0.0))"), "text \"-0\"", "-0.0");
    is_str(run("return shown(true, param(1/0))"), "text \"Infinity\"",
           "infinity");
    is_str(run("return shown(true, param(-1/0))"), "text \"-Infinity\"",
           "-infinity");
    is_str(run("return shown(true, param(0/0))"), "text \"NaN\"", "NaN");
    is_str(run("return shown(true, param(\"it's\"))"), "text \"it's\"",
           "string");
    is_str(run("return shown(true, param('a\\0b'))"),
           "binary \"a\\x00b\"", "a string with NUL goes binary");
    is_str(run("return shown(true, param({1, 'two', {k = json.null}}))"),
           "text \"[1,\"two\",{\"k\":null}]\"", "table as JSON");
    is_str(run("return shown(pcall(param, print))"),
           "error: usage query parameter $1 is a function; parameters are "
           "nil, mp.null, booleans, numbers, strings or tables (sent as JSON)",
           "a function raises");
    ok(strncmp(run("local t = {} t.self = t return shown(pcall(param, t))"),
               "error: json ", 12) == 0, "a table JSON cannot hold raises");
}

/* Numbers in Postgres's text are read and written with a '.' also when a
 * scenario switched to a locale whose decimal point is a comma (needs
 * such a locale: de_DE.UTF-8, or LOCPATH naming a folder with one). */
static void test_comma_locale(void)
{
    locale_t comma = newlocale(LC_NUMERIC_MASK, "de_DE.UTF-8", (locale_t)0);
    if (!comma) {
        printf("ok %d # SKIP no de_DE.UTF-8 locale\n", ++tap_count);
        return;
    }
    locale_t before = uselocale(comma);
    is_str(run("local v = pgv(701, '1.5') "
               "return tostring(math.type(v) == 'float' and v * 2 == 3)"),
           "true", "float8 1.5 reads as a number in a comma locale");
    is_str(run("return shown(true, param(1.5))"), "text \"1.5\"",
           "and a float parameter is written with a '.'");
    uselocale(before);
    freelocale(comma);
}

int main(void)
{
    L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "mpod.json", luaopen_mpod_json, 0);
    lua_register(L, "pgv", l_pgv);
    lua_register(L, "param", l_param);
    lua_settop(L, 0);
    if (luaL_dostring(L, helpers) != LUA_OK) {
        printf("Bail out! %s\n", lua_tostring(L, -1));
        return 1;
    }
    test_scalars();
    test_bytea_json();
    test_arrays();
    test_bad_arrays();
    test_params();
    test_comma_locale();
    lua_close(L);
    return done_testing();
}
