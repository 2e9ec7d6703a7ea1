/*
 * text.h: the escaping rules of the reports: TAP test names, YAML
 * scalars, XML text, appended to mp_sbuf buffers (buf.h). Pure C (text.c
 * also opens them to Lua as mpod.text), fuzzed by tests/fuzz/fuzz_text.c.
 */
#ifndef MPOD_TEXT_H
#define MPOD_TEXT_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid
 * (overlong forms, surrogates and code points above U+10FFFF included). */
size_t mp_utf8_seq_len(const unsigned char *s, size_t avail);

/* Append s as valid UTF-8: each invalid byte as U+FFFD. */
void mp_utf8_valid(mp_sbuf *b, const char *s, size_t len);

/* Append s as a TAP description: valid UTF-8 (invalid bytes become U+FFFD),
 * "\" and "#" escaped with a backslash, control characters (newlines
 * included) as single spaces, so a name never breaks its line. */
void mp_tap_escape_name(mp_sbuf *b, const char *s, size_t len);

/* Append s as a YAML scalar at the given indentation: a plain double-quoted
 * string, or a literal block ("|-") for multi-line text, always valid
 * UTF-8. `indent` is the indentation of block lines. */
void mp_yaml_scalar(mp_sbuf *b, const char *s, size_t len, int indent);

/* Append s as a double-quoted YAML scalar (never a block: for keys). */
void mp_yaml_quoted(mp_sbuf *b, const char *s, size_t len);

/* The length of s cut to at most max bytes without splitting a valid UTF-8
 * sequence (len itself when it fits). */
size_t mp_utf8_prefix(const char *s, size_t len, size_t max);

/* Append s as a TAP description, like mp_tap_escape_name, cut to at most
 * max bytes of s with " ... (N more bytes)" after. */
void mp_tap_escape_cut(mp_sbuf *b, const char *s, size_t len, size_t max);

/* Append s escaped for XML 1.0 text and attributes: & < > " ' as entities,
 * characters XML cannot carry and invalid UTF-8 as U+FFFD. */
void mp_xml_escape(mp_sbuf *b, const char *s, size_t len);

/* Append s escaped for an XML attribute value: as mp_xml_escape, and tab,
 * newline and carriage return as &#9; &#10; &#13; (an XML reader turns raw
 * ones in an attribute into spaces). */
void mp_xml_escape_attr(mp_sbuf *b, const char *s, size_t len);

#endif
