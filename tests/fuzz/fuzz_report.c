/*
 * fuzz_report.c: libFuzzer target for the YAML emitter of the reports
 * (mpod.runner.report.yaml, lua/mpod/runner/report/yaml.lua, on the
 * escaping loops of src/text.c) on arbitrary Lua tables. The state is the
 * engine's own (mp_host_new: the bundled modules, the C modules).
 *
 * The input's bytes drive a small builder that makes a Lua value: strings
 * of any bytes, integers, floats (NaN and infinities included), booleans,
 * tables used as lists or maps with keys of any type, sparse lists, tables
 * with a __tostring (which raises: the emitter reads tables raw and must
 * never call it), tables nested past the emitter's depth limit and tables
 * referenced twice or holding themselves. The YAML
 * the emitter writes for it is then read back by a strict reader written
 * here for the subset the emitter promises (block mappings and lists, a
 * list item's mapping on the dash's line, double-quoted strings, "|"
 * literal blocks, numbers, booleans, ~ and {}), which checks the layout
 * line by line: each entry exactly at its indentation, valid UTF-8, no
 * control character. What it reads must be the value, written in one
 * canonical form on both sides: strings with invalid bytes as U+FFFD and
 * without trailing newlines (a block adds one), floats as %.14g, keys that
 * are not strings as "[text]" (tostring's text without __tostring),
 * tables as structure whatever their metatable, or past depth 8 as that
 * text. Bounds the emitter applies (long strings, many
 * entries, the block limit) are exercised but, where they cut, only the
 * layout is checked.
 */
#include "host.h"
#include "mpod.h"
#include "text.h"

#include <ctype.h>
#include <lualib.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 8             /* the emitter's YAML_MAX_DEPTH */

static lua_State *L;

static void fail(const char *what, const mp_sbuf *yaml)
{
    fprintf(stderr, "fuzz_report: %s\n--- yaml:\n%.*s\n", what,
            yaml ? (int)(yaml->len < 4000 ? yaml->len : 4000) : 0,
            yaml && yaml->data ? yaml->data : "");
    abort();
}

/* ---- building a value ---- */

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    int tables;             /* tables made so far, in the registry list */
} builder;

static unsigned byte(builder *g)
{
    return g->pos < g->size ? g->data[g->pos++] : 0;
}

static void take(builder *g, void *out, size_t n)
{
    memset(out, 0, n);
    size_t k = g->size - g->pos < n ? g->size - g->pos : n;
    memcpy(out, g->data + g->pos, k);
    g->pos += k;
}

static const char *const words[] = {
    "message", "kind", "at", "got", "expected", "diff", "log", "logs",
    "stack", "yes", "no", "null", "true", "", "a: b", "- x", "#c", "\"q\"",
    "line one\nline two\n", "a\n\nb", "  indented\nx", "\nlead", "tail\n\n",
    "tab\tin\nblock", "\xff\xfe bad\nutf8", "caf\xc3\xa9\n\xe2\x9c\x93",
    "nel\xc2\x85x\ny", "...", "---", "|", "{}", "~", "1", "[1]", "0x10",
};

static void build(builder *g, int depth);

/* The tables made so far live in a list at registry slot "fuzz_tables",
 * so later ones can refer back to them (shared and cyclic tables). */
static void remember(builder *g)
{
    lua_getfield(L, LUA_REGISTRYINDEX, "fuzz_tables");
    lua_pushvalue(L, -2);
    lua_rawseti(L, -2, ++g->tables);
    lua_pop(L, 1);
}

static void build_string(builder *g)
{
    size_t n = byte(g) % 48;
    char buf[48];
    take(g, buf, n);
    lua_pushlstring(L, buf, n);
}

