/*
 * json.c: the Lua module mpod.json, JSON text to Lua values and back.
 *
 * Decoding: one pass over the text by a recursive-descent parser that
 * pushes Lua values as it reads them (no tree in between). It holds the
 * text to RFC 8259: no leading zeros, no control bytes outside strings,
 * no raw control characters in strings, \u escapes with four hex digits
 * and paired surrogates, valid UTF-8, at most JSON_MAX_DEPTH levels. A
 * string keeps its exact bytes ("\u0000" included), and a number literal
 * that is an integer and fits becomes a Lua integer (beyond 2^53 too).
 * Errors name the first problem with its line, column and offset.
 *
 * Encoding: the Lua value becomes a cJSON tree that cJSON prints. Numbers
 * and strings are raw items formatted here (exact integers, floats that stay
 * floats, strings with NUL bytes); object keys are sorted by bytes.
 *
 * Memory: decoding allocates nothing outside Lua. When encoding, the cJSON
 * tree and printed text live in a "box" userdata marked to-be-closed, so an
 * error raised while they exist frees them; no function here owns malloc
 * memory when it raises.
 *
 * Arrays are marked in a weak-keyed registry table (decoded arrays and
 * json.array tables), which leaves the tables' own metatables alone. The null
 * sentinel is one zero-size userdata per state, kept in the registry.
 */
#include "mpod.h"
#include "num.h"
#include "text.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 200   /* nested arrays and objects, both ways */
#define EXCERPT_BYTES 20     /* of the text shown in a decode error */
#define BOX_MT "mpod.json.box"
#define NULL_MT "mpod.null"

static const char null_key, marks_key;   /* registry keys (addresses) */

/* ---- the null sentinel and the array marks ---------------------------- */

static int l_null_tostring(lua_State *L)
{
    lua_pushliteral(L, "null");
    return 1;
}

static const luaL_Reg null_meta[] = {
    { "__tostring", l_null_tostring },
    { NULL, NULL }
};

void mp_push_null(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &null_key) != LUA_TNIL)
        return;
    lua_pop(L, 1);
    lua_newuserdatauv(L, 0, 0);
    mp_new_class(L, NULL_MT, NULL, null_meta);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &null_key);
}

bool mp_is_null(lua_State *L, int idx)
{
    if (lua_type(L, idx) != LUA_TUSERDATA)
        return false;
    idx = lua_absindex(L, idx);
    mp_push_null(L);
    bool is = lua_rawequal(L, idx, -1);
    lua_pop(L, 1);
    return is;
}

/* Push the weak-keyed set of tables marked as JSON arrays. */
static void push_marks(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &marks_key) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &marks_key);
}

/* Mark the table at the top of the stack in the marks set at `marks`. */
static void mark_array(lua_State *L, int marks)
{
    lua_pushvalue(L, -1);
    lua_pushboolean(L, 1);
    lua_rawset(L, marks);
}

/* ---- the box: cJSON memory owned by a to-be-closed userdata ----------- */

typedef struct {
    cJSON *tree;
    char *text;
} json_box;

static int box_close(lua_State *L)
{
    json_box *box = lua_touserdata(L, 1);
    cJSON_Delete(box->tree);
    box->tree = NULL;
    cJSON_free(box->text);
    box->text = NULL;
    return 0;
}

static const luaL_Reg box_meta[] = {
    { "__close", box_close },
    { "__gc", box_close },
    { NULL, NULL }
};

/* Push an empty box marked to be closed and return it. */
static json_box *push_box(lua_State *L)
{
    json_box *box = lua_newuserdatauv(L, sizeof *box, 0);
    box->tree = NULL;
    box->text = NULL;
    mp_new_class(L, BOX_MT, NULL, box_meta);
    lua_setmetatable(L, -2);
    lua_toclose(L, -1);
    return box;
}

/* Free what the box at idx holds and remove it from the stack. */
static void drop_box(lua_State *L, int idx)
{
    lua_closeslot(L, idx);
    lua_remove(L, idx);
}

/* Add s to b for an error message: printable ASCII and valid UTF-8 as they
 * are, every other byte as \xHH, so the message stays on one line. */
static void add_printable(luaL_Buffer *b, const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = u[i] >= 0x80 ? mp_utf8_seq_len(u + i, len - i) : 1;
        if (n > 1 || (u[i] >= 0x20 && u[i] < 0x7F)) {
            luaL_addlstring(b, s + i, n);
            i += n;
        } else {
            char hex[8];
            snprintf(hex, sizeof hex, "\\x%02X", u[i++]);
            luaL_addstring(b, hex);
        }
    }
}

