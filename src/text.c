/*
 * text.c: report escaping (see text.h), into mp_sbuf buffers (buf.c), and
 * the Lua module mpod.text that hands it to the reporter
 * (lua/mpod/runner/report/).
 *
 * Every function here produces valid UTF-8 whatever its input: an invalid
 * byte is replaced by U+FFFD, one replacement per byte. Memory failures
 * abort (mp_sbuf_add): the reports are small, and a half-written report
 * would be worse.
 *
 * Why this is C while the reporter is Lua: these loops look at every byte
 * of every name, diagnostic and note a run reports. Written with Lua
 * patterns they cost 10 to 40 ns a byte (a class scanned per byte), here
 * one or two, and a failed test's diagnostics (a response body, pod logs)
 * run to kilobytes: docs/architecture.md has the measured figures.
 */
#include "mpod.h"
#include "text.h"

#include <string.h>

static const char replacement[] = "\xEF\xBF\xBD";   /* U+FFFD */

size_t mp_utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    size_t n;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (avail < n)
        return 0;
    unsigned cp = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* What a byte must be for an escaping to leave it as it is. */
typedef enum { PLAIN_UTF8, PLAIN_TAP, PLAIN_YAML, PLAIN_XML, PLAIN_XML_ATTR } plain_kind;

static bool plain_byte(unsigned char c, plain_kind kind)
{
    if (c >= 0x80)
        return false;
    switch (kind) {
    case PLAIN_TAP:
        return c >= 0x20 && c != 0x7F && c != '\\' && c != '#';
    case PLAIN_YAML:
        return c >= 0x20 && c != 0x7F && c != '\\' && c != '"';
    case PLAIN_XML:
        return (c >= 0x20 || c == '\t' || c == '\n' || c == '\r') && c != '&'
            && c != '<' && c != '>' && c != '"' && c != '\'';
    case PLAIN_XML_ATTR:
        return c >= 0x20 && c != '&' && c != '<' && c != '>' && c != '"' && c != '\'';
    default:
        return true;
    }
}

/* Walks s calling `each` for every character: its bytes and length, or
 * the replacement character for an invalid byte; runs of bytes that `kind`
 * leaves as they are are appended whole. */
typedef void (*char_fn)(mp_sbuf *b, const char *ch, size_t n, void *ctx);

static void each_char(mp_sbuf *b, const char *s, size_t len, char_fn fn,
                      void *ctx, plain_kind kind)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t start = i;          /* a run that needs no escaping, at once */
        while (i < len && plain_byte(p[i], kind))
            i++;
        mp_sbuf_add(b, s + start, i - start);
        if (i == len)
            break;
        size_t n = mp_utf8_seq_len(p + i, len - i);
        if (n == 0) {
            fn(b, replacement, 3, ctx);
            i++;
        } else {
            fn(b, s + i, n, ctx);
            i += n;
        }
    }
}

/* ---- TAP names ---- */

static void tap_char(mp_sbuf *b, const char *ch, size_t n, void *ctx)
{
    (void)ctx;
    unsigned char c = (unsigned char)ch[0];
    if (n == 1 && (c < 0x20 || c == 0x7F))
        mp_sbuf_add(b, " ", 1);
    else if (n == 1 && (c == '\\' || c == '#')) {
        mp_sbuf_add(b, "\\", 1);
        mp_sbuf_add(b, ch, 1);
    } else
        mp_sbuf_add(b, ch, n);
}

void mp_tap_escape_name(mp_sbuf *b, const char *s, size_t len)
{
    each_char(b, s, len, tap_char, NULL, PLAIN_TAP);
}

size_t mp_utf8_prefix(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    /* back off the continuation bytes of a sequence that starts before n */
    for (size_t k = 0; k < 3 && n > 0; k++) {
        if (((unsigned char)s[n] & 0xC0) != 0x80)
            break;
        n--;
    }
    if (n > 0 && n < max && mp_utf8_seq_len((const unsigned char *)s + n, len - n) == 0)
        n = max;                /* the bytes were not a sequence: cut anywhere */
    return n;
}

void mp_tap_escape_cut(mp_sbuf *b, const char *s, size_t len, size_t max)
{
    size_t n = mp_utf8_prefix(s, len, max);
    each_char(b, s, n, tap_char, NULL, PLAIN_TAP);
    if (n < len)
        mp_sbuf_addf(b, " ... (%zu more bytes)", len - n);
}

/* ---- YAML ---- */

/* The code point of a valid UTF-8 sequence of n bytes. */
static unsigned code_point(const char *ch, size_t n)
{
    const unsigned char *p = (const unsigned char *)ch;
    unsigned cp = n == 1 ? p[0] : p[0] & (0x7F >> n);
    for (size_t i = 1; i < n; i++)
        cp = (cp << 6) | (p[i] & 0x3F);
    return cp;
}

/* Characters YAML readers do not take literally in a scalar: C1 controls
 * (not printable), NEL, LS and PS (line breaks to YAML 1.1 readers), the
 * BOM and the two non-characters U+FFFE, U+FFFF (not printable). */
