/*
 * num.h: numbers as text, read and written the same way by the JSON
 * codec (json.c) and the Postgres values (pgvalue.c), and the same
 * whatever the process's locale (a scenario may call os.setlocale): '.'
 * is the decimal point. Pure C, no Lua.
 */
#ifndef MPOD_NUM_H
#define MPOD_NUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The decimal integer s[0..len): an optional sign, then digits only.
 * False when it is not one or does not fit 64 bits. */
bool mp_parse_int64(const char *s, size_t len, int64_t *out);

/* strtod in the C locale. */
double mp_strtod(const char *s, char **end);

/* Write the finite d into buf (at least 32 bytes) as the shortest of
 * %.15g, %.16g and %.17g that reads back as d, with a '.'. */
void mp_format_double(char *buf, size_t size, double d);

#endif