/* ---- decoding: the lexer ---------------------------------------------- */

typedef struct {
    const char *text;
    size_t len;        /* text[len] is a NUL byte (a Lua string) */
    size_t pos;        /* next byte to read */
    size_t start;      /* where the last token starts */
    bool escaped;      /* a string token: it holds escape sequences */
    bool integral;     /* a number token: no fraction, no exponent */
    int depth;         /* open arrays and objects */
    int marks;         /* stack index of the array marks */
} lexer;

/* Raise a "json" error: `what` at byte pos of the text, with its line,
 * column and, unless pos is the end, an excerpt from there on. */
static int raise_at(lua_State *L, const lexer *lx, size_t pos, const char *what)
{
    lua_Integer line = 1, column = 1;
    for (size_t i = 0; i < pos; i++) {
        column = lx->text[i] == '\n' ? 1 : column + 1;
        line += lx->text[i] == '\n';
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    lua_pushfstring(L, "%s at line %I, column %I (offset %I)", what, line,
                    column, (lua_Integer)pos);
    luaL_addvalue(&b);
    if (pos < lx->len) {
        size_t n = lx->len - pos < EXCERPT_BYTES ? lx->len - pos : EXCERPT_BYTES;
        luaL_addstring(&b, " near '");
        add_printable(&b, lx->text + pos, n);
        luaL_addchar(&b, '\'');
    }
    luaL_pushresult(&b);
    mp_push_error(L, "json", "%s", lua_tostring(L, -1));
    mp_error_set_integer(L, "position", (lua_Integer)pos);
    mp_error_set_integer(L, "line", line);
    mp_error_set_integer(L, "column", column);
    return lua_error(L);
}

static bool is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* The value of the 4 hex digits at s (avail bytes readable), or -1. */
static long hex4(const char *s, size_t avail)
{
    long v = 0;
    for (size_t i = 0; i < 4; i++) {
        int c = i < avail ? s[i] : 0, d;
        if (is_digit(c))
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* The escape sequence at byte i (a backslash) inside a string: checks it
 * and returns its length in the text. */
static size_t lex_escape(lua_State *L, const lexer *lx, size_t i)
{
    const char *s = lx->text + i;
    size_t avail = lx->len - i;
    if (avail < 2)
        raise_at(L, lx, lx->start, "unterminated string");
    if (s[1] != 'u') {
        if (!strchr("\"\\/bfnrt", s[1]) || s[1] == '\0')
            raise_at(L, lx, i, "invalid escape sequence");
        return 2;
    }
    long hi = hex4(s + 2, avail - 2);
    if (hi < 0)
        raise_at(L, lx, i, "invalid \\u escape");
    if (hi < 0xD800 || hi > 0xDFFF)
        return 6;
    if (hi > 0xDBFF || avail < 8 || s[6] != '\\' || s[7] != 'u')
        raise_at(L, lx, i, "unpaired UTF-16 surrogate in \\u escape");
    long lo = hex4(s + 8, avail - 8);
    if (lo < 0)
        raise_at(L, lx, i + 6, "invalid \\u escape");
    if (lo < 0xDC00 || lo > 0xDFFF)
        raise_at(L, lx, i, "unpaired UTF-16 surrogate in \\u escape");
    return 12;
}

/* A string token: check it and record whether it holds escapes. */
static void lex_string(lua_State *L, lexer *lx)
{
    const unsigned char *s = (const unsigned char *)lx->text;
    size_t i = lx->pos + 1;
    lx->escaped = false;
    while (i < lx->len && s[i] != '"') {
        if (s[i] == '\\') {
            i += lex_escape(L, lx, i);
            lx->escaped = true;
        } else if (s[i] < 0x20) {
            raise_at(L, lx, i, "unescaped control character in string");
        } else {
            size_t k = mp_utf8_seq_len(s + i, lx->len - i);
            if (k == 0)
                raise_at(L, lx, i, "invalid UTF-8 in string");
            i += k;
        }
    }
    if (i >= lx->len)
        raise_at(L, lx, lx->start, "unterminated string");
    lx->pos = i + 1;
}

/* The offset of the first non-digit in s[i..end), or end. */
static size_t skip_digits(const char *s, size_t i, size_t end)
{
    while (i < end && is_digit(s[i]))
        i++;
    return i;
}

/* A number token: the run of digits, signs, dots and exponent letters at
 * lx->pos must follow the JSON grammar
 * -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? exactly. */
static void lex_number(lua_State *L, lexer *lx)
{
    const char *s = lx->text;
    size_t end = lx->pos, i = lx->pos, d;
    while (end < lx->len && (is_digit(s[end]) || strchr("+-.eE", s[end]))
           && s[end] != '\0')
        end++;
    i += s[i] == '-';
    d = s[i] == '0' ? i + 1 : skip_digits(s, i, end);
    bool ok = d > i;
    lx->integral = true;
    if (ok && d < end && s[d] == '.') {
        i = d + 1;
        d = skip_digits(s, i, end);
        ok = d > i;
        lx->integral = false;
    }
    if (ok && d < end && (s[d] == 'e' || s[d] == 'E')) {
        i = d + 1 + (d + 1 < end && (s[d + 1] == '+' || s[d + 1] == '-'));
        d = skip_digits(s, i, end);
        ok = d > i;
        lx->integral = false;
    }
    if (!ok || d != end)
        raise_at(L, lx, lx->start, "invalid number");
    lx->pos = end;
}

/* A word token: true, false or null. */
static void lex_word(lua_State *L, lexer *lx)
{
    size_t end = lx->pos;
    while (end < lx->len && ((lx->text[end] | 0x20) >= 'a'
                             && (lx->text[end] | 0x20) <= 'z'))
        end++;
    size_t n = end - lx->pos;
    const char *w = lx->text + lx->pos;
    if (!((n == 4 && (memcmp(w, "true", 4) == 0 || memcmp(w, "null", 4) == 0))
          || (n == 5 && memcmp(w, "false", 5) == 0)))
        raise_at(L, lx, lx->start, "invalid literal (expected true, false or null)");
    lx->pos = end;
}

/* ---- decoding: values ------------------------------------------------- */

/* Push the number token just read: an integer when its literal is one that
 * fits, else a float. The token follows the JSON grammar, so strtod reads
 * exactly its bytes. */
static void push_number(lua_State *L, const lexer *lx)
{
    const char *literal = lx->text + lx->start;
    int64_t i;
    if (lx->integral && mp_parse_int64(literal, lx->pos - lx->start, &i)) {
        lua_pushinteger(L, (lua_Integer)i);
        return;
    }
    double value = mp_strtod(literal, NULL);
    if (isinf(value))
        raise_at(L, lx, lx->start, "number out of range");
    lua_pushnumber(L, value);
}

/* Add code point cp to b as UTF-8 (cp < 0x110000, not a surrogate). */
static void add_utf8(luaL_Buffer *b, long cp)
{
    if (cp < 0x80) {
        luaL_addchar(b, (char)cp);
    } else if (cp < 0x800) {
        luaL_addchar(b, (char)(0xC0 | cp >> 6));
        luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        luaL_addchar(b, (char)(0xE0 | cp >> 12));
        luaL_addchar(b, (char)(0x80 | (cp >> 6 & 0x3F)));
        luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
    } else {
        luaL_addchar(b, (char)(0xF0 | cp >> 18));
        luaL_addchar(b, (char)(0x80 | (cp >> 12 & 0x3F)));
        luaL_addchar(b, (char)(0x80 | (cp >> 6 & 0x3F)));
        luaL_addchar(b, (char)(0x80 | (cp & 0x3F)));
    }
}

/* The escape at s (checked by lex_escape): adds what it stands for to b and
 * returns its length in the text. */
static size_t add_escape_value(luaL_Buffer *b, const char *s)
{
    static const char short_from[] = "\"\\/bfnrt", short_to[] = "\"\\/\b\f\n\r\t";
    if (s[1] != 'u') {
        luaL_addchar(b, short_to[strchr(short_from, s[1]) - short_from]);
        return 2;
    }
    long cp = hex4(s + 2, 4);
    if (cp < 0xD800 || cp > 0xDFFF) {
        add_utf8(b, cp);
        return 6;
    }
    add_utf8(b, 0x10000 + ((cp - 0xD800) << 10) + (hex4(s + 8, 4) - 0xDC00));
    return 12;
}

/* Read a string token (lx->pos at its opening quote) and push its value. */
static void push_string(lua_State *L, lexer *lx)
{
    lx->start = lx->pos;
    lex_string(L, lx);
    const char *s = lx->text + lx->start + 1;
    const char *end = lx->text + lx->pos - 1;    /* the closing quote */
    if (!lx->escaped) {
        lua_pushlstring(L, s, (size_t)(end - s));
        return;
    }
    luaL_Buffer b;
    luaL_buffinitsize(L, &b, (size_t)(end - s));  /* escapes only shrink */
    while (s < end) {
        const char *backslash = memchr(s, '\\', (size_t)(end - s));
        size_t plain = (size_t)((backslash ? backslash : end) - s);
        luaL_addlstring(&b, s, plain);
        s += plain;
        if (backslash)
            s += add_escape_value(&b, s);
    }
    luaL_pushresult(&b);
}

/* Skip whitespace; returns the next byte, or -1 at the end of the text. */
static int skip_space(lexer *lx)
{
    while (lx->pos < lx->len && is_space(lx->text[lx->pos]))
        lx->pos++;
    return lx->pos < lx->len ? (unsigned char)lx->text[lx->pos] : -1;
}

/* The next byte after whitespace, which must be there. */
static int expect_more(lua_State *L, lexer *lx)
{
    int c = skip_space(lx);
    if (c < 0)
        raise_at(L, lx, lx->len, "unexpected end of input");
    return c;
}

/* An opening bracket: one level deeper, within JSON_MAX_DEPTH. */
static void open_level(lua_State *L, lexer *lx)
{
    if (lx->depth == JSON_MAX_DEPTH) {
        lua_pushfstring(L, "nesting deeper than %d levels", JSON_MAX_DEPTH);
        raise_at(L, lx, lx->pos, lua_tostring(L, -1));
    }
    lx->depth++;
    lx->pos++;
}

static void push_value(lua_State *L, lexer *lx);

/* After an item of an array or object: true when a ',' follows, false at
 * the closing byte `close`; anything else is a syntax error. */
static bool next_item(lua_State *L, lexer *lx, int close)
{
    int c = expect_more(L, lx);
    if (c != ',' && c != close)
        raise_at(L, lx, lx->pos, "syntax error");
    lx->pos++;
    return c == ',';
}

/* Items and members are gathered on the stack, up to BATCH at a time,
 * before they go into their table: a table made for the number it gets is
 * never rehashed, and most JSON arrays and objects are small. */
#define BATCH 64

/* Store the n values on top of the stack as items first+1..first+n of the
 * array at index `table` (made here, sized for them, when 0) and pop them.
 * Returns the table's index. */
static int store_items(lua_State *L, int table, lua_Integer first, int n)
{
    if (!table) {
        lua_createtable(L, n, 0);
        lua_insert(L, -n - 1);
        table = lua_gettop(L) - n;
    }
    for (int i = n; i > 0; i--)
        lua_rawseti(L, table, first + i);
    return table;
}

/* Store the n key-value pairs on top of the stack in the object at index
 * `table` (made here, sized for them, when 0), in document order so that
 * of duplicate keys the last wins, and pop them. Returns the table's index. */
static int store_members(lua_State *L, int table, int n)
{
    if (!table) {
        lua_createtable(L, 0, n);
        lua_insert(L, -2 * n - 1);
        table = lua_gettop(L) - 2 * n;
    }
    for (int i = 0; i < n; i++) {
        lua_pushvalue(L, table + 1 + 2 * i);
        lua_pushvalue(L, table + 2 + 2 * i);
        lua_rawset(L, table);
    }
    lua_settop(L, table);
    return table;
}

/* Read an array (lx->pos at its '[') and push it as a marked table. */
static void push_array(lua_State *L, lexer *lx)
{
    open_level(L, lx);
    int table = 0, pending = 0;
    lua_Integer stored = 0;
    if (expect_more(L, lx) == ']') {
        lx->pos++;
    } else {
        do {
            if (pending == BATCH) {
                table = store_items(L, table, stored, pending);
                stored += pending;
                pending = 0;
            }
            luaL_checkstack(L, 3, "JSON array");
            push_value(L, lx);
            pending++;
        } while (next_item(L, lx, ']'));
    }
    store_items(L, table, stored, pending);
    mark_array(L, lx->marks);
    lx->depth--;
}

/* Read an object (lx->pos at its '{') and push it. */
static void push_object(lua_State *L, lexer *lx)
{
    open_level(L, lx);
    int table = 0, pending = 0;
    if (expect_more(L, lx) == '}') {
        lx->pos++;
    } else {
        do {
            if (pending == BATCH) {
                table = store_members(L, table, pending);
                pending = 0;
            }
            if (expect_more(L, lx) != '"')
                raise_at(L, lx, lx->pos, "expected a string key");
            luaL_checkstack(L, 4, "JSON object");
            push_string(L, lx);
            if (expect_more(L, lx) != ':')
                raise_at(L, lx, lx->pos, "syntax error");
            lx->pos++;
            push_value(L, lx);
            pending++;
        } while (next_item(L, lx, '}'));
    }
    store_members(L, table, pending);
    lx->depth--;
}

/* Read the value at lx->pos (after whitespace) and push it. */
static void push_value(lua_State *L, lexer *lx)
{
    int c = expect_more(L, lx);
    lx->start = lx->pos;
    if (c == '"') {
        push_string(L, lx);
    } else if (c == '-' || is_digit(c)) {
        lex_number(L, lx);
        push_number(L, lx);
    } else if (c == '[') {
        push_array(L, lx);
    } else if (c == '{') {
        push_object(L, lx);
    } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') {
        lex_word(L, lx);
        if (lx->text[lx->start] == 'n')
            mp_push_null(L);
        else
            lua_pushboolean(L, lx->text[lx->start] == 't');
    } else {
        raise_at(L, lx, lx->pos, c < 0x20 ? "unexpected control character" : "syntax error");
    }
}

/* Decode the string at idx and push its value. */
static void decode_at(lua_State *L, int idx)
{
    lexer lx = { .marks = 0 };
    lx.text = lua_tolstring(L, idx, &lx.len);
    if (lx.len >= 3 && memcmp(lx.text, "\xEF\xBB\xBF", 3) == 0)
        lx.pos = 3;   /* a byte order mark */
    if (skip_space(&lx) < 0)
        raise_at(L, &lx, lx.len, "empty input");
    push_marks(L);
    lx.marks = lua_gettop(L);
    push_value(L, &lx);
    if (skip_space(&lx) >= 0)
        raise_at(L, &lx, lx.pos, "unexpected data after the JSON value");
    lua_remove(L, lx.marks);
}

void mp_json_decode(lua_State *L, const char *text, size_t len)
{
    lua_pushlstring(L, text, len);
    decode_at(L, -1);
    lua_remove(L, -2);
}

/* ---- encoding ---------------------------------------------------------- */

typedef struct {
    int table;           /* stack index of the table open at this level */
    const char *key;     /* the key being encoded in it (NULL: an array) */
    size_t key_len;
    lua_Integer index;   /* the index being encoded in it (arrays) */
} level;

typedef struct {
    lua_State *L;
    json_box *box;
    bool sort_keys;
    int marks;           /* stack index of the array marks */
    int depth;           /* tables open */
    level levels[JSON_MAX_DEPTH];
} encoder;

static bool is_identifier(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        int c = s[i];
        if (!(c == '_' || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
              || (i > 0 && is_digit(c))))
            return false;
    }
    return len > 0;
}

/* Push the path to the value open at `depth`: $, .name, ["odd key"], [3]
 * (indices are Lua's, from 1). */
static void push_path(encoder *e, int depth)
{
    luaL_Buffer b;
    luaL_buffinit(e->L, &b);
    luaL_addchar(&b, '$');
    for (int d = 0; d < depth; d++) {
        const level *lv = &e->levels[d];
        if (!lv->key) {
            char index[32];
            snprintf(index, sizeof index, "[" LUA_INTEGER_FMT "]",
                     (LUAI_UACINT)lv->index);
            luaL_addstring(&b, index);
        } else if (is_identifier(lv->key, lv->key_len)) {
            luaL_addchar(&b, '.');
            luaL_addlstring(&b, lv->key, lv->key_len);
        } else {
            luaL_addstring(&b, "[\"");
            add_printable(&b, lv->key, lv->key_len);
            luaL_addstring(&b, "\"]");
        }
    }
    luaL_pushresult(&b);
}

/* Raise a "json" error "<what> at <path>[ (<detail>)]" for the value open
 * at `depth`; the error's `path` field holds the path. */
static int enc_error(encoder *e, int depth, const char *what,
                     const char *detail, ...)
{
    lua_State *L = e->L;
    push_path(e, depth);
    lua_pushfstring(L, "%s at %s", what, lua_tostring(L, -1));
    if (detail) {
        va_list ap;
        va_start(ap, detail);
        lua_pushliteral(L, " (");
        lua_pushvfstring(L, detail, ap);
        lua_pushliteral(L, ")");
        lua_concat(L, 4);
        va_end(ap);
    }
    mp_push_error(L, "json", "%s", lua_tostring(L, -1));
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "path");
    return lua_error(L);
}

