/*
 * net.c: the Lua module mpod.net: TCP connections made without blocking
 * the loop (the task yields until the connection completes, fails or
 * times out), to the first address getaddrinfo gives.
 *
 * net.probe(host, port [, timeout]) closes at once: true when something
 * accepts, else nil and the reason (readiness checks). net.connect(host,
 * port [, timeout]) hands the connected socket to a Stream (stream.c),
 * else returns nil and a structured error (mp.tcp, lua/mpod/tcp.lua).
 * Name resolution uses getaddrinfo, which blocks; scenarios and readiness
 * checks name loopback addresses and local hosts, where it returns at once.
 */
#include "mpod.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    mp_wait wait;
    int fd;
} probe;

static void close_probe(probe *p)
{
    if (p->fd >= 0) {
        mp_io_watch(p->fd, 0, NULL, NULL);
        close(p->fd);
        p->fd = -1;
    }
}

static void on_writable(void *arg, int fd, int revents)
{
    (void)fd;
    (void)revents;
    probe *p = arg;
    mp_io_watch(p->fd, 0, NULL, NULL);
    mp_wait_wake(&p->wait);
}

static void release_probe(mp_wait *w)
{
    close_probe((probe *)w);
}

static int push_fail(lua_State *L, const char *what, int err)
{
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", what, strerror(err));
    return 2;
}

#define WAIT_TIMED_OUT (-1)

/* In a continuation: how p's connect ended: 0 (connected), WAIT_TIMED_OUT
 * (p is closed then), or the socket's error. */
static int connect_outcome(lua_State *L, probe *p)
{
    if (mp_wait_check(L, &p->wait) == MP_WAKE_TIMEOUT)
        return WAIT_TIMED_OUT;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    return err;
}

static int probe_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    probe *p = (probe *)ctx;
    int err = connect_outcome(L, p);
    close_probe(p);
    if (err == WAIT_TIMED_OUT) {
        lua_pushnil(L);
        lua_pushliteral(L, "timed out connecting");
        return 2;
    }
    if (err)
        return push_fail(L, "connect", err);
    lua_pushboolean(L, 1);
    return 1;
}

/* Start a non-blocking connect to the first address of host:port. */
static int start_connect(probe *p, const char *host, const char *port,
                         const char **what)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
    int rc = getaddrinfo(host, port, &hints, &ai);
    if (rc != 0) {
        *what = gai_strerror(rc);
        return EHOSTUNREACH;
    }
    p->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int err = p->fd < 0 ? errno : 0;
    if (!err && connect(p->fd, ai->ai_addr, ai->ai_addrlen) < 0)
        err = errno;
    freeaddrinfo(ai);
    *what = "connect";
    return err;
}

/* net.probe(host, port [, timeout]) -> true | nil, reason */
static int l_probe(lua_State *L)
{
    const char *host = luaL_checkstring(L, 1);
    lua_Integer port = luaL_checkinteger(L, 2);
    double timeout = luaL_optnumber(L, 3, 5);
    luaL_argcheck(L, port > 0 && port < 65536, 2, "not a port");
    mp_task_require(L, "net.probe");
    probe *p = lua_newuserdatauv(L, sizeof *p, 0);
    memset(p, 0, sizeof *p);
    p->fd = -1;
    p->wait.release = release_probe;
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", (int)port);
    const char *what = NULL;
    int err = start_connect(p, host, port_text, &what);
    if (err == 0) {
        close_probe(p);
        lua_pushboolean(L, 1);
        return 1;
    }
    if (err != EINPROGRESS) {
        close_probe(p);
        if (strcmp(what, "connect") != 0) {
            lua_pushnil(L);
            lua_pushfstring(L, "resolve %s: %s", host, what);
            return 2;
        }
        return push_fail(L, what, err);
    }
    mp_io_watch(p->fd, POLLOUT, on_writable, p);
    return mp_wait_yield(L, &p->wait, timeout, (lua_KContext)p, probe_k);
}

/* Push nil and the error of a connect to host:port (arguments 1 and 2)
 * that failed with err (WAIT_TIMED_OUT after `timeout` seconds). */
static int push_connect_error(lua_State *L, probe *p, int err, double timeout)
{
    const char *host = lua_tostring(L, 1);
    lua_Integer port = lua_tointeger(L, 2);
    close_probe(p);
    lua_pushnil(L);
    if (err == WAIT_TIMED_OUT)
        mp_push_error(L, "timeout", "connect to %s:%d: no answer within %g s",
                      host, (int)port, timeout);
    else
        mp_push_error(L, "connect", "connect to %s:%d: %s", host, (int)port,
                      strerror(err));
    mp_error_set_string(L, "host", host);
    mp_error_set_integer(L, "port", port);
    return 2;
}

/* Hand p's connected socket to a new Stream, which owns it from now. */
static int push_connected(lua_State *L, probe *p)
{
    int fd = p->fd;
    p->fd = -1;
    mp_push_stream(L, fd);
    return 1;
}

static int connect_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    probe *p = (probe *)ctx;
    int err = connect_outcome(L, p);
    if (err)
        return push_connect_error(L, p, err, lua_tonumber(L, 3));
    return push_connected(L, p);
}

/* net.connect(host, port [, timeout]) -> Stream | nil, error (kind
 * "connect", "timeout" or "dns"; fields host, port). Default timeout 10 s. */
static int l_connect(lua_State *L)
{
    const char *host = luaL_checkstring(L, 1);
    lua_Integer port = luaL_checkinteger(L, 2);
    double timeout = luaL_optnumber(L, 3, 10);
    luaL_argcheck(L, port > 0 && port < 65536, 2, "not a port");
    lua_settop(L, 2);
    lua_pushnumber(L, timeout);
    mp_task_require(L, "net.connect");
    probe *p = lua_newuserdatauv(L, sizeof *p, 0);
    memset(p, 0, sizeof *p);
    p->fd = -1;
    p->wait.release = release_probe;
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", (int)port);
    const char *what = NULL;
    int err = start_connect(p, host, port_text, &what);
    if (err == 0)
        return push_connected(L, p);
    if (err != EINPROGRESS && strcmp(what, "connect") != 0) {
        close_probe(p);
        lua_pushnil(L);
        mp_push_error(L, "dns", "cannot resolve %s: %s", host, what);
        mp_error_set_string(L, "host", host);
        mp_error_set_integer(L, "port", port);
        return 2;
    }
    if (err != EINPROGRESS)
        return push_connect_error(L, p, err, timeout);
    mp_io_watch(p->fd, POLLOUT, on_writable, p);
    return mp_wait_yield(L, &p->wait, timeout, (lua_KContext)p, connect_k);
}

static const luaL_Reg net_functions[] = {
    { "probe", l_probe },
    { "connect", l_connect },
    { NULL, NULL }
};

int luaopen_mpod_net(lua_State *L)
{
    luaL_newlib(L, net_functions);
    return 1;
}
