/*
 * test_json.c: unit tests for the JSON module (src/json.c).
 *
 * One Lua state with mpod.json loaded as the global `json` and a few Lua
 * helpers. Cases pass their JSON text from C with its exact length (so NUL
 * bytes are possible) and compare one line of text:
 *     rt(text)      encode(decode(text))
 *     derr(text)    "kind position:line:column message" of the decode error
 *     eerr(value)   "kind path | message" of the encode error
 * Lua values are shown with bytes outside printable ASCII as \xHH.
 */
#include "mpod.h"
#include "tap.h"

#include <lualib.h>
#include <stdlib.h>

/* The opener of src/json.c (module openers have no header: src/gen_modules.sh
 * registers them). */
int luaopen_mpod_json(lua_State *L);

static lua_State *L;
static char result[4096];

static const char helpers[] =
    "json = require 'mpod.json'\n"
    "function hex(s)\n"
    "  return (s:gsub('[^\\32-\\126]', function(c)\n"
    "    return string.format('\\\\x%02X', c:byte()) end))\n"
    "end\n"
    "function rt(s, opts) return json.encode(json.decode(s), opts) end\n"
    "function derr(s)\n"
    "  local ok, e = pcall(json.decode, s)\n"
    "  if ok then return 'no error' end\n"
    "  return string.format('%s %d:%d:%d %s', e.kind, e.position, e.line,\n"
    "                       e.column, e.message)\n"
    "end\n"
    "function eerr(v, opts)\n"
    "  local ok, e = pcall(json.encode, v, opts)\n"
    "  if ok then return 'encoded ' .. e end\n"
    "  return string.format('%s %s | %s', e.kind, e.path, e.message)\n"
    "end\n";

/* Keep the value at the top as text in `result` (errors as "error: ..."). */
static const char *take(int status)
{
    const char *s = luaL_tolstring(L, -1, NULL);
    snprintf(result, sizeof result, "%s%s", status == LUA_OK ? "" : "error: ", s);
    lua_settop(L, 0);
    return result;
}

/* Call the global Lua function fn with the len bytes of text. */
static const char *call(const char *fn, const char *text, size_t len)
{
    lua_getglobal(L, fn);
    lua_pushlstring(L, text, len);
    return take(lua_pcall(L, 1, 1, 0));
}

#define RT(text) call("rt", text, sizeof text - 1)
#define DERR(text) call("derr", text, sizeof text - 1)

/* Run a Lua chunk and keep its first result. */
static const char *run(const char *code)
{
    int status = luaL_loadstring(L, code);
    if (status == LUA_OK)
        status = lua_pcall(L, 0, 1, 0);
    return take(status);
}

static void test_round_trips(void)
{
    is_str(RT("{\"a\":1,\"b\":[true,false,null],\"c\":\"x\"}"),
           "{\"a\":1,\"b\":[true,false,null],\"c\":\"x\"}", "object round trip");
    is_str(RT(" \t\r\n[ 1 , { \"k\" : [ ] } ]\n"), "[1,{\"k\":[]}]",
           "whitespace between tokens");
    is_str(RT("\"x\""), "\"x\"", "a scalar at the top");
    is_str(RT("\xEF\xBB\xBF[1]"), "[1]", "a UTF-8 byte order mark is skipped");
    is_str(RT("{\"a\":1,\"a\":2}"), "{\"a\":2}", "duplicate keys: the last wins");
    is_str(run("return json.encode(nil) .. json.encode(true) .. json.encode(json.null)"),
           "nulltruenull", "nil, booleans, null");
    is_str(run("return json.encode{name = 'a', list = {1, 2, {x = false}}}"),
           "{\"list\":[1,2,{\"x\":false}],\"name\":\"a\"}", "nested tables");
    is_str(run("local s = {1}; return json.encode{x = s, y = s}"),
           "{\"x\":[1],\"y\":[1]}", "a table twice (not a cycle) is fine");
}