static void build_key(builder *g)
{
    unsigned op = byte(g);
    switch (op % 6) {
    case 0: case 1: build_string(g); break;
    case 2: lua_pushstring(L, words[byte(g) % (sizeof words / sizeof *words)]); break;
    case 3: lua_pushinteger(L, (lua_Integer)(int8_t)byte(g)); break;
    case 4: lua_pushnumber(L, (double)(int8_t)byte(g) / 4); break;
    default: lua_pushboolean(L, op & 8); break;
    }
    if (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) != lua_tonumber(L, -1))
        lua_pop(L, 1), lua_pushinteger(L, 0);
}

static void build_table(builder *g, int depth, bool list)
{
    unsigned n = byte(g) % 9;
    lua_createtable(L, 0, 0);
    remember(g);
    for (unsigned i = 1; i <= n; i++) {
        if (list)
            lua_pushinteger(L, byte(g) % 4 == 0 ? (lua_Integer)i + 1 : (lua_Integer)i);
        else
            build_key(g);
        build(g, depth + 1);
        lua_rawset(L, -3);
    }
}

static int tostring_meta(lua_State *S)
{
    return luaL_error(S, "the emitter called a __tostring");
}

static void build(builder *g, int depth)
{
    unsigned op = byte(g);
    if (depth > 11 && op % 12 >= 7)
        op = 0;
    switch (op % 12) {
    case 0: build_string(g); break;
    case 1: lua_pushstring(L, words[byte(g) % (sizeof words / sizeof *words)]); break;
    case 2: { int64_t v; take(g, &v, sizeof v); lua_pushinteger(L, v); break; }
    case 3: { double d; take(g, &d, sizeof d); lua_pushnumber(L, d); break; }
    case 4: lua_pushboolean(L, op & 16); break;
    case 5: lua_pushnumber(L, op & 16 ? NAN : (op & 32 ? -INFINITY : INFINITY)); break;
    case 6: lua_pushinteger(L, (lua_Integer)(int8_t)byte(g)); break;
    case 7: case 8: build_table(g, depth, false); break;
    case 9: build_table(g, depth, true); break;
    case 10:                        /* a table with a __tostring */
        lua_createtable(L, 0, 1);
        build_string(g);
        lua_setfield(L, -2, "text");
        lua_createtable(L, 0, 1);
        lua_pushcfunction(L, tostring_meta);
        lua_setfield(L, -2, "__tostring");
        lua_setmetatable(L, -2);
        break;
    default:                        /* a table made before: shared, cycles */
        if (g->tables == 0 || op & 0x30) {
            lua_pushliteral(L, "none yet");
            break;
        }
        lua_getfield(L, LUA_REGISTRYINDEX, "fuzz_tables");
        lua_rawgeti(L, -1, 1 + byte(g) % g->tables);
        lua_remove(L, -2);
        break;
    }
}

/* ---- the canonical form of a Lua value ---- */

