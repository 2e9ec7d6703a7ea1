/*
 * logpump.c: `mpod-lua --log-pump FILE CAP`, the helper process that
 * captures one service's output for the process backend.
 *
 * It reads stdin (the service's stdout and stderr) until end of file and
 * appends each line to FILE prefixed with the wall-clock time it arrived
 * ("1764290000.123 text"), so logs can be filtered by time. When FILE grows
 * past CAP bytes it is renamed to FILE.1 (replacing the previous one) and a
 * new FILE starts: at most about 2 * CAP bytes per service. It ignores
 * SIGINT, SIGTERM and SIGHUP so it outlives the service it records and
 * loses none of its last words; it ends when every writer has closed.
 */
#include "logpump.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINE 65536

typedef struct {
    const char *path;
    long long cap;
    int fd;
    long long size;
    char line[MAX_LINE];
    size_t len;
} pump;

static int open_log(pump *p)
{
    p->fd = open(p->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (p->fd < 0)
        return -1;
    struct stat st;
    p->size = fstat(p->fd, &st) == 0 ? (long long)st.st_size : 0;
    return 0;
}

static void rotate(pump *p)
{
    char old[4096];
    snprintf(old, sizeof old, "%s.1", p->path);
    close(p->fd);
    rename(p->path, old);
    if (open_log(p) < 0)
        p->fd = -1;
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

/* Write the pending line with its timestamp. */
static void emit_line(pump *p)
{
    if (p->fd < 0)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char stamp[32];
    int n = snprintf(stamp, sizeof stamp, "%lld.%03ld ", (long long)ts.tv_sec,
                     ts.tv_nsec / 1000000);
    write_all(p->fd, stamp, (size_t)n);
    write_all(p->fd, p->line, p->len);
    write_all(p->fd, "\n", 1);
    p->size += n + (long long)p->len + 1;
    p->len = 0;
    if (p->cap > 0 && p->size > p->cap)
        rotate(p);
}

static void feed(pump *p, const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n') {
            emit_line(p);
        } else {
            if (p->len == sizeof p->line)
                emit_line(p);          /* split an overlong line */
            p->line[p->len++] = buf[i];
        }
    }
}

int mp_logpump_main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: mpod-lua --log-pump FILE CAP_BYTES\n");
        return 2;
    }
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    static pump p;
    p.path = argv[2];
    p.cap = atoll(argv[3]);
    if (open_log(&p) < 0) {
        perror(p.path);
        return 1;
    }
    char buf[65536];
    for (;;) {
        ssize_t n = read(0, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        feed(&p, buf, (size_t)n);
    }
    if (p.len > 0)
        emit_line(&p);
    return 0;
}