static void test_integers(void)
{
    is_str(run("local v = json.decode('9007199254740993')\n"
               "return math.type(v) .. ' ' .. (v == 9007199254740993 and 'exact' or 'rounded')"),
           "integer exact", "2^53+1 decodes to the exact integer");
    is_str(RT("[9007199254740993,-9007199254740993]"),
           "[9007199254740993,-9007199254740993]", "2^53+1 round trip");
    is_str(run("local v = json.decode('[9223372036854775807,-9223372036854775808]')\n"
               "return tostring(v[1] == math.maxinteger and v[2] == math.mininteger)"),
           "true", "int64 extremes decode exactly");
    is_str(run("return json.encode{math.maxinteger, math.mininteger, 0, -1}"),
           "[9223372036854775807,-9223372036854775808,0,-1]", "int64 extremes encode exactly");
    is_str(run("local a = json.decode('[9223372036854775808,-9223372036854775809]')\n"
               "return math.type(a[1]) .. ' ' .. a[1] .. ' ' .. a[2]"),
           "float 9.2233720368548e+18 -9.2233720368548e+18", "beyond int64: floats");
    is_str(run("local v = json.decode('-0') return math.type(v) .. ' ' .. v"),
           "integer 0", "-0 is the integer 0");
    is_str(run("return math.type(json.decode('123456789012345678901234567890'))"),
           "float", "a huge integer literal is a float");
}

static void test_floats(void)
{
    is_str(run("local t = {} for _, s in ipairs{'1.0', '1e2', '1E+2', '0.5', '-2.5e-3'} do\n"
               "  local v = json.decode(s) t[#t + 1] = math.type(v) .. ':' .. v end\n"
               "return table.concat(t, ' ')"),
           "float:1.0 float:100.0 float:100.0 float:0.5 float:-0.0025",
           "fraction or exponent: a float");
    is_str(run("return json.encode{1.0, 0.1, -0.0, 1e300, 1/3, 2^53, 100.0, 5e-324}"),
           "[1.0,0.1,-0.0,1e+300,0.3333333333333333,9007199254740992.0,100.0,"
           "4.94065645841247e-324]", "floats print shortest and stay floats");
    is_str(run("local ok = true\n"
               "for _, x in ipairs{0.1, 1/3, 2/3, 1e-7, 123.456, 2^-1074, 1.7976931348623157e308} do\n"
               "  local y = json.decode(json.encode(x))\n"
               "  ok = ok and y == x and math.type(y) == 'float' end\n"
               "return tostring(ok)"),
           "true", "floats round-trip exactly");
    is_str(run("local v = json.decode('-0.0') return math.type(v) .. ' ' .. 1 / v"),
           "float -inf", "-0.0 keeps its sign");
    is_str(run("return json.decode('1e-400')"), "0.0", "underflow gives 0.0");
}

static void test_null_and_empty(void)
{
    is_str(run("local t = json.decode('[1,null,3]')\n"
               "return #t .. ' ' .. tostring(t[2] == json.null) .. ' ' .. tostring(t[2])"),
           "3 true null", "null in an array keeps the length");
    is_str(run("return tostring(json.decode('{\"a\":null}').a == json.null)"),
           "true", "null in an object");
    is_str(RT("[null,{\"a\":null}]"), "[null,{\"a\":null}]", "null round trip");
    is_str(run("return tostring(json.decode('null') == json.null)"), "true", "top-level null");
    is_str(run("local _, e = pcall(function() return json.null.x end)\n"
               "return e:match('attempt to index a mpod.null value')"),
           "attempt to index a mpod.null value", "json.null names itself in Lua errors");
    is_str(run("return json.encode{}"), "{}", "an empty table is an object");
    is_str(run("return json.encode(json.array()) .. json.encode(json.array{})"),
           "[][]", "json.array makes an empty array");
    is_str(run("local t = {1} return tostring(json.array(t) == t) .. json.encode(t)"),
           "true[1]", "json.array returns its table");
    is_str(RT("[[],{},{\"a\":[]},[[]]]"), "[[],{},{\"a\":[]},[[]]]",
           "empty arrays and objects survive a round trip");
    is_str(run("local t = json.decode('[1]') t[1] = nil return json.encode(t)"),
           "[]", "a decoded array stays an array when emptied");
    is_str(run("return tostring(getmetatable(json.decode('[]')))"), "nil",
           "marking leaves metatables alone");
}

