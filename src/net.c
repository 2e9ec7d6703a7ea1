/*
 * net.c: the Lua module mpod.net: TCP reachability for readiness checks.
 *
 * net.probe(host, port [, timeout]) connects without blocking the loop
 * (the task yields until the connection completes, fails or times out) and
 * closes at once: true when something accepts, else nil and the reason.
 * Name resolution uses getaddrinfo, which blocks; readiness checks name
 * loopback addresses and local hosts, where it returns at once.
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

static int probe_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    probe *p = (probe *)ctx;
    if (mp_wait_check(L, &p->wait) == MP_WAKE_TIMEOUT) {
        lua_pushnil(L);
        lua_pushliteral(L, "timed out connecting");
        return 2;
    }
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len);
    close_probe(p);
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

static const luaL_Reg net_functions[] = {
    { "probe", l_probe },
    { NULL, NULL }
};

int luaopen_mpod_net(lua_State *L)
{
    luaL_newlib(L, net_functions);
    return 1;
}