static bool utf8_valid(const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t n = mp_utf8_seq_len((const unsigned char *)s + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

/* Strings: invalid bytes as U+FFFD, no trailing newlines, length-prefixed. */
static void canon_string(mp_sbuf *out, char tag, const char *s, size_t len)
{
    mp_sbuf clean = { 0 };
    for (size_t i = 0; i < len;) {
        size_t n = mp_utf8_seq_len((const unsigned char *)s + i, len - i);
        mp_sbuf_add(&clean, n ? s + i : "\xEF\xBF\xBD", n ? n : 3);
        i += n ? n : 1;
    }
    while (clean.len > 0 && clean.data[clean.len - 1] == '\n')
        clean.len--;
    mp_sbuf_addf(out, "%c%zu:", tag, clean.len);
    if (clean.len)
        mp_sbuf_add(out, clean.data, clean.len);
    mp_sbuf_free(&clean);
}

/* Floats print with %.14g, so one that prints as digits reads back as
 * an integer. */
static void canon_float(mp_sbuf *out, double d)
{
    char text[64];
    if (isnan(d)) {
        mp_sbuf_adds(out, "F.nan");
        return;
    }
    if (isinf(d)) {
        mp_sbuf_adds(out, d > 0 ? "F.inf" : "F-.inf");
        return;
    }
    snprintf(text, sizeof text, "%.14g", d);
    const char *digits = text + (text[0] == '-');
    if (strspn(digits, "0123456789") == strlen(digits))
        mp_sbuf_addf(out, "I%lld", strtoll(text, NULL, 10));
    else
        mp_sbuf_addf(out, "F%s", text);
}

typedef struct {
    char *key;      /* canonical key, then '=' and the value */
    size_t key_len, len;
} entry;

static int compare_entries(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    return c ? c : (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/* Join entries sorted by key into "M{...}"; false when two keys are the
 * same (the emitter then adds " (2)", which the canonical form skips). */
static bool join_entries(mp_sbuf *out, entry *e, size_t n)
{
    qsort(e, n, sizeof *e, compare_entries);
    bool unique = true;
    mp_sbuf_adds(out, "M{");
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && compare_entries(&e[i - 1], &e[i]) == 0)
            unique = false;
        mp_sbuf_add(out, e[i].key, e[i].len);
        mp_sbuf_adds(out, ";");
    }
    mp_sbuf_adds(out, "}");
    for (size_t i = 0; i < n; i++)
        free(e[i].key);
    free(e);
    return unique;
}

static bool is_sequence(int idx)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0;
    if (n == 0)
        return false;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        count++;
        lua_pop(L, 1);
    }
    return count == n;
}

static bool canon_value(mp_sbuf *out, int idx, int depth);

/* Push what tostring() shows of the value at idx, without __tostring:
 * the text the emitter gives what it does not print as structure. */
static const char *plain_text(int idx, size_t *len)
{
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
    case LUA_TNUMBER:
    case LUA_TBOOLEAN:
    case LUA_TNIL:
        return luaL_tolstring(L, idx, len);      /* no metamethod for these */
    default:
        lua_pushfstring(L, "%s: %p", luaL_typename(L, idx), lua_topointer(L, idx));
        return lua_tolstring(L, -1, len);
    }
}

/* A mapping: keys as the emitter shows them. */
static bool canon_mapping(mp_sbuf *out, int idx, int depth)
{
    size_t n = 0, cap = 8;
    entry *e = malloc(cap * sizeof *e);
    bool unique = true;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        mp_sbuf item = { 0 };
        size_t len;
        if (lua_type(L, -2) == LUA_TSTRING) {
            const char *k = lua_tolstring(L, -2, &len);
            canon_string(&item, 'K', k, len);
        } else {
            lua_pushliteral(L, "[");
            plain_text(-3, NULL);
            lua_pushliteral(L, "]");
            lua_concat(L, 3);
            const char *k = lua_tolstring(L, -1, &len);
            canon_string(&item, 'K', k, len);
            lua_pop(L, 1);
        }
        size_t key_len = item.len;
        mp_sbuf_adds(&item, "=");
        unique &= canon_value(&item, lua_gettop(L), depth + 1);
        lua_pop(L, 1);
        if (n == cap)
            e = realloc(e, (cap *= 2) * sizeof *e);
        e[n++] = (entry){ item.data, key_len, item.len };
    }
    return join_entries(out, e, n) && unique;
}

/* Values visited by the canonical form of one input: tables shared many
 * times over grow it exponentially, while the emitter stops at its block
 * limit; past CANON_MAX_NODES the input is not compared. */
#define CANON_MAX_NODES 20000
static size_t canon_nodes;

/* The canonical form of the value at idx at the given depth; false when
 * it holds keys that print the same or is too big to compare. */
