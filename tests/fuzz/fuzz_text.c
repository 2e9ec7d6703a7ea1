/*
 * fuzz_text.c: libFuzzer target for the report escaping rules (src/text.c).
 *
 * Each input (its first byte picks the YAML indentation, the rest is the
 * text) goes through the three escapers, and each output is decoded again
 * by an independent reader written here from the specifications, so the
 * check is "it reads back as the input", not only "no crash":
 *
 * - every output is valid UTF-8, whatever the input;
 * - the input, read as UTF-8 with each invalid byte taken as U+FFFD, is the
 *   "text" the outputs must carry;
 * - TAP name: no control character (so no newline), every '#' and '\'
 *   escaped by a backslash, and unescaping gives the text with control
 *   characters as spaces;
 * - YAML scalar: either a double-quoted scalar (YAML 1.2 escapes; raw
 *   characters only those every YAML reader takes literally on one line:
 *   printable, not C1 controls, line or paragraph separators or a BOM) or a
 *   "|" literal block whose lines all sit at the indentation, blank ones
 *   too (the first content line exactly there, so indentation detection
 *   finds it) and carry only printable characters; decoding gives the text
 *   (a block holds it without its trailing newlines and "|" adds one);
 * - XML: only XML 1.0 characters, no raw < > " ' and & only in the five
 *   entities; decoding gives the text with the characters XML cannot carry
 *   as U+FFFD;
 * - XML attributes (mp_xml_escape_attr): the same, and no raw tab, newline
 *   or return: those are &#9; &#10; &#13;.
 */
#include "text.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHARS 8192

static void fail(const char *what, const uint8_t *in, size_t len,
                 const mp_sbuf *out)
{
    fprintf(stderr, "fuzz_text: %s\ninput (%zu bytes): ", what, len);
    for (size_t i = 0; i < len; i++)
        fprintf(stderr, "%02x", in[i]);
    fprintf(stderr, "\noutput (%zu bytes): ", out->len);
    for (size_t i = 0; i < out->len; i++)
        fprintf(stderr, "%02x", (unsigned char)out->data[i]);
    fprintf(stderr, "\n");
    abort();
}

/* ---- an independent UTF-8 reader (RFC 3629) ---- */

/* Decode the code point at s; returns its length, 0 when invalid. */
static size_t utf8_decode(const uint8_t *s, size_t avail, uint32_t *cp)
{
    static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
    size_t n = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2
             : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || n > avail)
        return 0;
    uint32_t c = n == 1 ? s[0] : s[0] & (0xFF >> (n + 1));
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return n;
}

typedef struct {
    uint32_t cp[MAX_CHARS];
    size_t n;
} text;

/* The input as code points, an invalid byte as U+FFFD. */
static void lenient(const uint8_t *s, size_t len, text *t)
{
    t->n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_decode(s + i, len - i, &cp);
        t->cp[t->n++] = n ? cp : 0xFFFD;
        i += n ? n : 1;
    }
}

/* The output as code points; false when it is not valid UTF-8. */
static bool strict(const char *s, size_t len, text *t)
{
    t->n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_decode((const uint8_t *)s + i, len - i, &cp);
        if (n == 0 || t->n == MAX_CHARS)
            return false;
        t->cp[t->n++] = cp;
        i += n;
    }
    return true;
}

static bool same(const text *a, const text *b)
{
    return a->n == b->n && memcmp(a->cp, b->cp, a->n * sizeof a->cp[0]) == 0;
}

static text input, expected, output, decoded;

/* ---- TAP ---- */