static void test_strings(void)
{
    is_str(run("return hex(json.decode('\"\\\\u00e9\\\\u20ac\\\\ud83d\\\\ude00\"'))"),
           "\\xC3\\xA9\\xE2\\x82\\xAC\\xF0\\x9F\\x98\\x80", "\\u escapes and surrogate pairs");
    is_str(run("local s = json.decode('\"a\\\\u0000b\"') return #s .. hex(s)"),
           "3a\\x00b", "\\u0000 keeps the length");
    is_str(run("local t = json.decode('{\"\\\\u0000\":1}') local k = next(t)\n"
               "return #k .. hex(k)"), "1\\x00", "\\u0000 in a key");
    is_str(run("return hex(json.decode([[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]]))"),
           "\"\\/\\x08\\x0C\\x0A\\x0D\\x09", "short escapes");
    is_str(RT("\"\xE6\x97\xA5\xE6\x9C\xAC\""), "\"\xE6\x97\xA5\xE6\x9C\xAC\"",
           "raw UTF-8 passes through");
    is_str(run("return json.encode('a\"b\\\\c/\\n\\t\\1\\0\\127\\31')"),
           "\"a\\\"b\\\\c/\\n\\t\\u0001\\u0000\x7F\\u001f\"",
           "encode escapes quotes, backslashes and control characters");
    is_str(run("return json.encode{['a\\nb'] = 1}"), "{\"a\\nb\":1}",
           "keys are escaped the same way");
}

static void test_key_order(void)
{
    is_str(run("return json.encode{b = 1, a = 2, c = {z = 1, y = 2}}"),
           "{\"a\":2,\"b\":1,\"c\":{\"y\":2,\"z\":1}}", "keys sorted");
    is_str(run("return json.encode{['\\xC3\\xA9'] = 1, a = 1, ab = 1, _ = 1, B = 1}"),
           "{\"B\":1,\"_\":1,\"a\":1,\"ab\":1,\"\xC3\xA9\":1}", "sorted by bytes");
    is_str(run("local a, b = {}, {}\n"
               "for i = 1, 50 do a['k' .. i] = i end\n"
               "for i = 50, 1, -1 do b['k' .. i] = i end\n"
               "return tostring(json.encode(a) == json.encode(b))"),
           "true", "insertion order does not matter");
    is_str(run("local t = json.decode(json.encode({a = 1, b = 2, c = 3}, {sort_keys = false}))\n"
               "return t.a + t.b + t.c"), "6", "sort_keys = false");
    is_str(run("return json.encode({a = {1, 2}, b = {c = true}, d = {}}, {pretty = true})"),
           "{\n\t\"a\":\t[1, 2],\n\t\"b\":\t{\n\t\t\"c\":\ttrue\n\t},\n\t\"d\":\t{\n\t}\n}",
           "pretty: cJSON's layout");
    is_str(run("return (select(2, pcall(json.encode, 1, {prety = true})))"),
           "bad argument #2 to 'mpod.json.encode' (unknown option 'prety')",
           "unknown options are refused");
}