static bool canon_value(mp_sbuf *out, int idx, int depth)
{
    if (++canon_nodes > CANON_MAX_NODES)
        return false;
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 10, "fuzz_report");
    switch (lua_type(L, idx)) {
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            mp_sbuf_addf(out, "I%lld", (long long)lua_tointeger(L, idx));
        else
            canon_float(out, lua_tonumber(L, idx));
        return true;
    case LUA_TBOOLEAN:
        mp_sbuf_adds(out, lua_toboolean(L, idx) ? "B1" : "B0");
        return true;
    case LUA_TNIL:
        mp_sbuf_adds(out, "N");
        return true;
    case LUA_TTABLE:
        if (depth < MAX_DEPTH) {
            if (is_sequence(idx)) {
                lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
                bool unique = true;
                mp_sbuf_adds(out, "L[");
                for (lua_Integer i = 1; i <= n; i++) {
                    lua_rawgeti(L, idx, i);
                    unique &= canon_value(out, -1, depth + 1);
                    lua_pop(L, 1);
                    mp_sbuf_adds(out, ",");
                }
                mp_sbuf_adds(out, "]");
                return unique;
            }
            return canon_mapping(out, idx, depth);
        }
        /* fall through: printed as its text */
    default: {
        size_t len;
        const char *s = plain_text(idx, &len);
        canon_string(out, 'S', s, len);
        lua_pop(L, 1);
        return true;
    }
    }
}

/* ---- reading the YAML back ---- */

typedef struct {
    int col;                /* leading spaces (or virtual, after "- ") */
    const char *text;       /* after them */
    size_t len;
} line;

typedef struct {
    line *lines;
    size_t n;
    const mp_sbuf *yaml;
} reader;

static void bad(reader *r, const char *what)
{
    fail(what, r->yaml);
}

static bool yaml_printable(uint32_t c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7F && !(c >= 0x80 && c <= 0x9F)
                         && c != 0x2028 && c != 0x2029 && c != 0xFEFF
                         && c != 0xFFFE && c != 0xFFFF);
}

static uint32_t decode(const char *s, size_t avail, size_t *n)
{
    *n = mp_utf8_seq_len((const unsigned char *)s, avail);
    const unsigned char *p = (const unsigned char *)s;
    if (*n <= 1)
        return p[0];
    uint32_t c = p[0] & (0x7F >> *n);
    for (size_t i = 1; i < *n; i++)
        c = (c << 6) | (p[i] & 0x3F);
    return c;
}

static void add_code_point(mp_sbuf *b, uint32_t c)
{
    char buf[4];
    size_t n;
    if (c < 0x80) { buf[0] = (char)c; n = 1; }
    else if (c < 0x800) { buf[0] = (char)(0xC0 | c >> 6); buf[1] = (char)(0x80 | (c & 0x3F)); n = 2; }
    else if (c < 0x10000) { buf[0] = (char)(0xE0 | c >> 12); buf[1] = (char)(0x80 | ((c >> 6) & 0x3F));
                            buf[2] = (char)(0x80 | (c & 0x3F)); n = 3; }
    else { buf[0] = (char)(0xF0 | c >> 18); buf[1] = (char)(0x80 | ((c >> 12) & 0x3F));
           buf[2] = (char)(0x80 | ((c >> 6) & 0x3F)); buf[3] = (char)(0x80 | (c & 0x3F)); n = 4; }
    mp_sbuf_add(b, buf, n);
}

