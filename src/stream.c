/*
 * stream.c: the Lua module mpod.stream: buffered, non-blocking file
 * descriptors (pipes, socketpairs, sockets) for tasks.
 *
 * A Stream ("mpod.Stream") owns its fd. Reads yield the calling task until
 * data, end of file or the timeout; one task reads at a time. Writes never
 * yield: the bytes go to an output buffer that the event loop drains when
 * the fd is writable, and s:flush() waits until it is empty. The fd's loop
 * watcher asks for POLLIN only while a reader waits and for POLLOUT only
 * while output is pending.
 *
 * read_line and read_until remember how far they have searched the
 * buffered input for their delimiter, so a long line costs one pass, not
 * one per chunk read. A read's timeout bounds the whole read, however many
 * chunks it takes: the deadline is set when the call starts.
 */
#include "buf.h"
#include "mpod.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define STREAM_MT "mpod.Stream"
#define READ_CHUNK 65536
#define MAX_LINE ((size_t)64 << 20)      /* read_line's default limit */

typedef struct {
    int fd;
    bool eof;
    int read_errno;
    int write_errno;
    mp_sbuf in, out;             /* read, not yet taken; queued, not yet sent */
    size_t searched;             /* bytes of in where no delimiter starts */
    double deadline;             /* of the read in progress; < 0: none */
    mp_wait reader;              /* a task waiting to read */
    bool reading;
    mp_wait flusher;             /* a task waiting for the output to drain */
    bool flushing;
} stream;

/* ---- the loop side ---- */

static void on_io(void *arg, int fd, int revents);

static void update_watch(stream *s)
{
    if (s->fd < 0)
        return;
    short events = 0;
    if (s->reading)
        events |= POLLIN;
    if (s->out.len > 0)
        events |= POLLOUT;
    mp_io_watch(s->fd, events, events ? on_io : NULL, s);
}

/* Read what is available into s->in; sets eof or read_errno. */
static void fill_input(stream *s)
{
    for (;;) {
        char *room = mp_sbuf_reserve(&s->in, READ_CHUNK);
        if (!room) {
            s->read_errno = ENOMEM;
            return;
        }
        ssize_t n = read(s->fd, room, READ_CHUNK);
        if (n > 0) {
            mp_sbuf_commit(&s->in, (size_t)n);
            if (n < READ_CHUNK)
                return;
            continue;
        }
        if (n == 0 || (n < 0 && errno == ECONNRESET))
            s->eof = true;         /* a reset is the peer gone, as an end */
        else if (errno != EAGAIN && errno != EINTR)
            s->read_errno = errno;
        if (n == 0 || errno != EINTR)
            return;
    }
}