static bool yaml_special(unsigned cp)
{
    return (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029
        || cp == 0xFEFF || cp == 0xFFFE || cp == 0xFFFF;
}

static void yaml_quoted_char(mp_sbuf *b, const char *ch, size_t n, void *ctx)
{
    (void)ctx;
    unsigned char c = (unsigned char)ch[0];
    if (n > 1) {
        unsigned cp = code_point(ch, n);
        if (cp <= 0xFF && yaml_special(cp))
            mp_sbuf_addf(b, "\\x%02X", cp);
        else if (yaml_special(cp))
            mp_sbuf_addf(b, "\\u%04X", cp);
        else
            mp_sbuf_add(b, ch, n);
        return;
    }
    switch (c) {
    case '"': mp_sbuf_adds(b, "\\\""); return;
    case '\\': mp_sbuf_adds(b, "\\\\"); return;
    case '\n': mp_sbuf_adds(b, "\\n"); return;
    case '\r': mp_sbuf_adds(b, "\\r"); return;
    case '\t': mp_sbuf_adds(b, "\\t"); return;
    default:
        if (c < 0x20 || c == 0x7F)
            mp_sbuf_addf(b, "\\x%02X", c);
        else
            mp_sbuf_add(b, ch, 1);
    }
}

/* True when s reads well as a literal block: several lines, no control
 * characters but tab and newline, nothing yaml_special, and a first line
 * that is not empty and not indented (a reader takes the block's
 * indentation from it). Invalid bytes are fine: they print as U+FFFD. */
static bool block_friendly(const char *s, size_t len)
{
    if (len == 0 || !memchr(s, '\n', len) || s[0] == ' ' || s[0] == '\t'
        || s[0] == '\n')
        return false;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t n = mp_utf8_seq_len((const unsigned char *)s + i, len - i);
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F
            || (n > 1 && yaml_special(code_point(s + i, n))))
            return false;
        i += n ? n : 1;
    }
    return true;
}

/* Every line of the block is indented, blank ones too: TAP::Harness's
 * YAMLish reader (prove) ends a block at the first line that is not. */
static void yaml_block_lines(mp_sbuf *b, const char *s, size_t len, int indent)
{
    size_t start = 0;
    while (start <= len) {
        const char *nl = memchr(s + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - s) : len;
        mp_sbuf_addf(b, "%*s", indent, "");
        mp_utf8_valid(b, s + start, end - start);
        if (!nl)
            break;
        mp_sbuf_add(b, "\n", 1);
        start = end + 1;
    }
}

void mp_yaml_quoted(mp_sbuf *b, const char *s, size_t len)
{
    mp_sbuf_add(b, "\"", 1);
    each_char(b, s, len, yaml_quoted_char, NULL, PLAIN_YAML);
    mp_sbuf_add(b, "\"", 1);
}

void mp_yaml_scalar(mp_sbuf *b, const char *s, size_t len, int indent)
{
    if (block_friendly(s, len)) {
        while (len > 0 && s[len - 1] == '\n')
            len--;
        mp_sbuf_adds(b, "|\n");    /* "|-" is not YAMLish: prove rejects it */
        yaml_block_lines(b, s, len, indent);
        return;
    }
    mp_yaml_quoted(b, s, len);
}

/* ---- XML ---- */

static void xml_char(mp_sbuf *b, const char *ch, size_t n, void *ctx)
{
    bool attr = ctx != NULL;
    unsigned char c = (unsigned char)ch[0];
    if (n > 1) {
        /* U+FFFE and U+FFFF are not XML characters */
        if (n == 3 && c == 0xEF && (unsigned char)ch[1] == 0xBF &&
            (unsigned char)ch[2] >= 0xBE)
            mp_sbuf_add(b, replacement, 3);
        else
            mp_sbuf_add(b, ch, n);
        return;
    }
    switch (c) {
    case '&': mp_sbuf_adds(b, "&amp;"); return;
    case '<': mp_sbuf_adds(b, "&lt;"); return;
    case '>': mp_sbuf_adds(b, "&gt;"); return;
    case '"': mp_sbuf_adds(b, "&quot;"); return;
    case '\'': mp_sbuf_adds(b, "&apos;"); return;
    case '\n': mp_sbuf_adds(b, attr ? "&#10;" : "\n"); return;
    case '\r': mp_sbuf_adds(b, attr ? "&#13;" : "\r"); return;
    case '\t': mp_sbuf_adds(b, attr ? "&#9;" : "\t"); return;
    default:
        if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            mp_sbuf_add(b, replacement, 3);
        else
            mp_sbuf_add(b, ch, 1);
    }
}

void mp_xml_escape(mp_sbuf *b, const char *s, size_t len)
{
    each_char(b, s, len, xml_char, NULL, PLAIN_XML);
}

void mp_xml_escape_attr(mp_sbuf *b, const char *s, size_t len)
{
    static int attr = 1;
    each_char(b, s, len, xml_char, &attr, PLAIN_XML_ATTR);
}