/* The table at idx would open one level too many: a cycle if a table
 * repeats on the path, else simply too deep. */
static int too_deep(encoder *e, int idx)
{
    for (int j = 1; j <= JSON_MAX_DEPTH; j++) {
        int tj = j < JSON_MAX_DEPTH ? e->levels[j].table : idx;
        for (int i = 0; i < j; i++) {
            if (lua_rawequal(e->L, e->levels[i].table, tj)) {
                push_path(e, i);
                return enc_error(e, j, "cycle", "the same table as %s",
                                 lua_tostring(e->L, -1));
            }
        }
    }
    return enc_error(e, JSON_MAX_DEPTH, "nesting deeper than 200 levels", NULL);
}

/* Attach item to parent under the key or index of the current level, or
 * make it the root. Frees item and raises when that fails (item NULL: out
 * of memory). */
static cJSON *attach(encoder *e, cJSON *parent, cJSON *item)
{
    bool ok = item != NULL;
    if (ok && !parent)
        e->box->tree = item;
    else if (ok && cJSON_IsArray(parent))
        ok = cJSON_AddItemToArray(parent, item);
    else if (ok)
        ok = cJSON_AddItemToObject(parent, e->levels[e->depth - 1].key, item);
    if (!ok) {
        cJSON_Delete(item);
        mp_raise(e->L, "json", "out of memory while encoding JSON");
    }
    return item;
}

