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
 * read_line remembers how far it has searched the buffered input for a
 * newline, so a long line costs one pass, not one per chunk read.
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
    size_t searched;             /* bytes of in known to hold no newline */
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

/* Suspend until more input arrives; k retries the read. */
static int wait_input(lua_State *L, stream *s, int timeout_idx,
                      lua_KFunction k)
{
    if (s->reading)
        mp_raise(L, "usage", "another task is already reading this stream");
    mp_task_require(L, "stream read");
    memset(&s->reader, 0, sizeof s->reader);
    s->reader.release = release_reader;
    s->reading = true;
    update_watch(s);
    double timeout = luaL_optnumber(L, timeout_idx, -1);
    return mp_wait_yield(L, &s->reader, timeout, (lua_KContext)s, k);
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

/* s:read_line([timeout [, max]]) -> line | nil, "eof" | "timeout" |
 * "too long" | the read error. "too long": more than max bytes (default
 * MAX_LINE) arrived without a newline; the stream cannot go on. */
static int l_read_line(lua_State *L)
{
    stream *s = check_open(L);
    lua_Integer max = luaL_optinteger(L, 3, (lua_Integer)MAX_LINE);
    luaL_argcheck(L, max > 0, 3, "the longest line must be positive");
    char *start = s->in.data;
    size_t size = s->in.len;
    char *nl = size > s->searched
        ? memchr(start + s->searched, '\n', size - s->searched) : NULL;
    size_t len = nl ? (size_t)(nl - start) : size;    /* the line so far */
    s->searched = len;
    if (len > (size_t)max) {
        lua_pushnil(L);
        lua_pushliteral(L, "too long");
        return 2;
    }
    if (nl || ((s->eof || s->read_errno) && size > 0)) {
        lua_pushlstring(L, start, len);
        mp_sbuf_consume(&s->in, nl ? len + 1 : len);
        s->searched = 0;
        return 1;
    }
    if (s->eof || s->read_errno)
        return push_end(L, s);
    return wait_input(L, s, 2, read_line_k);
}

static int read_line_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    stream *s = (stream *)ctx;
    if (mp_wait_check(L, &s->reader) == MP_WAKE_TIMEOUT) {
        lua_pushnil(L);
        lua_pushliteral(L, "timeout");
        return 2;
    }
    return l_read_line(L);
}

static int read_k(lua_State *L, int status, lua_KContext ctx);

/* s:read([timeout]) -> the bytes available (at least one) | nil, reason */
static int l_read(lua_State *L)
{
    stream *s = check_open(L);
    if (s->in.len > 0) {
        lua_pushlstring(L, s->in.data, s->in.len);
        mp_sbuf_clear(&s->in);
        s->searched = 0;
        return 1;
    }
    if (s->eof || s->read_errno)
        return push_end(L, s);
    return wait_input(L, s, 2, read_k);
}

static int read_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    stream *s = (stream *)ctx;
    if (mp_wait_check(L, &s->reader) == MP_WAKE_TIMEOUT) {
        lua_pushnil(L);
        lua_pushliteral(L, "timeout");
        return 2;
    }
    return l_read(L);
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