/* A double-quoted scalar at s; returns the bytes it took (0: not one). */
static size_t read_quoted(reader *r, const char *s, size_t len, mp_sbuf *out)
{
    if (len == 0 || s[0] != '"')
        return 0;
    for (size_t i = 1; i < len;) {
        size_t n;
        uint32_t c = decode(s + i, len - i, &n);
        if (n == 0 || !yaml_printable(c))
            bad(r, "a quoted scalar holds a character readers do not take");
        if (c == '"')
            return i + 1;
        if (c != '\\') {
            mp_sbuf_add(out, s + i, n);
            i += n;
            continue;
        }
        if (++i >= len)
            bad(r, "a quoted scalar ends in a backslash");
        static const char simple[] = "0abtnvfre \"/\\N_LP";
        static const uint32_t value[] = { 0, 7, 8, 9, 10, 11, 12, 13, 27, ' ',
            '"', '/', '\\', 0x85, 0xA0, 0x2028, 0x2029 };
        const char *p = strchr(simple, s[i]);
        if (p && s[i]) {
            add_code_point(out, value[p - simple]);
            i++;
            continue;
        }
        size_t digits = s[i] == 'x' ? 2 : s[i] == 'u' ? 4 : s[i] == 'U' ? 8 : 0;
        if (!digits || i + digits >= len)
            bad(r, "a quoted scalar holds an unknown escape");
        char hex[9] = { 0 };
        memcpy(hex, s + i + 1, digits);
        char *end;
        unsigned long v = strtoul(hex, &end, 16);
        if (*end)
            bad(r, "a quoted scalar holds a bad hex escape");
        add_code_point(out, (uint32_t)v);
        i += digits + 1;
    }
    bad(r, "a quoted scalar is not closed on its line");
    return 0;
}

/* A key at the start of s: plain or quoted, then ':'. Returns the bytes
 * taken up to and including the ':' (0 when s is not a key). */