static void test_decode_errors(void)
{
    is_str(DERR(""), "json 0:1:1 empty input at line 1, column 1 (offset 0)", "empty input");
    is_str(DERR("  \n "), "json 4:2:2 empty input at line 2, column 2 (offset 4)",
           "only whitespace");
    is_str(DERR("[1,]"), "json 3:1:4 syntax error at line 1, column 4 (offset 3) near ']'",
           "a value expected");
    is_str(DERR("{\"a\": 1,}"),
           "json 8:1:9 expected a string key at line 1, column 9 (offset 8) near '}'",
           "trailing comma in an object");
    is_str(DERR("{1:2}"),
           "json 1:1:2 expected a string key at line 1, column 2 (offset 1) near '1:2}'",
           "a key that is not a string");
    is_str(DERR("{\"a\" 1}"),
           "json 5:1:6 syntax error at line 1, column 6 (offset 5) near '1}'", "missing colon");
    is_str(DERR("[1 2]"), "json 3:1:4 syntax error at line 1, column 4 (offset 3) near '2]'",
           "missing comma");
    is_str(DERR("{\"a\":1]"),
           "json 6:1:7 syntax error at line 1, column 7 (offset 6) near ']'", "wrong bracket");
    is_str(DERR("]"), "json 0:1:1 syntax error at line 1, column 1 (offset 0) near ']'",
           "a closing bracket first");
    is_str(DERR("[1,"), "json 3:1:4 unexpected end of input at line 1, column 4 (offset 3)",
           "end of input in an array");
    is_str(DERR("{\"a\":"),
           "json 5:1:6 unexpected end of input at line 1, column 6 (offset 5)",
           "end of input in an object");
    is_str(DERR("{\n  \"a\": ]\n}"),
           "json 9:2:8 syntax error at line 2, column 8 (offset 9) near ']\\x0A}'",
           "line and column on a later line");
    is_str(DERR("[1]x"),
           "json 3:1:4 unexpected data after the JSON value at line 1, column 4 (offset 3) near 'x'",
           "trailing garbage");
    is_str(DERR("1 2"),
           "json 2:1:3 unexpected data after the JSON value at line 1, column 3 (offset 2) near '2'",
           "two values");
    is_str(call("derr", "[1]\0", 4),
           "json 3:1:4 unexpected data after the JSON value at line 1, column 4 (offset 3) near '\\x00'",
           "a NUL byte after the value");
    is_str(DERR("0x10"),
           "json 1:1:2 unexpected data after the JSON value at line 1, column 2 (offset 1) near 'x10'",
           "hex is not JSON");
}

static void test_lexical_errors(void)
{
    is_str(DERR("\"abc"), "json 0:1:1 unterminated string at line 1, column 1 (offset 0) near '\"abc'",
           "unterminated string");
    is_str(DERR("[\"a\\x\"]"),
           "json 3:1:4 invalid escape sequence at line 1, column 4 (offset 3) near '\\x\"]'",
           "invalid escape");
    is_str(DERR("\"\\uZZZZ\""),
           "json 1:1:2 invalid \\u escape at line 1, column 2 (offset 1) near '\\uZZZZ\"'",
           "bad \\u digits (cJSON would take them as U+0000)");
    is_str(DERR("\"\\ud800\""),
           "json 1:1:2 unpaired UTF-16 surrogate in \\u escape at line 1, column 2 (offset 1) near '\\ud800\"'",
           "lone high surrogate");
    is_str(DERR("\"\\udc00\""),
           "json 1:1:2 unpaired UTF-16 surrogate in \\u escape at line 1, column 2 (offset 1) near '\\udc00\"'",
           "lone low surrogate");
    is_str(DERR("\"\\ud800\\u0041\""),
           "json 1:1:2 unpaired UTF-16 surrogate in \\u escape at line 1, column 2 (offset 1) near '\\ud800\\u0041\"'",
           "high surrogate without a low one");
    is_str(DERR("\"a\nb\""),
           "json 2:1:3 unescaped control character in string at line 1, column 3 (offset 2) near '\\x0Ab\"'",
           "raw newline in a string");
    is_str(DERR("\"a\xFF\x62\""),
           "json 2:1:3 invalid UTF-8 in string at line 1, column 3 (offset 2) near '\\xFFb\"'",
           "invalid UTF-8 in a string");
    is_str(DERR("\"\xED\xA0\x80\""),
           "json 1:1:2 invalid UTF-8 in string at line 1, column 2 (offset 1) near '\\xED\\xA0\\x80\"'",
           "an encoded surrogate is not UTF-8");
    is_str(DERR("[1,\x01 2]"),
           "json 3:1:4 unexpected control character at line 1, column 4 (offset 3) near '\\x01 2]'",
           "control byte between tokens (cJSON takes it as space)");
    is_str(call("derr", "\0", 1),
           "json 0:1:1 unexpected control character at line 1, column 1 (offset 0) near '\\x00'",
           "a lone NUL byte");
    is_str(DERR("tru"),
           "json 0:1:1 invalid literal (expected true, false or null) at line 1, column 1 (offset 0) near 'tru'",
           "truncated literal");
    is_str(DERR("[truex]"),
           "json 1:1:2 invalid literal (expected true, false or null) at line 1, column 2 (offset 1) near 'truex]'",
           "literal with extra letters");
    is_str(DERR("1e400"),
           "json 0:1:1 number out of range at line 1, column 1 (offset 0) near '1e400'",
           "overflowing float");
}