/* Format d so that it reads back as the same float (mp_format_double),
 * with ".0" when it would otherwise read as an integer. */
static void format_float(char *buf, size_t size, double d)
{
    mp_format_double(buf, size, d);
    if (!strpbrk(buf, ".e"))
        strcat(buf, ".0");
}

/* Integers as their digits, floats by format_float; NaN and inf raise. */
static void encode_number(encoder *e, int idx, cJSON *parent)
{
    char buf[48];
    if (lua_isinteger(e->L, idx)) {
        snprintf(buf, sizeof buf, LUA_INTEGER_FMT,
                 (LUAI_UACINT)lua_tointeger(e->L, idx));
    } else {
        double d = lua_tonumber(e->L, idx);
        if (isnan(d))
            enc_error(e, e->depth, "cannot encode NaN", NULL);
        if (isinf(d))
            enc_error(e, e->depth, "cannot encode an infinite number", NULL);
        format_float(buf, sizeof buf, d);
    }
    attach(e, parent, cJSON_CreateRaw(buf));
}

/* The offset of the first byte of s that is not valid UTF-8, or len. */
static size_t utf8_check(const char *s, size_t len)
{
    size_t i = 0, n;
    while (i < len && (n = mp_utf8_seq_len((const unsigned char *)s + i, len - i)))
        i += n;
    return i;
}

