/* log.h: one line per notable event on stderr, in logfmt:
 *   2025-01-02T03:04:05.678Z meshd pod=mesh-1 event=ready port=13001
 * Scenarios match on "event=NAME" (and the fields after it). */
#ifndef MESHD_LOG_H
#define MESHD_LOG_H

/* Writes one line; fmt formats the fields after event=NAME. Newlines
 * inside the fields become spaces, so a line is always one line. */
void log_event(const char *event, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes an event line without fields. */
void log_plain(const char *event);

#endif