static void test_number_errors(void)
{
    static const char *const bad[] = { "01", "-01", "1.", "-", "1e", "1e+", "1.5e+", "-.5", "1.e5" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char want[160];
        snprintf(want, sizeof want,
                 "json 0:1:1 invalid number at line 1, column 1 (offset 0) near '%s'", bad[i]);
        is_str(call("derr", bad[i], strlen(bad[i])), want, "invalid number %s", bad[i]);
    }
    is_str(DERR("[1e]"),
           "json 1:1:2 invalid number at line 1, column 2 (offset 1) near '1e]'",
           "the same message inside an array");
    is_str(DERR("[.5]"), "json 1:1:2 syntax error at line 1, column 2 (offset 1) near '.5]'",
           "a leading dot");
}

static void test_depth(void)
{
    is_str(run("return #json.encode(json.decode(('['):rep(200) .. (']'):rep(200)))"),
           "400", "200 nested arrays decode");
    is_str(run("return derr(('['):rep(201) .. (']'):rep(201))"),
           "json 200:1:201 nesting deeper than 200 levels at line 1, column 201 (offset 200) "
           "near '[]]]]]]]]]]]]]]]]]]]'", "201 nested arrays");
    is_str(run("return derr(('{\"a\":'):rep(5000) .. '1' .. ('}'):rep(5000))"),
           "json 1000:1:1001 nesting deeper than 200 levels at line 1, column 1001 (offset 1000) "
           "near '{\"a\":{\"a\":{\"a\":{\"a\":'", "5000 nested objects (beyond cJSON's own limit)");
    is_str(run("local t = {} for i = 1, 199 do t = {t} end return #json.encode(t)"),
           "400", "200 nested tables encode");
    is_str(run("local t = {} for i = 1, 200 do t = {t} end\n"
               "local ok, e = pcall(json.encode, t)\n"
               "return e.message:match('^[^$]*') .. #e.path .. ' ' .. e.path:sub(1, 7)"),
           "nesting deeper than 200 levels at 601 $[1][1]", "201 nested tables");
}