static void check_tap(const uint8_t *in, size_t len)
{
    mp_sbuf b = { 0 };
    mp_tap_escape_name(&b, (const char *)in, len);
    if (!strict(b.data, b.len, &output))
        fail("a TAP name is not valid UTF-8", in, len, &b);
    expected.n = decoded.n = 0;
    for (size_t i = 0; i < input.n; i++) {
        uint32_t c = input.cp[i];
        expected.cp[expected.n++] = c < 0x20 || c == 0x7F ? ' ' : c;
    }
    for (size_t i = 0; i < output.n; i++) {
        uint32_t c = output.cp[i];
        if (c < 0x20 || c == 0x7F)
            fail("a TAP name holds a control character", in, len, &b);
        if (c == '#')
            fail("a TAP name holds an unescaped '#'", in, len, &b);
        if (c == '\\') {
            if (++i == output.n || (output.cp[i] != '\\' && output.cp[i] != '#'))
                fail("a TAP name holds a stray backslash", in, len, &b);
            c = output.cp[i];
        }
        decoded.cp[decoded.n++] = c;
    }
    if (!same(&decoded, &expected))
        fail("a TAP name does not unescape to its input", in, len, &b);
    mp_sbuf_free(&b);
}

/* ---- YAML ---- */

/* Characters a YAML reader takes as themselves on one line: c-printable
 * minus the line breaks of YAML 1.1 (NEL, LS, PS), C1 controls and the
 * BOM, which readers reject or fold. */
static bool yaml_plain_char(uint32_t c)
{
    if (c == '\t')
        return true;
    if (c < 0x20 || c == 0x7F || (c >= 0x80 && c <= 0x9F))
        return false;
    if (c == 0x2028 || c == 0x2029 || c == 0xFEFF || c == 0xFFFE || c == 0xFFFF)
        return false;
    return true;
}

static int hex_value(uint32_t c)
{
    if (c >= '0' && c <= '9')
        return (int)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (int)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F')
        return (int)(c - 'A' + 10);
    return -1;
}

/* Decode the escape at output.cp[*i] (just after the backslash); false
 * when it is not a YAML 1.2 escape. */
static bool yaml_escape(size_t *i, uint32_t *out)
{
    static const char simple[] = "0abtnvfre \"/\\N_LP";
    static const uint32_t value[] = { 0, 7, 8, 9, 10, 11, 12, 13, 27, ' ',
                                      '"', '/', '\\', 0x85, 0xA0, 0x2028,
                                      0x2029 };
    uint32_t c = output.cp[*i];
    const char *p = c < 0x80 && c ? strchr(simple, (int)c) : NULL;
    if (p) {
        *out = value[p - simple];
        (*i)++;
        return true;
    }
    size_t digits = c == 'x' ? 2 : c == 'u' ? 4 : c == 'U' ? 8 : 0;
    if (!digits || *i + digits >= output.n - 1)
        return false;
    uint32_t v = 0;
    for (size_t k = 1; k <= digits; k++) {
        int h = hex_value(output.cp[*i + k]);
        if (h < 0)
            return false;
        v = v * 16 + (uint32_t)h;
    }
    *out = v;
    *i += digits + 1;
    return true;
}

static bool yaml_decode_quoted(void)
{
    decoded.n = 0;
    if (output.n < 2 || output.cp[output.n - 1] != '"')
        return false;
    for (size_t i = 1; i < output.n - 1;) {
        uint32_t c = output.cp[i];
        if (c == '"' || !yaml_plain_char(c))
            return false;
        if (c == '\\') {
            i++;
            if (i >= output.n - 1 || !yaml_escape(&i, &c))
                return false;
        } else {
            i++;
        }
        decoded.cp[decoded.n++] = c;
    }
    return true;
}

/* A "|" block at `indent`: each line `indent` spaces then its content;
 * the first line is content that does not start with a space. Decodes
 * the content without the final newline "|" adds. */
static bool yaml_decode_block(int indent)
{
    static const uint32_t head[] = { '|', '\n' };
    decoded.n = 0;
    if (output.n < 2 || memcmp(output.cp, head, sizeof head) != 0)
        return false;
    size_t i = 2;
    bool first = true;
    while (i <= output.n) {
        size_t end = i;
        while (end < output.n && output.cp[end] != '\n')
            end++;
        for (int k = 0; k < indent; k++)
            if (i + (size_t)k >= end || output.cp[i + (size_t)k] != ' ')
                return false;
        i += (size_t)indent;
        if (first && (i == end || output.cp[i] == ' '))
            return false;
        first = false;
        for (; i < end; i++) {
            if (!yaml_plain_char(output.cp[i]))
                return false;
            decoded.cp[decoded.n++] = output.cp[i];
        }
        if (end == output.n)
            break;
        decoded.cp[decoded.n++] = '\n';
        i = end + 1;
    }
    return decoded.n == 0 || decoded.cp[decoded.n - 1] != '\n';
}

