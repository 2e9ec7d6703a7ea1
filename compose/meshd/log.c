/* log.c: logfmt event lines on stderr. Each line is formatted into one
 * buffer and written with a single write(2), so lines from different threads
 * never interleave. */
#include "log.h"

#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Writes the UTC time with milliseconds, e.g. 2025-01-02T03:04:05.678Z. */
static void timestamp(char *out, size_t size)
{
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, size - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

/* Writes one line; fields is NULL for none. */
static void write_line(const char *event, const char *fields)
{
    char now[40], line[1024];
    timestamp(now, sizeof now);
    snprintf(line, sizeof line - 1, "%s meshd pod=%s event=%s%s%s", now,
             cfg.pod_name, event, fields ? " " : "", fields ? fields : "");
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' '))
        n--;
    for (size_t i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    ssize_t ignored = write(STDERR_FILENO, line, n);
    (void)ignored;
}

void log_event(const char *event, const char *fmt, ...)
{
    char fields[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fields, sizeof fields, fmt, ap);
    va_end(ap);
    write_line(event, fields);
}

void log_plain(const char *event)
{
    write_line(event, NULL);
}