static size_t read_key(reader *r, const char *s, size_t len, mp_sbuf *key)
{
    size_t i;
    if (len > 0 && s[0] == '"') {
        i = read_quoted(r, s, len, key);
    } else {
        i = 0;
        while (i < len && (isalnum((unsigned char)s[i]) || strchr("_.-", s[i])))
            i++;
        if (i == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
            return 0;
        mp_sbuf_add(key, s, i);
    }
    if (i >= len || s[i] != ':')
        return 0;
    return i + 1;
}

static size_t read_node(reader *r, size_t i, int col, mp_sbuf *out);

/* A literal block after "|": the lines from i indented at least `col`. */
static size_t read_block(reader *r, size_t i, int col, mp_sbuf *out)
{
    mp_sbuf text = { 0 };
    bool first = true;
    for (; i < r->n && r->lines[i].col >= col; i++) {
        line *l = &r->lines[i];
        if (!first)
            mp_sbuf_add(&text, "\n", 1);
        if (first && (l->col != col || l->len == 0))
            bad(r, "a literal block's first line is not at its indentation");
        first = false;
        mp_sbuf_addf(&text, "%*s", l->col - col, "");
        for (size_t k = 0; k < l->len;) {
            size_t n;
            uint32_t c = decode(l->text + k, l->len - k, &n);
            if (n == 0 || !yaml_printable(c))
                bad(r, "a literal block holds a character readers do not take");
            k += n;
        }
        mp_sbuf_add(&text, l->text, l->len);
    }
    if (first)
        bad(r, "a literal block has no lines");
    canon_string(out, 'S', text.data ? text.data : "", text.len);
    mp_sbuf_free(&text);
    return i;
}

/* An inline value on line i after its key or dash (s, len); col is the
 * indentation of a block's lines. Returns the next line. */
static size_t read_inline(reader *r, size_t i, const char *s, size_t len,
                          int col, mp_sbuf *out)
{
    if (len == 1 && s[0] == '|')
        return read_block(r, i + 1, col, out);
    if (len > 0 && s[0] == '"') {
        mp_sbuf text = { 0 };
        if (read_quoted(r, s, len, &text) != len)
            bad(r, "text after a quoted scalar");
        canon_string(out, 'S', text.data ? text.data : "", text.len);
        mp_sbuf_free(&text);
        return i + 1;
    }
    char word[64];
    if (len == 0 || len >= sizeof word)
        bad(r, "a value that is no scalar");
    memcpy(word, s, len);
    word[len] = '\0';
    char *end;
    if (strcmp(word, "{}") == 0)
        mp_sbuf_adds(out, "M{}");
    else if (strcmp(word, "~") == 0)
        mp_sbuf_adds(out, "N");
    else if (strcmp(word, "true") == 0 || strcmp(word, "false") == 0)
        mp_sbuf_adds(out, word[0] == 't' ? "B1" : "B0");
    else if (strcmp(word, ".inf") == 0 || strcmp(word, "-.inf") == 0
             || strcmp(word, ".nan") == 0)
        mp_sbuf_addf(out, "F%s", word);
    else if (strspn(word + (word[0] == '-'), "0123456789") == strlen(word + (word[0] == '-'))
             && word[word[0] == '-'])
        mp_sbuf_addf(out, "I%lld", strtoll(word, NULL, 10));
    else if (canon_float(out, strtod(word, &end)), *end)
        bad(r, "a plain scalar that is no number, boolean or null");
    return i + 1;
}

/* A mapping whose entries sit at column col from line i. */
static size_t read_mapping(reader *r, size_t i, int col, mp_sbuf *out)
{
    size_t n = 0, cap = 8;
    entry *e = malloc(cap * sizeof *e);
    while (i < r->n && r->lines[i].col == col) {
        line *l = &r->lines[i];
        mp_sbuf key = { 0 }, item = { 0 };
        size_t k = read_key(r, l->text, l->len, &key);
        if (k == 0)
            bad(r, "a mapping line without a key");
        canon_string(&item, 'K', key.data ? key.data : "", key.len);
        mp_sbuf_free(&key);
        size_t key_len = item.len;
        mp_sbuf_adds(&item, "=");
        if (k == l->len) {                  /* nested, on the next lines */
            if (i + 1 >= r->n || r->lines[i + 1].col != col + 2)
                bad(r, "a nested value is not indented by two");
            i = read_node(r, i + 1, col + 2, &item);
        } else if (l->text[k] == ' ' && k + 1 < l->len) {
            i = read_inline(r, i, l->text + k + 1, l->len - k - 1, col + 2, &item);
        } else {
            bad(r, "a key is not followed by ': ' and a value");
        }
        if (n == cap)
            e = realloc(e, (cap *= 2) * sizeof *e);
        e[n++] = (entry){ item.data, key_len, item.len };
    }
    if (i < r->n && r->lines[i].col > col)
        bad(r, "a line is indented deeper than its mapping");
    join_entries(out, e, n);
    return i;
}

/* A list whose "- " items sit at column col from line i. */
static size_t read_sequence(reader *r, size_t i, int col, mp_sbuf *out)
{
    mp_sbuf_adds(out, "L[");
    while (i < r->n && r->lines[i].col == col) {
        line *l = &r->lines[i];
        if (l->len < 2 || l->text[0] != '-' || l->text[1] != ' ')
            bad(r, "a list line without '- '");
        if (l->len == 2) {                  /* the item on the next lines */
            if (i + 1 >= r->n || r->lines[i + 1].col != col + 2)
                bad(r, "a nested item is not indented by two");
            i = read_node(r, i + 1, col + 2, out);
        } else {
            mp_sbuf key = { 0 };
            bool is_map = read_key(r, l->text + 2, l->len - 2, &key) > 0;
            mp_sbuf_free(&key);
            l->col += 2;
            l->text += 2;
            l->len -= 2;
            if (is_map)
                i = read_mapping(r, i, col + 2, out);
            else
                i = read_inline(r, i, l->text, l->len, col + 2, out);
        }
        mp_sbuf_adds(out, ",");
    }
    if (i < r->n && r->lines[i].col > col)
        bad(r, "a line is indented deeper than its list");
    mp_sbuf_adds(out, "]");
    return i;
}

static size_t read_node(reader *r, size_t i, int col, mp_sbuf *out)
{
    line *l = &r->lines[i];
    if (l->len >= 2 && l->text[0] == '-' && l->text[1] == ' ')
        return read_sequence(r, i, col, out);
    return read_mapping(r, i, col, out);
}

/* Read the block: "<indent>---", the mapping at <indent>, "<indent>...". */
static void read_yaml(const mp_sbuf *yaml, int indent, mp_sbuf *out)
{
    reader r = { NULL, 0, yaml };
    if (!utf8_valid(yaml->data, yaml->len))
        bad(&r, "the YAML is not valid UTF-8");
    size_t cap = 64;
    r.lines = malloc(cap * sizeof *r.lines);
    for (const char *p = yaml->data, *end = yaml->data + yaml->len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            bad(&r, "the YAML does not end with a newline");
        line l = { 0, p, (size_t)(nl - p) };
        while (l.len > 0 && l.text[0] == ' ') {
            l.col++;
            l.text++;
            l.len--;
        }
        for (size_t k = 0; k < l.len; k++)
            if ((unsigned char)l.text[k] < 0x20 && l.text[k] != '\t')
                bad(&r, "a control character in a line");
        if (r.n == cap)
            r.lines = realloc(r.lines, (cap *= 2) * sizeof *r.lines);
        r.lines[r.n++] = l;
        p = nl + 1;
    }
    if (r.n < 2 || r.lines[0].col != indent || r.lines[0].len != 3
        || memcmp(r.lines[0].text, "---", 3) != 0
        || r.lines[r.n - 1].col != indent || r.lines[r.n - 1].len != 3
        || memcmp(r.lines[r.n - 1].text, "...", 3) != 0)
        bad(&r, "the block is not '---' ... '...' at its indentation");
    reader body = { r.lines + 1, r.n - 2, yaml };
    if (body.n == 1 && body.lines[0].len == 0)
        mp_sbuf_adds(out, "M{}");       /* an empty table */
    else if (read_mapping(&body, 0, indent, out) != body.n)
        bad(&r, "lines left after the top mapping");
    free(r.lines);
}

/* ---- the target ---- */

static void setup(void)
{
    L = mp_host_new();
    if (!L)
        fail("out of memory", NULL);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "mpod.runner.report.yaml");
    lua_call(L, 1, 1);
    lua_setglobal(L, "report");
}