/* Write what the fd takes from s->out; sets write_errno on failure. */
static void drain_output(stream *s)
{
    while (s->out.len > 0) {
        ssize_t n = write(s->fd, s->out.data, s->out.len);
        if (n > 0) {
            mp_sbuf_consume(&s->out, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN) {
            s->write_errno = errno;
            mp_sbuf_clear(&s->out);    /* nobody will read it */
        }
        break;
    }
}

static void on_io(void *arg, int fd, int revents)
{
    (void)fd;
    stream *s = arg;
    if (s->reading && (revents & (POLLIN | POLLHUP | POLLERR))) {
        fill_input(s);
        s->reading = false;
        mp_wait_wake(&s->reader);
    }
    if (revents & (POLLOUT | POLLERR | POLLHUP)) {
        drain_output(s);
        if (s->flushing && s->out.len == 0) {
            s->flushing = false;
            mp_wait_wake(&s->flusher);
        }
    }
    update_watch(s);
}

static void release_reader(mp_wait *w)
{
    stream *s = (stream *)((char *)w - offsetof(stream, reader));
    s->reading = false;
    update_watch(s);
}

static void release_flusher(mp_wait *w)
{
    stream *s = (stream *)((char *)w - offsetof(stream, flusher));
    s->flushing = false;
}

/* ---- Lua API ---- */

static stream *check_open(lua_State *L)
{
    stream *s = luaL_checkudata(L, 1, STREAM_MT);
    if (s->fd < 0)
        mp_raise(L, "closed", "attempt to use a closed stream");
    return s;
}

static void close_stream(stream *s)
{
    if (s->fd >= 0) {
        mp_io_watch(s->fd, 0, NULL, NULL);
        close(s->fd);
        s->fd = -1;
    }
    if (s->reading) {
        s->reading = false;
        mp_wait_wake(&s->reader);
    }
    if (s->flushing) {
        s->flushing = false;
        mp_wait_wake(&s->flusher);
    }
    mp_sbuf_free(&s->in);
    mp_sbuf_free(&s->out);
}

/* Push a stream owning fd (made non-blocking and close-on-exec). */
static stream *push_stream(lua_State *L, int fd)
{
    stream *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    s->fd = -1;
    luaL_setmetatable(L, STREAM_MT);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    s->fd = fd;
    return s;
}

void mp_push_stream(lua_State *L, int fd)
{
    luaL_requiref(L, "mpod.stream", luaopen_mpod_stream, 0);
    lua_pop(L, 1);
    push_stream(L, fd);
}

/* A read starts: its deadline from the timeout argument at timeout_idx
 * (none when absent). */
static void start_read(lua_State *L, stream *s, int timeout_idx)
{
    double timeout = luaL_optnumber(L, timeout_idx, -1);
    s->deadline = timeout < 0 ? -1 : mp_now() + timeout;
}

/* Suspend until more input arrives or the read's deadline; k retries
 * the read. */
static int wait_input(lua_State *L, stream *s, lua_KFunction k)
{
    if (s->reading)
        mp_raise(L, "usage", "another task is already reading this stream");
    mp_task_require(L, "stream read");
    memset(&s->reader, 0, sizeof s->reader);
    s->reader.release = release_reader;
    s->reading = true;
    update_watch(s);
    double left = -1;
    if (s->deadline >= 0) {
        left = s->deadline - mp_now();
        if (left < 0)
            left = 0;
    }
    return mp_wait_yield(L, &s->reader, left, (lua_KContext)s, k);
}

/* In a read's continuation: true when its deadline passed (it pushed
 * nil, "timeout"). */
static bool read_timed_out(lua_State *L, stream *s)
{
    if (mp_wait_check(L, &s->reader) != MP_WAKE_TIMEOUT)
        return false;
    lua_pushnil(L);
    lua_pushliteral(L, "timeout");
    return true;
}

#define NOT_FOUND ((size_t)-1)

/* The length of the buffered input before the first delim, searching
 * from where the last search stopped; NOT_FOUND when it holds none. */
static size_t find_delim(stream *s, const char *delim, size_t dlen)
{
    size_t size = s->in.len;
    if (size >= dlen && size - dlen + 1 > s->searched) {
        const char *from = s->in.data + s->searched;
        const char *hit = memmem(from, size - s->searched, delim, dlen);
        if (hit)
            return (size_t)(hit - s->in.data);
    }
    s->searched = size >= dlen ? size - dlen + 1 : 0;
    return NOT_FOUND;
}

/* Push the first len bytes of the input and drop them and `skip` more. */
static void take_input(lua_State *L, stream *s, size_t len, size_t skip)
{
    lua_pushlstring(L, s->in.data, len);
    mp_sbuf_consume(&s->in, len + skip);
    s->searched = 0;
}

/* Push nil plus "eof" or the read error; returns 2. */
static int push_end(lua_State *L, stream *s)
{
    lua_pushnil(L);
    if (s->read_errno)
        lua_pushstring(L, strerror(s->read_errno));
    else
        lua_pushliteral(L, "eof");
    return 2;
}

static int read_line_k(lua_State *L, int status, lua_KContext ctx);

/* read_line's work, once its deadline is set. */
static int try_read_line(lua_State *L, stream *s)
{
    lua_Integer max = luaL_optinteger(L, 3, (lua_Integer)MAX_LINE);
    luaL_argcheck(L, max > 0, 3, "the longest line must be positive");
    size_t len = find_delim(s, "\n", 1);
    bool found = len != NOT_FOUND;
    if (!found)
        len = s->in.len;                        /* the line so far */
    if (len > (size_t)max) {
        lua_pushnil(L);
        lua_pushliteral(L, "too long");
        return 2;
    }
    if (found || ((s->eof || s->read_errno) && len > 0)) {
        take_input(L, s, len, found ? 1 : 0);
        return 1;
    }
    if (s->eof || s->read_errno)
        return push_end(L, s);
    return wait_input(L, s, read_line_k);
}

/* s:read_line([timeout [, max]]) -> line | nil, "eof" | "timeout" |
 * "too long" | the read error. "too long": more than max bytes (default
 * MAX_LINE) arrived without a newline; the stream cannot go on. */
static int l_read_line(lua_State *L)
{
    stream *s = check_open(L);
    start_read(L, s, 2);
    return try_read_line(L, s);
}

static int read_line_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    stream *s = (stream *)ctx;
    if (read_timed_out(L, s))
        return 2;
    return try_read_line(L, check_open(L));
}