/* Add the JSON escape of c: a short form if it has one, else \u00XX. */
static void add_escape(luaL_Buffer *b, unsigned char c)
{
    static const char from[] = "\"\\\b\f\n\r\t", to[] = "\"\\bfnrt";
    const char *p = c ? memchr(from, c, sizeof from - 1) : NULL;
    char esc[8];
    if (p)
        snprintf(esc, sizeof esc, "\\%c", to[p - from]);
    else
        snprintf(esc, sizeof esc, "\\u%04x", c);
    luaL_addstring(b, esc);
}

/* Push s as a quoted JSON string: '"', '\' and control characters escaped
 * (as cJSON escapes keys), everything else as it is. */
static void push_quoted(lua_State *L, const char *s, size_t len)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addchar(&b, '"');
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        luaL_addlstring(&b, s + run, i - run);
        add_escape(&b, c);
        run = i + 1;
    }
    luaL_addlstring(&b, s + run, len - run);
    luaL_addchar(&b, '"');
    luaL_pushresult(&b);
}

/* A raw item holding the quoted string; invalid UTF-8 raises. */
static void encode_string(encoder *e, int idx, cJSON *parent)
{
    size_t len;
    const char *s = lua_tolstring(e->L, idx, &len);
    size_t bad = utf8_check(s, len);
    if (bad < len)
        enc_error(e, e->depth, "invalid UTF-8 in string", "byte %I",
                  (lua_Integer)bad + 1);
    push_quoted(e->L, s, len);
    attach(e, parent, cJSON_CreateRaw(lua_tostring(e->L, -1)));
    lua_pop(e->L, 1);
}