static void test_encode_errors(void)
{
    is_str(run("return eerr{f = print}"), "json $.f | cannot encode a function at $.f",
           "a function");
    is_str(run("return eerr{user = {tags = {'a', 'b', print}}}"),
           "json $.user.tags[3] | cannot encode a function at $.user.tags[3]", "the path to it");
    is_str(run("return eerr{['a b'] = {x = coroutine.create(print)}}"),
           "json $[\"a b\"].x | cannot encode a thread at $[\"a b\"].x", "odd keys in the path");
    is_str(run("return eerr{io.stdout}"), "json $[1] | cannot encode a FILE* at $[1]",
           "userdata named by __name");
    is_str(run("return eerr{1, nil, 3}"),
           "json $ | cannot encode a sparse array at $ (indices 1..3, expected 1..2)", "sparse");
    is_str(run("return eerr{[0] = 'a'}"),
           "json $ | cannot encode a sparse array at $ (indices 0..0, expected 1..1)", "index 0");
    is_str(run("return eerr{1, a = 2}"),
           "json $ | cannot encode a table with both string and integer keys at $", "mixed");
    is_str(run("return eerr{x = {[true] = 1}}"),
           "json $.x | cannot encode a table with a boolean key at $.x", "boolean key");
    is_str(run("return eerr{[1.5] = 1}"),
           "json $ | cannot encode a table with a non-integer number key at $", "float key");
    is_str(run("return eerr{x = 0/0}"), "json $.x | cannot encode NaN at $.x", "NaN");
    is_str(run("return eerr{-math.huge}"),
           "json $[1] | cannot encode an infinite number at $[1]", "infinity");
    is_str(run("return eerr{name = 'a\\xFF'}"),
           "json $.name | invalid UTF-8 in string at $.name (byte 2)", "invalid UTF-8");
    is_str(run("return eerr{['\\xFF'] = 1}"),
           "json $[\"\\xFF\"] | invalid UTF-8 in object key at $[\"\\xFF\"]", "invalid UTF-8 key");
    is_str(run("return eerr{['a\\0b'] = 1}"),
           "json $[\"a\\x00b\"] | cannot encode an object key with a NUL byte at $[\"a\\x00b\"]",
           "NUL in a key");
    is_str(run("return eerr(json.array{a = 1})"),
           "json $ | cannot encode a json.array table with string keys at $", "array with keys");
    is_str(run("local t = {} t.self = t return eerr(t)"),
           "json $.self | cycle at $.self (the same table as $)", "a cycle");
    is_str(run("local a = {b = {c = {}}} a.b.c.back = a.b return eerr(a)"),
           "json $.b.c.back | cycle at $.b.c.back (the same table as $.b)", "a deeper cycle");
    is_str(run("local ok, e = pcall(json.encode, print)\n"
               "return e.kind .. ' ' .. getmetatable(e).__name"),
           "json mpod.Error", "errors are mpod errors");
}

/* Protected: decode 5 bytes of a buffer that is not NUL-terminated there. */
static int decode_prefix(lua_State *S)
{
    static const char text[] = "[1,2]xyz";
    mp_json_decode(S, text, 5);
    mp_json_encode(S, -1);
    return 1;
}

static int decode_bad(lua_State *S)
{
    mp_json_decode(S, "[", 1);
    return 0;
}

static void test_c_api(void)
{
    lua_State *S = luaL_newstate();
    luaL_openlibs(S);
    lua_pushinteger(S, 1);
    lua_newuserdatauv(S, 0, 0);
    ok(!mp_is_null(S, -1) && !mp_is_null(S, -2), "mp_is_null is false for other values");
    mp_push_null(S);
    mp_push_null(S);
    ok(mp_is_null(S, -1) && lua_rawequal(S, -1, -2), "mp_push_null: one value per state");
    luaL_requiref(S, "mpod.json", luaopen_mpod_json, 0);
    lua_getfield(S, -1, "null");
    ok(lua_rawequal(S, -1, -3), "json.null is the same value");
    mp_push_null(L);
    ok(lua_topointer(L, -1) != lua_topointer(S, -1), "each state has its own null");
    lua_settop(L, 0);
    lua_settop(S, 0);

    lua_pushcfunction(S, decode_prefix);
    is_int(lua_pcall(S, 0, 1, 0), LUA_OK, "mp_json_decode with an explicit length");
    is_str(lua_tostring(S, -1), "[1,2]", "mp_json_encode");
    lua_pushcfunction(S, decode_bad);
    is_int(lua_pcall(S, 0, 0, 0), LUA_ERRRUN, "mp_json_decode raises");
    lua_getfield(S, -1, "message");
    is_str(lua_tostring(S, -1), "unexpected end of input at line 1, column 2 (offset 1)",
           "with the json error");
    lua_close(S);
}

int main(void)
{
    L = luaL_newstate();
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_mpod_json);
    lua_setfield(L, -2, "mpod.json");
    lua_settop(L, 0);
    if (luaL_dostring(L, helpers) != LUA_OK) {
        printf("Bail out! %s\n", lua_tostring(L, -1));
        return 1;
    }
    test_round_trips();
    test_integers();
    test_floats();
    test_null_and_empty();
    test_strings();
    test_key_order();
    test_decode_errors();
    test_lexical_errors();
    test_number_errors();
    test_depth();
    test_encode_errors();
    test_c_api();
    lua_close(L);
    return done_testing();
}