static int read_until_k(lua_State *L, int status, lua_KContext ctx);

/* read_until's work, once its deadline is set. */
static int try_read_until(lua_State *L, stream *s)
{
    size_t dlen;
    const char *delim = luaL_checklstring(L, 2, &dlen);
    luaL_argcheck(L, dlen > 0, 2, "the delimiter must not be empty");
    lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)MAX_LINE);
    luaL_argcheck(L, max >= 0, 4, "the largest size must not be negative");
    size_t len = find_delim(s, delim, dlen);
    if (len != NOT_FOUND && len <= (size_t)max) {
        take_input(L, s, len, dlen);
        return 1;
    }
    if (len != NOT_FOUND || s->searched > (size_t)max) {
        lua_pushnil(L);
        lua_pushliteral(L, "too long");
        return 2;
    }
    if (s->eof || s->read_errno)
        return push_end(L, s);
    return wait_input(L, s, read_until_k);
}

/* s:read_until(delim [, timeout [, max]]) -> the bytes before delim
 * (delim is consumed) | nil, "timeout" | "eof" | "too long" | the read
 * error. "too long": more than max bytes (default MAX_LINE) come before
 * any delim. On every failure the bytes received stay buffered (s:read
 * takes them). */
static int l_read_until(lua_State *L)
{
    stream *s = check_open(L);
    start_read(L, s, 3);
    return try_read_until(L, s);
}

static int read_until_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    stream *s = (stream *)ctx;
    if (read_timed_out(L, s))
        return 2;
    return try_read_until(L, check_open(L));
}

static int read_exact_k(lua_State *L, int status, lua_KContext ctx);

/* read_exact's work, once its deadline is set. */
static int try_read_exact(lua_State *L, stream *s)
{
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 0, 2, "the size must not be negative");
    if (s->in.len >= (size_t)n) {
        take_input(L, s, (size_t)n, 0);
        return 1;
    }
    if (s->eof || s->read_errno)
        return push_end(L, s);
    return wait_input(L, s, read_exact_k);
}

/* s:read_exact(n [, timeout]) -> n bytes | nil, "timeout" | "eof" | the
 * read error; on a failure the bytes received stay buffered. */
static int l_read_exact(lua_State *L)
{
    stream *s = check_open(L);
    start_read(L, s, 3);
    return try_read_exact(L, s);
}

static int read_exact_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    stream *s = (stream *)ctx;
    if (read_timed_out(L, s))
        return 2;
    return try_read_exact(L, check_open(L));
}

static int read_k(lua_State *L, int status, lua_KContext ctx);

/* read's work, once its deadline is set. */
static int try_read(lua_State *L, stream *s)
{
    if (s->in.len > 0) {
        take_input(L, s, s->in.len, 0);
        return 1;
    }
    if (s->eof || s->read_errno)
        return push_end(L, s);
    return wait_input(L, s, read_k);
}