static void encode_value(encoder *e, int idx, cJSON *parent);

/* Whether the table at idx is marked as an array. */
static bool is_marked(encoder *e, int idx)
{
    lua_pushvalue(e->L, idx);
    bool marked = lua_rawget(e->L, e->marks) != LUA_TNIL;
    lua_pop(e->L, 1);
    return marked;
}

/* Raise for a table key that is neither a string nor an integer. */
static int bad_key(encoder *e, int key)
{
    const char *type = lua_type(e->L, key) == LUA_TNUMBER
                     ? "non-integer number" : luaL_typename(e->L, key);
    lua_pushfstring(e->L, "cannot encode a table with a %s key", type);
    return enc_error(e, e->depth, lua_tostring(e->L, -1), NULL);
}

/* Classify the table at idx: true for an array of *n items (keys 1..n, or
 * marked by json.array), false for an object of *n string keys (or an
 * empty unmarked table). Raises for anything else. */
static bool table_shape(encoder *e, int idx, size_t *n)
{
    lua_State *L = e->L;
    size_t count = 0, strings = 0;
    lua_Integer min = LUA_MAXINTEGER, max = LUA_MININTEGER;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        count++;
        if (lua_type(L, -1) == LUA_TSTRING) {
            strings++;
        } else if (lua_isinteger(L, -1)) {
            lua_Integer k = lua_tointeger(L, -1);
            min = k < min ? k : min;
            max = k > max ? k : max;
        } else {
            bad_key(e, lua_gettop(L));
        }
    }
    *n = count;
    bool marked = is_marked(e, idx);
    if (strings > 0 && (marked || strings < count))
        enc_error(e, e->depth, marked ? "cannot encode a json.array table "
                  "with string keys" : "cannot encode a table with both "
                  "string and integer keys", NULL);
    if (strings > 0 || (count == 0 && !marked))
        return false;
    if (count > 0 && (min != 1 || max != (lua_Integer)count))
        enc_error(e, e->depth, "cannot encode a sparse array",
                  "indices %I..%I, expected 1..%I", min, max, (lua_Integer)count);
    return true;
}

