/*
 * num.c: numbers as text (see num.h).
 *
 * Reading uses strtod_l with a C locale made once; when it cannot be made
 * (out of memory), plain strtod. Writing formats with snprintf, which
 * follows the locale, checks the round trip with strtod in the same
 * locale, and then puts '.' in place of the locale's decimal point.
 */
#include "num.h"

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool mp_parse_int64(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    bool negative = len > 0 && s[0] == '-';
    if (negative || (len > 0 && s[0] == '+'))
        i = 1;
    if (i == len)
        return false;
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned digit = (unsigned)(s[i] - '0');
        if (v > (limit - digit) / 10)
            return false;
        v = v * 10 + digit;
    }
    *out = negative ? (int64_t)(0 - v) : (int64_t)v;
    return true;
}

static locale_t c_numeric_locale(void)
{
    static locale_t c_locale;
    if (!c_locale)
        c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    return c_locale;
}

double mp_strtod(const char *s, char **end)
{
    locale_t c_locale = c_numeric_locale();
    return c_locale ? strtod_l(s, end, c_locale) : strtod(s, end);
}

void mp_format_double(char *buf, size_t size, double d)
{
    int precision = 15;
    snprintf(buf, size, "%.*g", precision, d);
    while (precision < 17 && strtod(buf, NULL) != d)
        snprintf(buf, size, "%.*g", ++precision, d);
    char *point = strchr(buf, localeconv()->decimal_point[0]);
    if (point)
        *point = '.';
}