static void copy_char(mp_sbuf *b, const char *ch, size_t n, void *ctx)
{
    (void)ctx;
    mp_sbuf_add(b, ch, n);
}

void mp_utf8_valid(mp_sbuf *b, const char *s, size_t len)
{
    each_char(b, s, len, copy_char, NULL, PLAIN_UTF8);
}

/* ---- the Lua module mpod.text ---- */

/* Whether the escaping of this kind leaves s as it is (ASCII only: other
 * text takes the full path). */
static bool plain_ascii(const char *s, size_t len, plain_kind kind)
{
    for (size_t i = 0; i < len; i++)
        if (!plain_byte((unsigned char)s[i], kind))
            return false;
    return true;
}

static int push_result(lua_State *L, mp_sbuf *b)
{
    lua_pushlstring(L, b->data ? b->data : "", b->len);
    mp_sbuf_free(b);
    return 1;
}

/* text.valid(s) -> s with invalid UTF-8 bytes as U+FFFD */
static int l_valid(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    if (plain_ascii(s, len, PLAIN_UTF8)) {
        lua_settop(L, 1);
        return 1;
    }
    mp_sbuf b = { 0 };
    mp_utf8_valid(&b, s, len);
    return push_result(L, &b);
}

/* text.prefix(s, max) -> bytes of s kept by a cut at max bytes that does
 * not split a UTF-8 character */
static int l_prefix(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_Integer max = luaL_checkinteger(L, 2);
    lua_pushinteger(L, (lua_Integer)mp_utf8_prefix(s, len, max < 0 ? 0 : (size_t)max));
    return 1;
}

/* text.tap_name(s) -> s as a TAP description on one line */
static int l_tap_name(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    if (plain_ascii(s, len, PLAIN_TAP)) {
        lua_settop(L, 1);
        return 1;
    }
    mp_sbuf b = { 0 };
    mp_tap_escape_name(&b, s, len);
    return push_result(L, &b);
}

/* text.tap_cut(s, max) -> tap_name of s cut to max bytes, with
 * " ... (N more bytes)" when cut */
static int l_tap_cut(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_Integer max = luaL_checkinteger(L, 2);
    if (len <= (size_t)(max < 0 ? 0 : max) && plain_ascii(s, len, PLAIN_TAP)) {
        lua_settop(L, 1);
        return 1;
    }
    mp_sbuf b = { 0 };
    mp_tap_escape_cut(&b, s, len, max < 0 ? 0 : (size_t)max);
    return push_result(L, &b);
}

/* text.yaml_scalar(s, indent) -> s as a YAML scalar: a double-quoted
 * string, or a literal block whose lines are indented by `indent` */
static int l_yaml_scalar(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_Integer indent = luaL_checkinteger(L, 2);
    luaL_argcheck(L, indent >= 0 && indent <= 1000, 2, "indent out of range");
    mp_sbuf b = { 0 };
    mp_yaml_scalar(&b, s, len, (int)indent);
    return push_result(L, &b);
}

/* text.yaml_quoted(s) -> s as a double-quoted YAML scalar */
static int l_yaml_quoted(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    mp_sbuf b = { 0 };
    mp_yaml_quoted(&b, s, len);
    return push_result(L, &b);
}

/* text.xml(s) -> s escaped for XML text and attributes */
static int l_xml(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    if (plain_ascii(s, len, PLAIN_XML)) {
        lua_settop(L, 1);
        return 1;
    }
    mp_sbuf b = { 0 };
    mp_xml_escape(&b, s, len);
    return push_result(L, &b);
}

/* text.indent(s, n) -> s with n spaces before each line: at its start and
 * after each newline but a final one */
static int l_indent(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 0 && n <= 1000, 2, "indent out of range");
    mp_sbuf b = { 0 };
    size_t start = 0;
    while (start < len) {
        const char *nl = memchr(s + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - s) + 1 : len;
        mp_sbuf_addf(&b, "%*s", (int)n, "");
        mp_sbuf_add(&b, s + start, end - start);
        start = end;
    }
    return push_result(L, &b);
}

/* text.xml_attr(s) -> s escaped for an XML attribute: as xml(), and tab,
 * newline, carriage return as character references (&#9; &#10; &#13;),
 * which every reader keeps (raw ones are normalised to spaces) */
static int l_xml_attr(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    if (plain_ascii(s, len, PLAIN_XML_ATTR)) {
        lua_settop(L, 1);
        return 1;
    }
    mp_sbuf b = { 0 };
    mp_xml_escape_attr(&b, s, len);
    return push_result(L, &b);
}

static const luaL_Reg text_functions[] = {
    { "xml_attr", l_xml_attr },
    { "indent", l_indent },
    { "valid", l_valid },
    { "prefix", l_prefix },
    { "tap_name", l_tap_name },
    { "tap_cut", l_tap_cut },
    { "yaml_scalar", l_yaml_scalar },
    { "yaml_quoted", l_yaml_quoted },
    { "xml", l_xml },
    { NULL, NULL }
};

int luaopen_mpod_text(lua_State *L)
{
    luaL_newlib(L, text_functions);
    return 1;
}