/* Items 1..n of the table at idx into array. */
static void encode_items(encoder *e, int idx, cJSON *array, size_t n)
{
    level *lv = &e->levels[e->depth - 1];
    for (lua_Integer i = 1; i <= (lua_Integer)n; i++) {
        lv->index = i;
        lua_rawgeti(e->L, idx, i);
        encode_value(e, lua_gettop(e->L), array);
        lua_pop(e->L, 1);
    }
}

typedef struct {
    const char *s;
    size_t len;
} key_ref;

/* Bytewise, so the order does not depend on the locale. */
static int compare_keys(const void *a, const void *b)
{
    const key_ref *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Push a userdata holding the n string keys of the table at idx (the table
 * keeps the strings alive) and return them. */
static key_ref *collect_keys(lua_State *L, int idx, size_t n)
{
    key_ref *keys = lua_newuserdatauv(L, n * sizeof *keys, 0);
    size_t i = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        keys[i].s = lua_tolstring(L, -1, &keys[i].len);
        i++;
    }
    return keys;
}

/* The n members of the table at idx into object, keys sorted unless
 * sort_keys is off; a key cJSON cannot write raises with its path. */
static void encode_members(encoder *e, int idx, cJSON *object, size_t n)
{
    lua_State *L = e->L;
    key_ref *keys = collect_keys(L, idx, n);
    if (e->sort_keys)
        qsort(keys, n, sizeof *keys, compare_keys);
    level *lv = &e->levels[e->depth - 1];
    for (size_t i = 0; i < n; i++) {
        lv->key = keys[i].s;
        lv->key_len = keys[i].len;
        if (memchr(keys[i].s, '\0', keys[i].len))
            enc_error(e, e->depth, "cannot encode an object key with a NUL byte", NULL);
        if (utf8_check(keys[i].s, keys[i].len) < keys[i].len)
            enc_error(e, e->depth, "invalid UTF-8 in object key", NULL);
        lua_pushlstring(L, keys[i].s, keys[i].len);
        lua_rawget(L, idx);
        encode_value(e, lua_gettop(L), object);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* A table as an array or an object, one level deeper. */
static void encode_table(encoder *e, int idx, cJSON *parent)
{
    if (e->depth == JSON_MAX_DEPTH)
        too_deep(e, idx);
    luaL_checkstack(e->L, 8, "JSON nesting");
    size_t n;
    bool array = table_shape(e, idx, &n);
    cJSON *item = attach(e, parent, array ? cJSON_CreateArray()
                                          : cJSON_CreateObject());
    level *lv = &e->levels[e->depth++];
    lv->table = idx;
    lv->key = NULL;
    if (array)
        encode_items(e, idx, item, n);
    else
        encode_members(e, idx, item, n);
    e->depth--;
}

/* Encode the value at idx (an absolute index) into a new item attached to
 * parent, or as the root when parent is NULL. */
static void encode_value(encoder *e, int idx, cJSON *parent)
{
    lua_State *L = e->L;
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        attach(e, parent, cJSON_CreateNull());
        break;
    case LUA_TBOOLEAN:
        attach(e, parent, cJSON_CreateBool(lua_toboolean(L, idx)));
        break;
    case LUA_TNUMBER:
        encode_number(e, idx, parent);
        break;
    case LUA_TSTRING:
        encode_string(e, idx, parent);
        break;
    case LUA_TTABLE:
        encode_table(e, idx, parent);
        break;
    default:
        if (mp_is_null(L, idx)) {
            attach(e, parent, cJSON_CreateNull());
            break;
        }
        if (luaL_getmetafield(L, idx, "__name") != LUA_TSTRING)
            lua_pushstring(L, luaL_typename(L, idx));
        lua_pushfstring(L, "cannot encode a %s", lua_tostring(L, -1));
        enc_error(e, e->depth, lua_tostring(L, -1), NULL);
    }
}

/* Encode the value at idx and push the text. */
static void encode_at(lua_State *L, int idx, bool pretty, bool sort_keys)
{
    encoder e = { .L = L, .sort_keys = sort_keys };
    idx = lua_absindex(L, idx);
    e.box = push_box(L);
    int box_idx = lua_gettop(L);
    push_marks(L);
    e.marks = lua_gettop(L);
    encode_value(&e, idx, NULL);
    e.box->text = pretty ? cJSON_Print(e.box->tree)
                         : cJSON_PrintUnformatted(e.box->tree);
    if (!e.box->text)
        mp_raise(L, "json", "out of memory while printing JSON");
    lua_pushstring(L, e.box->text);
    lua_remove(L, e.marks);
    drop_box(L, box_idx);
}

void mp_json_encode(lua_State *L, int idx)
{
    encode_at(L, idx, false, true);
}

/* ---- the Lua module ----------------------------------------------------- */

/* json.decode(text) -> value */
static int l_decode(lua_State *L)
{
    luaL_checkstring(L, 1);
    decode_at(L, 1);
    return 1;
}

/* json.encode(value [, {pretty = bool, sort_keys = bool}]) -> text */
static int l_encode(lua_State *L)
{
    bool pretty = false, sort_keys = true;
    luaL_checkany(L, 1);
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        lua_pushnil(L);
        while (lua_next(L, 2)) {
            const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
            if (strcmp(k, "pretty") == 0)
                pretty = lua_toboolean(L, -1);
            else if (strcmp(k, "sort_keys") == 0)
                sort_keys = lua_toboolean(L, -1);
            else
                luaL_argerror(L, 2, lua_pushfstring(L, "unknown option '%s'",
                                                    luaL_tolstring(L, -2, NULL)));
            lua_pop(L, 1);
        }
    }
    encode_at(L, 1, pretty, sort_keys);
    return 1;
}

/* json.array([t]) -> t (or a new table), marked to encode as an array */
static int l_array(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) {
        lua_settop(L, 0);
        lua_newtable(L);
    } else {
        luaL_checktype(L, 1, LUA_TTABLE);
        lua_settop(L, 1);
    }
    push_marks(L);
    lua_pushvalue(L, 1);
    mark_array(L, 2);
    lua_settop(L, 1);
    return 1;
}

static const luaL_Reg json_functions[] = {
    { "decode", l_decode },
    { "encode", l_encode },
    { "array", l_array },
    { NULL, NULL }
};

int luaopen_mpod_json(lua_State *L)
{
    luaL_newlib(L, json_functions);
    mp_push_null(L);
    lua_setfield(L, -2, "null");
    return 1;
}