static int emit(lua_State *S)
{
    lua_getglobal(S, "report");
    lua_getfield(S, -1, "block");
    lua_pushvalue(S, 1);
    lua_pushvalue(S, 2);
    lua_call(S, 2, 1);
    return 1;
}

/* A fresh state per input: a long-lived one grows between collections and
 * makes every run look like a leak to LeakSanitizer (slow). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, "fuzz_tables");
    builder g = { data, size, 0, 0 };
    int indent = (int)(byte(&g) % 6);
    build(&g, 1);
    if (!lua_istable(L, -1)) {              /* the top is always a mapping */
        lua_createtable(L, 0, 1);
        lua_insert(L, -2);
        lua_setfield(L, -2, "message");
    }
    int t = lua_gettop(L);
    lua_pushcfunction(L, emit);
    lua_pushvalue(L, t);
    lua_pushinteger(L, indent);
    if (lua_pcall(L, 2, 1, 0) != LUA_OK)
        fail(lua_tostring(L, -1), NULL);
    size_t len;
    const char *text = lua_tolstring(L, -1, &len);
    mp_sbuf yaml = { 0 };
    mp_sbuf_add(&yaml, text, len);
    mp_sbuf got = { 0 }, want = { 0 };
    read_yaml(&yaml, indent, &got);
    canon_nodes = 0;
    bool comparable = canon_mapping(&want, t, 0);    /* the top, as is */
    bool cut = strstr(yaml.data, "more bytes)") || strstr(yaml.data, "more keys")
            || strstr(yaml.data, "more items");
    if (comparable && !cut
        && (got.len != want.len || memcmp(got.data, want.data, got.len) != 0)) {
        fprintf(stderr, "want: %.*s\ngot:  %.*s\n", (int)want.len, want.data,
                (int)got.len, got.data);
        fail("the YAML does not read back as the table", &yaml);
    }
    mp_sbuf_free(&yaml);
    mp_sbuf_free(&got);
    mp_sbuf_free(&want);
    lua_close(L);
    return 0;
}