static void check_yaml(const uint8_t *in, size_t len, int indent)
{
    mp_sbuf b = { 0 };
    mp_yaml_scalar(&b, (const char *)in, len, indent);
    if (!strict(b.data, b.len, &output))
        fail("a YAML scalar is not valid UTF-8", in, len, &b);
    expected = input;
    if (output.n > 0 && output.cp[0] == '"') {
        if (!yaml_decode_quoted())
            fail("a YAML quoted scalar does not read back", in, len, &b);
    } else {
        if (!yaml_decode_block(indent))
            fail("a YAML block scalar does not read back", in, len, &b);
        while (expected.n > 0 && expected.cp[expected.n - 1] == '\n')
            expected.n--;
    }
    if (!same(&decoded, &expected))
        fail("a YAML scalar does not decode to its input", in, len, &b);
    mp_sbuf_free(&b);
}

/* ---- XML ---- */

static bool xml_char(uint32_t c)
{
    return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF)
        || (c >= 0xE000 && c <= 0xFFFD) || c >= 0x10000;
}

/* The entity at output[*i] ('&'): the five of XML, and in an attribute
 * the character references of tab, newline and return. */
static bool xml_entity(size_t *i, uint32_t *out, bool attr)
{
    static const struct { const char *name; uint32_t c; } entities[] = {
        { "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' }, { "quot;", '"' },
        { "apos;", '\'' }, { "#9;", '\t' }, { "#10;", '\n' }, { "#13;", '\r' },
    };
    size_t count = sizeof entities / sizeof entities[0] - (attr ? 0 : 3);
    for (size_t e = 0; e < count; e++) {
        size_t n = strlen(entities[e].name), k = 0;
        while (k < n && *i + 1 + k < output.n
               && output.cp[*i + 1 + k] == (uint32_t)entities[e].name[k])
            k++;
        if (k == n) {
            *out = entities[e].c;
            *i += 1 + n;
            return true;
        }
    }
    return false;
}

/* XML text, or an attribute value (attr): in both the output decodes to
 * the input; an attribute holds no raw tab, newline or return (a reader
 * would turn them into spaces). */
static void check_xml(const uint8_t *in, size_t len, bool attr)
{
    mp_sbuf b = { 0 };
    if (attr)
        mp_xml_escape_attr(&b, (const char *)in, len);
    else
        mp_xml_escape(&b, (const char *)in, len);
    if (!strict(b.data, b.len, &output))
        fail("XML text is not valid UTF-8", in, len, &b);
    expected.n = decoded.n = 0;
    for (size_t i = 0; i < input.n; i++)
        expected.cp[expected.n++] = xml_char(input.cp[i]) ? input.cp[i] : 0xFFFD;
    for (size_t i = 0; i < output.n;) {
        uint32_t c = output.cp[i];
        if (!xml_char(c))
            fail("XML text holds a character XML cannot carry", in, len, &b);
        if (c == '<' || c == '>' || c == '"' || c == '\'')
            fail("XML text holds a raw markup character", in, len, &b);
        if (attr && (c == '\t' || c == '\n' || c == '\r'))
            fail("an XML attribute holds a raw tab, newline or return", in, len, &b);
        if (c == '&') {
            if (!xml_entity(&i, &c, attr))
                fail("XML text holds a stray '&'", in, len, &b);
        } else {
            i++;
        }
        decoded.cp[decoded.n++] = c;
    }
    if (!same(&decoded, &expected))
        fail("XML text does not decode to its input", in, len, &b);
    mp_sbuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > MAX_CHARS / 16)
        return 0;
    int indent = 1 + data[0] % 12;
    data++;
    size--;
    lenient(data, size, &input);
    check_tap(data, size);
    check_yaml(data, size, indent);
    check_xml(data, size, false);
    check_xml(data, size, true);
    return 0;
}