/* s:read([timeout]) -> the bytes available (at least one) | nil, reason */
static int l_read(lua_State *L)
{
    stream *s = check_open(L);
    start_read(L, s, 2);
    return try_read(L, s);
}

static int read_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    stream *s = (stream *)ctx;
    if (read_timed_out(L, s))
        return 2;
    return try_read(L, check_open(L));
}

/* s:write(data): queue data; returns true, or nil and the last write
 * error (the peer went away). Never yields. */
static int l_write(lua_State *L)
{
    stream *s = check_open(L);
    size_t len;
    const char *data = luaL_checklstring(L, 2, &len);
    if (s->write_errno) {
        lua_pushnil(L);
        lua_pushstring(L, strerror(s->write_errno));
        return 2;
    }
    if (!mp_sbuf_append(&s->out, data, len))
        mp_raise(L, "memory", "out of memory buffering %zu bytes", len);
    drain_output(s);
    update_watch(s);
    lua_pushboolean(L, 1);
    return 1;
}

static int flush_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    stream *s = (stream *)ctx;
    if (mp_wait_check(L, &s->flusher) == MP_WAKE_TIMEOUT) {
        lua_pushnil(L);
        lua_pushliteral(L, "timeout");
        return 2;
    }
    lua_pushboolean(L, s->write_errno == 0);
    return 1;
}

/* s:flush([timeout]) -> true once everything was written */
static int l_flush(lua_State *L)
{
    stream *s = check_open(L);
    if (s->out.len == 0) {
        lua_pushboolean(L, s->write_errno == 0);
        return 1;
    }
    if (s->flushing)
        mp_raise(L, "usage", "another task is already flushing this stream");
    mp_task_require(L, "stream flush");
    memset(&s->flusher, 0, sizeof s->flusher);
    s->flusher.release = release_flusher;
    s->flushing = true;
    double timeout = luaL_optnumber(L, 2, -1);
    return mp_wait_yield(L, &s->flusher, timeout, (lua_KContext)s, flush_k);
}

static int l_close(lua_State *L)
{
    close_stream(luaL_checkudata(L, 1, STREAM_MT));
    return 0;
}

static int l_fileno(lua_State *L)
{
    lua_pushinteger(L, check_open(L)->fd);
    return 1;
}

/* s:pending() -> bytes buffered for reading, bytes waiting to be written */
static int l_pending(lua_State *L)
{
    stream *s = check_open(L);
    lua_pushinteger(L, (lua_Integer)s->in.len);
    lua_pushinteger(L, (lua_Integer)s->out.len);
    return 2;
}

/* stream.new(fd) -> Stream owning fd */
static int l_new(lua_State *L)
{
    lua_Integer fd = luaL_checkinteger(L, 1);
    luaL_argcheck(L, fd >= 0 && fd <= 1 << 24, 1, "not a file descriptor");
    push_stream(L, (int)fd);
    return 1;
}

/* stream.socketpair() -> a, b (connected, bidirectional) */
static int l_socketpair(lua_State *L)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        mp_raise(L, "os", "socketpair: %s", strerror(errno));
    push_stream(L, sv[0]);
    push_stream(L, sv[1]);
    return 2;
}

static const luaL_Reg stream_methods[] = {
    { "read_line", l_read_line },
    { "read_until", l_read_until },
    { "read_exact", l_read_exact },
    { "read", l_read },
    { "write", l_write },
    { "flush", l_flush },
    { "close", l_close },
    { "fileno", l_fileno },
    { "pending", l_pending },
    { NULL, NULL }
};

static const luaL_Reg stream_meta[] = {
    { "__gc", l_close },
    { "__close", l_close },
    { NULL, NULL }
};

static const luaL_Reg stream_functions[] = {
    { "new", l_new },
    { "socketpair", l_socketpair },
    { NULL, NULL }
};

int luaopen_mpod_stream(lua_State *L)
{
    mp_new_class(L, STREAM_MT, stream_methods, stream_meta);
    lua_pop(L, 1);
    luaL_newlib(L, stream_functions);
    return 1;
}
