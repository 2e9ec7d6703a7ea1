/*
 * test_text.c: unit tests for src/text.c, the escaping rules of the TAP,
 * YAML and JUnit reports: each case feeds one input and checks the exact
 * bytes produced.
 */
#include "tap.h"
#include "text.h"

static const char *escaped_name(const char *s, size_t len)
{
    static mp_sbuf b;
    mp_sbuf_free(&b);
    mp_tap_escape_name(&b, s, len);
    return b.data ? b.data : "";
}

static const char *yaml(const char *s, size_t len, int indent)
{
    static mp_sbuf b;
    mp_sbuf_free(&b);
    mp_yaml_scalar(&b, s, len, indent);
    return b.data ? b.data : "";
}

static const char *xml(const char *s, size_t len)
{
    static mp_sbuf b;
    mp_sbuf_free(&b);
    mp_xml_escape(&b, s, len);
    return b.data ? b.data : "";
}

#define S(lit) lit, sizeof lit - 1

static void test_names(void)
{
    is_str(escaped_name(S("plain name")), "plain name", "plain names pass");
    is_str(escaped_name(S("issue #12")), "issue \\#12", "# is escaped");
    is_str(escaped_name(S("a\\b")), "a\\\\b", "backslash is escaped");
    is_str(escaped_name(S("two\nlines\r\nhere")), "two lines  here",
           "newlines fold into spaces");
    is_str(escaped_name(S("tab\there")), "tab here", "tabs become spaces");
    is_str(escaped_name(S("caf\xc3\xa9")), "caf\xc3\xa9", "UTF-8 is kept");
    is_str(escaped_name(S("bad\xff" "byte")), "bad\xef\xbf\xbd" "byte",
           "an invalid byte becomes U+FFFD");
    is_str(escaped_name(S("nul\0in")), "nul in", "NUL becomes a space");
    is_str(escaped_name(S("# SKIP not really")), "\\# SKIP not really",
           "a name cannot fake a directive");
}

static void test_utf8(void)
{
    is_int(mp_utf8_seq_len((const unsigned char *)"\xc0\x80", 2), 0,
           "overlong NUL is invalid");
    is_int(mp_utf8_seq_len((const unsigned char *)"\xed\xa0\x80", 3), 0,
           "a surrogate is invalid");
    is_int(mp_utf8_seq_len((const unsigned char *)"\xf4\x90\x80\x80", 4), 0,
           "above U+10FFFF is invalid");
    is_int(mp_utf8_seq_len((const unsigned char *)"\xf0\x9f\x98\x80", 4), 4,
           "an emoji is four bytes");
    is_int(mp_utf8_seq_len((const unsigned char *)"\xe2\x82", 2), 0,
           "a truncated sequence is invalid");
}

static void test_yaml(void)
{
    is_str(yaml(S("simple"), 2), "\"simple\"", "strings are double-quoted");
    is_str(yaml(S("say \"hi\" \\o/"), 2), "\"say \\\"hi\\\" \\\\o/\"",
           "quotes and backslashes are escaped");
    is_str(yaml(S("bell\x07"), 2), "\"bell\\x07\"", "control bytes as \\x");
    is_str(yaml(S("line one\nline two\n"), 4),
           "|\n    line one\n    line two", "multi-line text is a block");
    is_str(yaml(S("a\n\nb"), 2), "|\n  a\n  \n  b",
           "blank lines are indented too (prove ends a block at the first that is not)");
    is_str(yaml(S("  indented\nsecond"), 2), "\"  indented\\nsecond\"",
           "an indented first line is quoted instead");
    is_str(yaml(S("x\ny\x01"), 2), "\"x\\ny\\x01\"",
           "control characters force quoting");
    is_str(yaml(S("\xff"), 2), "\"\xef\xbf\xbd\"", "invalid UTF-8 replaced");
    is_str(yaml(S("c1\xc2\x85 ls\xe2\x80\xa8 bom\xef\xbb\xbf nc\xef\xbf\xbe"), 2),
           "\"c1\\x85 ls\\u2028 bom\\uFEFF nc\\uFFFE\"",
           "C1 controls, line separators, BOM, non-characters escaped");
    is_str(yaml(S("a\xc2\x85\nb"), 2), "\"a\\x85\\nb\"",
           "a NEL keeps multi-line text quoted");
    is_str(yaml(S("\n  indented\nback"), 2), "\"\\n  indented\\nback\"",
           "a leading empty line keeps text quoted (block indentation)");
}

static void test_xml(void)
{
    is_str(xml(S("<a href=\"x\">&'</a>")),
           "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;",
           "markup characters become entities");
    is_str(xml(S("nul\0esc\x1b")), "nul\xef\xbf\xbd" "esc\xef\xbf\xbd",
           "characters XML cannot carry become U+FFFD");
    is_str(xml(S("tab\tnl\n")), "tab\tnl\n", "tab and newline are kept");
    is_str(xml(S("\xef\xbf\xbf")), "\xef\xbf\xbd", "U+FFFF is replaced");
    static mp_sbuf b;
    mp_xml_escape_attr(&b, S("two\nlines\r\tand \"q\"\x01"));
    is_str(b.data, "two&#10;lines&#13;&#9;and &quot;q&quot;\xef\xbf\xbd",
           "in an attribute, newline, return and tab are character references");
    mp_sbuf_free(&b);
}

/* The bounds of the reports: cuts never split a character. */
static void test_cuts(void)
{
    is_int(mp_utf8_prefix(S("abc"), 5), 3, "a short string is kept whole");
    is_int(mp_utf8_prefix(S("a\xc3\xa9"), 2), 1, "a cut backs off a split character");
    is_int(mp_utf8_prefix(S("\xf0\x9f\x98\x80x"), 3), 0, "even a whole 4-byte one");
    is_int(mp_utf8_prefix(S("ab\xff\xfe"), 3), 3, "invalid bytes cut anywhere");
    static mp_sbuf b;
    mp_tap_escape_cut(&b, S("abc#def"), 4);
    is_str(b.data, "abc\\# ... (3 more bytes)", "a cut name says how much is left out");
    mp_sbuf_free(&b);
    mp_yaml_quoted(&b, S("two\nlines"));
    is_str(b.data, "\"two\\nlines\"", "quoted YAML stays on one line");
    mp_sbuf_free(&b);
}

int main(void)
{
    test_names();
    test_utf8();
    test_yaml();
    test_xml();
    test_cuts();
    return done_testing();
}
