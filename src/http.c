/*
 * http.c: the Lua module mpod.http.core: HTTP requests and SSE streams over
 * one curl_multi per process, driven by the engine's event loop.
 *
 * The multi's sockets are loop watchers (CURLMOPT_SOCKETFUNCTION) and its
 * timeout one loop timer (CURLMOPT_TIMERFUNCTION); every loop callback ends
 * by draining curl_multi_info_read, where finished transfers are removed
 * from the multi (their connection goes back to the multi's keep-alive
 * cache) and their owner is told. CURLOPT_PRIVATE maps an easy handle back
 * to its transfer. curl callbacks and loop callbacks never call Lua: they
 * fill C buffers and wake tasks; continuations turn the result into Lua
 * values, so no Lua error can longjmp through curl frames.
 *
 * A Request ("mpod.http.Request") lives on the stack of the task that waits
 * for it; a cancelled task's release callback takes the handle out of the
 * multi. A Stream ("mpod.http.Stream") keeps reading while its owner does
 * other things: the SSE parser (sse.c) runs in the write callback, events
 * queue in C memory until Lua takes them, and past queue_limit bytes the
 * transfer pauses (TCP flow control holds the server back) until the queue
 * drains. A stream reconnects by itself when asked to, from loop timers.
 *
 * The multi belongs to the process that created it: a forked child finds
 * another pid, abandons the parent's multi and handles without touching
 * them (their sockets are the parent's) and starts afresh.
 */
#include "buf.h"
#include "mpod.h"
#include "sse.h"

#include <curl/curl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define REQUEST_MT "mpod.http.Request"
#define STREAM_MT "mpod.http.Stream"

#define DEFAULT_TIMEOUT 30.0
#define DEFAULT_MAX_BODY ((size_t)1 << 30)
/* One response's header lines: below libcurl's own 300 KiB, so a head
 * past it is refused here with a message that says so. libcurl refuses a
 * single header line over 100 KiB before we see it (CURL_MAX_HTTP_HEADER,
 * an "out of memory" error, which describe_failure names for what it is). */
#define MAX_HEAD ((size_t)256 << 10)
#define MAX_EXCERPT ((size_t)64 << 10)    /* body kept of a refused stream */
#define QUEUE_LIMIT ((size_t)16 << 20)    /* default queue_limit (bytes) */
#define MAX_RETRY_MS 10000                /* cap on an SSE server's retry */
#define DEFAULT_RETRY_MS 1000
#define DEFAULT_ATTEMPTS 10
#define IDLE_CONNECTIONS 1024             /* keep-alive connections cached */
#define POOL_SIZE 64                      /* idle easy handles kept */

/* ---- transfers: one easy handle each ---- */

typedef struct xfer xfer;

/* What a transfer's owner does with its events; called from curl and loop
 * callbacks, so none of them may call Lua. */
typedef struct {
    size_t (*body)(xfer *x, const char *data, size_t len);
    void (*head_done)(xfer *x, long status);
    void (*done)(xfer *x, CURLcode rc);
} xfer_ops;

struct xfer {
    const xfer_ops *ops;
    CURL *easy;
    struct curl_slist *headers;
    bool in_multi;
    bool follow;
    mp_sbuf head;                /* header lines of the latest response */
    bool head_open;              /* its status line came, its end not yet */
    const char *abort_kind;      /* why a callback stopped the transfer */
    char abort_msg[128];
    char errbuf[CURL_ERROR_SIZE];
};

typedef struct {
    unsigned long generation;    /* mp_fork_generation() when it was made */
    CURLM *multi;
    mp_timer *timer;
    CURL *pool[POOL_SIZE];
    int pooled;
} http_state;

static http_state http;

/* A forked child's copy of its parent's state: never used, only kept so
 * leak checkers see the parent's handles as reachable. */
static http_state inherited __attribute__((used));

static void drain(void);

/* ---- the multi in the loop ---- */

static void on_socket_io(void *arg, int fd, int revents)
{
    (void)arg;
    int flags = 0, running;
    if (revents & (POLLIN | POLLHUP))
        flags |= CURL_CSELECT_IN;
    if (revents & POLLOUT)
        flags |= CURL_CSELECT_OUT;
    if (revents & (POLLERR | POLLNVAL))
        flags |= CURL_CSELECT_ERR;
    curl_multi_socket_action(http.multi, fd, flags, &running);
    drain();
}

/* CURLMOPT_SOCKETFUNCTION: mirror curl's interest in a socket. */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                     void *socketp)
{
    (void)easy;
    (void)userp;
    (void)socketp;
    short events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= POLLIN;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= POLLOUT;
    mp_io_watch(fd, events, events ? on_socket_io : NULL, NULL);
    return 0;
}

static void on_timer_fired(void *arg)
{
    (void)arg;
    int running;
    http.timer = NULL;           /* the loop frees a fired timer */
    curl_multi_socket_action(http.multi, CURL_SOCKET_TIMEOUT, 0, &running);
    drain();
}

/* CURLMOPT_TIMERFUNCTION: one loop timer stands for curl's timeout. */
static int on_timer(CURLM *multi, long ms, void *userp)
{
    (void)multi;
    (void)userp;
    mp_timer_cancel(http.timer);
    http.timer = ms < 0 ? NULL
        : mp_timer_add(mp_now() + (double)ms / 1000.0, on_timer_fired, NULL);
    return 0;
}

/* Tell the owners of finished transfers; each leaves the multi first. */
static void drain(void)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(http.multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        xfer *x;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(http.multi, easy);
        x->in_multi = false;
        x->ops->done(x, rc);
    }
}

/* libcurl's global set-up (OpenSSL's included, about 1 ms), done on first
 * use rather than at start-up, so a run that makes no request never pays
 * for it; a cluster run does it in the runner (core.prepare), before it
 * forks the files' processes, which inherit it. */
static bool curl_global_ready(void)
{
    static bool ready;
    if (!ready)
        ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    return ready;
}

/* The multi of this process, created on first use; NULL when curl fails.
 * After a fork the parent's state is dropped, not cleaned up. */
static CURLM *this_multi(void)
{
    unsigned long generation = mp_fork_generation();
    if (http.multi && http.generation == generation)
        return http.multi;
    if (!curl_global_ready())
        return NULL;
    if (http.multi)
        inherited = http;
    memset(&http, 0, sizeof http);
    http.generation = generation;
    http.multi = curl_multi_init();
    if (!http.multi)
        return NULL;
    curl_multi_setopt(http.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(http.multi, CURLMOPT_TIMERFUNCTION, on_timer);
    /* libcurl's default cache holds 4 connections per transfer in flight,
     * so when many transfers end together it closes the surplus and the
     * next round of a request loop opens new ones (64 tasks looping 10
     * times closed 37; tests/lua/http_concurrency.lua); keep every idle
     * keep-alive connection up to this many */
    curl_multi_setopt(http.multi, CURLMOPT_MAXCONNECTS, (long)IDLE_CONNECTIONS);
    return http.multi;
}

/* ---- transfer set-up and teardown ---- */

static bool is_blank_line(const char *s, size_t len)
{
    return (len == 2 && s[0] == '\r' && s[1] == '\n')
        || (len == 1 && s[0] == '\n');
}

/* CURLOPT_HEADERFUNCTION: keep the lines of the latest response; tell the
 * owner when a final one (not 1xx, not a redirect being followed) ends. */
static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    xfer *x = ud;
    size_t len = size * n;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        mp_sbuf_clear(&x->head);
        x->head_open = true;
    }
    if (!mp_sbuf_fits(&x->head, len, MAX_HEAD)) {
        x->abort_kind = "protocol";
        snprintf(x->abort_msg, sizeof x->abort_msg,
                 "the response head is larger than %zu KiB", MAX_HEAD >> 10);
        return 0;
    }
    if (!mp_sbuf_append(&x->head, data, len)) {
        x->abort_kind = "memory";
        snprintf(x->abort_msg, sizeof x->abort_msg,
                 "out of memory reading the response head");
        return 0;
    }
    if (!is_blank_line(data, len))
        return len;
    x->head_open = false;
    if (!x->ops->head_done)
        return len;
    long status = 0;
    char *location = NULL;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_URL, &location);
    if (status >= 200 && !(x->follow && status / 100 == 3 && location))
        x->ops->head_done(x, status);
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    xfer *x = ud;
    return x->ops->body(x, data, size * n);
}

/* An easy handle from the pool or a new one, with the options every
 * transfer shares. */
static CURL *easy_get(xfer *x)
{
    CURL *easy = http.pooled ? http.pool[--http.pooled] : curl_easy_init();
    if (!easy)
        return NULL;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)x);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(easy, CURLOPT_PROXY, "");
    curl_easy_setopt(easy, CURLOPT_MAXREDIRS, 10L);
    return easy;
}

/* Return an easy handle to the pool (reset) or free it. */
static void easy_put(CURL *easy)
{
    if (http.pooled < POOL_SIZE) {
        curl_easy_reset(easy);
        http.pool[http.pooled++] = easy;
    } else {
        curl_easy_cleanup(easy);
    }
}

/* Take x out of the multi (the transfer stops; nothing calls back). */
static void xfer_stop(xfer *x)
{
    if (x->in_multi) {
        curl_multi_remove_handle(http.multi, x->easy);
        x->in_multi = false;
    }
}

/* Stop x and release everything it holds; idempotent. */
static void xfer_free(xfer *x)
{
    xfer_stop(x);
    if (x->easy)
        easy_put(x->easy);
    x->easy = NULL;
    curl_slist_free_all(x->headers);
    x->headers = NULL;
    mp_sbuf_free(&x->head);
}

static bool xfer_start(xfer *x)
{
    x->errbuf[0] = '\0';
    x->abort_kind = NULL;
    mp_sbuf_clear(&x->head);
    x->head_open = false;
    if (curl_multi_add_handle(http.multi, x->easy) != CURLM_OK)
        return false;
    x->in_multi = true;
    return true;
}

/* ---- reading the spec table ---- */

static double opt_number(lua_State *L, int spec, const char *name, double def)
{
    int type = lua_getfield(L, spec, name);
    if (type != LUA_TNIL && type != LUA_TNUMBER)
        luaL_error(L, "http spec field '%s' must be a number", name);
    double v = type == LUA_TNIL ? def : lua_tonumber(L, -1);
    lua_pop(L, 1);
    return v;
}

static bool opt_bool(lua_State *L, int spec, const char *name)
{
    lua_getfield(L, spec, name);
    bool v = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* Push spec[name]; returns it, or NULL when it is nil (raises for other
 * types). The caller pops it. */
static const char *opt_string(lua_State *L, int spec, const char *name)
{
    int type = lua_getfield(L, spec, name);
    if (type != LUA_TNIL && type != LUA_TSTRING)
        luaL_error(L, "http spec field '%s' must be a string", name);
    return lua_tostring(L, -1);
}

/* spec.headers, a list of "Name: value" lines, as a curl list (owned by x
 * at once, so a raise leaks nothing). */
static void read_header_lines(lua_State *L, int spec, xfer *x)
{
    lua_getfield(L, spec, "headers");
    lua_Integer n = lua_istable(L, -1) ? luaL_len(L, -1) : 0;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        const char *line = luaL_checkstring(L, -1);
        struct curl_slist *l = curl_slist_append(x->headers, line);
        if (!l)
            luaL_error(L, "out of memory");
        x->headers = l;
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* Options both requests and streams take: url, headers, timeout (used for
 * connecting), connect_timeout, follow, unix_socket, proxy. */
static void xfer_setup(lua_State *L, int spec, xfer *x, const xfer_ops *ops)
{
    x->ops = ops;
    if (!this_multi() || !(x->easy = easy_get(x)))
        mp_raise(L, "memory", "libcurl could not create a transfer");
    CURL *e = x->easy;
    lua_getfield(L, spec, "url");
    curl_easy_setopt(e, CURLOPT_URL, luaL_checkstring(L, -1));
    lua_pop(L, 1);
    read_header_lines(L, spec, x);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    double timeout = opt_number(L, spec, "timeout", DEFAULT_TIMEOUT);
    double connect = opt_number(L, spec, "connect_timeout", timeout);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(connect * 1000.0 + 0.5));
    x->follow = opt_bool(L, spec, "follow");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, (long)x->follow);
    const char *path = opt_string(L, spec, "unix_socket");
    if (path)
        curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, path);
    const char *proxy = opt_string(L, spec, "proxy");
    if (proxy)
        curl_easy_setopt(e, CURLOPT_PROXY, proxy);
    lua_pop(L, 2);
}

/* ---- errors ---- */

static const char *kind_of(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT: return "connect";
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return "dns";
    case CURLE_OPERATION_TIMEDOUT: return "timeout";
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE: return "reset";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE: return "tls";
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL: return "url";
    case CURLE_OUT_OF_MEMORY: return "memory";
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_TOO_MANY_REDIRECTS:
    case CURLE_BAD_CONTENT_ENCODING: return "protocol";
    default: return "http";
    }
}

/* A reply libcurl refused for not being HTTP as it should be: its text,
 * or NULL. Its codes alone would read "url" (a reply without a status
 * line is "Received HTTP/0.9") or "memory" (a header line over libcurl's
 * limit). */
static const char *bad_reply(const xfer *x, CURLcode rc)
{
    if (rc == CURLE_UNSUPPORTED_PROTOCOL && strstr(x->errbuf, "HTTP/0.9"))
        return "the server's reply is not HTTP (it does not start with a "
               "status line such as \"HTTP/1.1 200 OK\")";
    if (rc == CURLE_OUT_OF_MEMORY && x->head_open)
        return "a response header line is longer than 100 KiB "
               "(libcurl's limit)";
    return NULL;
}

/* The kind and text of a failed transfer into kind/msg buffers. */
static void describe_failure(const xfer *x, CURLcode rc, const char **kind,
                             char *msg, size_t size)
{
    const char *bad = bad_reply(x, rc);
    if (x->abort_kind) {
        *kind = x->abort_kind;
        snprintf(msg, size, "%s", x->abort_msg);
    } else if (bad) {
        *kind = "protocol";
        snprintf(msg, size, "%s", bad);
    } else {
        *kind = kind_of(rc);
        long os_errno = 0;
        /* curl says "Couldn't connect to server": say refused, unreachable */
        if (rc == CURLE_COULDNT_CONNECT)
            curl_easy_getinfo(x->easy, CURLINFO_OS_ERRNO, &os_errno);
        snprintf(msg, size, os_errno ? "%s (%s)" : "%s",
                 x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc),
                 os_errno ? strerror((int)os_errno) : "");
    }
}

/* Push an mpod error for a failed transfer. */
static void push_failure(lua_State *L, const xfer *x, CURLcode rc)
{
    const char *kind;
    char msg[CURL_ERROR_SIZE + 128];
    describe_failure(x, rc, &kind, msg, sizeof msg);
    mp_push_error(L, kind, "%s", msg);
    mp_error_set_integer(L, "curl_code", rc);
}

/* ---- requests ---- */

typedef struct {
    xfer x;                      /* first: CURLOPT_PRIVATE points here */
    mp_wait wait;
    CURLcode result;
    mp_sbuf body;
    size_t max_body;
} request;

/* The first bytes of a body with a Content-Length within max_body reserve
 * room for all of it at once. */
static size_t request_body(xfer *x, const char *data, size_t len)
{
    request *r = (request *)x;
    curl_off_t expected = -1;
    if (!r->body.data) {
        curl_easy_getinfo(x->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T,
                          &expected);
        if (expected > 0 && (size_t)expected <= r->max_body)
            mp_sbuf_reserve(&r->body, (size_t)expected);
    }
    if (!mp_sbuf_fits(&r->body, len, r->max_body)) {
        x->abort_kind = "too_big";
        snprintf(x->abort_msg, sizeof x->abort_msg,
                 "the response body is larger than max_body (%zu bytes)",
                 r->max_body);
        return 0;
    }
    if (mp_sbuf_append(&r->body, data, len))
        return len;
    x->abort_kind = "memory";
    snprintf(x->abort_msg, sizeof x->abort_msg,
             "out of memory reading the response body (%zu bytes so far)",
             r->body.len);
    return 0;
}

static void request_done(xfer *x, CURLcode rc)
{
    request *r = (request *)x;
    r->result = rc;
    mp_wait_wake(&r->wait);
}

static const xfer_ops request_ops = {
    .body = request_body,
    .done = request_done,
};

/* A cancelled task: the transfer stops at once. */
static void request_release(mp_wait *w)
{
    request *r = (request *)((char *)w - offsetof(request, wait));
    xfer_stop(&r->x);
}

static void request_free(request *r)
{
    xfer_free(&r->x);
    mp_sbuf_free(&r->body);
}

static int l_request_gc(lua_State *L)
{
    request_free(luaL_checkudata(L, 1, REQUEST_MT));
    return 0;
}

/* Method and body: spec.method (default GET, or POST with a body) and
 * spec.body, anchored as the request's user value while curl reads it. */
static void request_method(lua_State *L, int spec, CURL *e)
{
    const char *body = opt_string(L, spec, "body");
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)lua_rawlen(L, -1));
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    }
    lua_setiuservalue(L, spec + 1, 1);
    const char *method = opt_string(L, spec, "method");
    if (!method)
        method = body ? "POST" : "GET";
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, body ? "POST" : "GET") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    lua_pop(L, 1);
}

/* Push the result table {status=, head=, body=, time=, url=}, with room
 * for the three fields mpod.http adds (method, pod, path). */
static void push_response(lua_State *L, request *r)
{
    long status = 0;
    curl_off_t micros = 0;
    char *url = NULL;
    curl_easy_getinfo(r->x.easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(r->x.easy, CURLINFO_TOTAL_TIME_T, &micros);
    curl_easy_getinfo(r->x.easy, CURLINFO_EFFECTIVE_URL, &url);
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, status);
    lua_setfield(L, -2, "status");
    lua_pushlstring(L, mp_sbuf_text(&r->x.head), r->x.head.len);
    lua_setfield(L, -2, "head");
    lua_pushlstring(L, mp_sbuf_text(&r->body), r->body.len);
    lua_setfield(L, -2, "body");
    lua_pushnumber(L, (double)micros / 1e6);
    lua_setfield(L, -2, "time");
    lua_pushstring(L, url);
    lua_setfield(L, -2, "url");
}

static int request_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    request *r = (request *)ctx;
    mp_wait_check(L, &r->wait);
    bool ok = r->result == CURLE_OK;
    if (ok) {
        push_response(L, r);
    } else {
        lua_pushnil(L);
        push_failure(L, &r->x, r->result);
    }
    request_free(r);
    return ok ? 1 : 2;
}

/* core.request(spec) -> {status=, head=, body=, time=, url=} | nil, err
 * spec: url, method, headers (lines), body, timeout (total),
 * connect_timeout, follow, unix_socket, proxy, max_body. Yields the task
 * until the transfer ends; raises only for programmer mistakes. */
static int l_request(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    mp_task_require(L, "an HTTP request");
    request *r = lua_newuserdatauv(L, sizeof *r, 1);
    memset(r, 0, sizeof *r);
    luaL_setmetatable(L, REQUEST_MT);
    xfer_setup(L, 1, &r->x, &request_ops);
    request_method(L, 1, r->x.easy);
    double timeout = opt_number(L, 1, "timeout", DEFAULT_TIMEOUT);
    curl_easy_setopt(r->x.easy, CURLOPT_TIMEOUT_MS,
                     (long)(timeout * 1000.0 + 0.5));
    r->max_body = (size_t)opt_number(L, 1, "max_body",
                                     (double)DEFAULT_MAX_BODY);
    r->wait.release = request_release;
    if (!xfer_start(&r->x))
        mp_raise(L, "memory", "libcurl could not start the transfer");
    return mp_wait_yield(L, &r->wait, -1, (lua_KContext)r, request_k);
}

/* ---- SSE streams ---- */

typedef struct sse_event {
    struct sse_event *next;
    double time;
    int64_t retry;               /* the server's retry (ms), -1: none */
    bool has_id;
    size_t type_len, data_len, id_len;
    char *type, *data, *id;      /* one allocation, in this order */
} sse_event;

typedef enum {
    ST_OPENING,                  /* waiting for the response head */
    ST_OPEN,                     /* reading events */
    ST_RETRYING,                 /* waiting to reconnect */
    ST_ENDED,                    /* no transfer; see failed / gave_up */
    ST_CLOSED                    /* closed by its owner */
} stream_state;

static const char *const state_names[] = {
    "opening", "open", "retrying", "ended", "closed"
};

typedef struct {
    xfer x;                      /* first: CURLOPT_PRIVATE points here */
    stream_state state;
    mp_sse_parser parser;
    mp_cond changed;             /* an event was queued or the state moved */
    sse_event *head, *tail;
    size_t queued, queued_bytes;
    size_t queue_limit;          /* pause reading past this many bytes */
    bool paused;
    mp_timer *timer;             /* head deadline or reconnection delay */
    double open_timeout;
    struct curl_slist *base;     /* the spec's header lines */
    char *initial_id;            /* the last_event_id option */
    bool reconnect;              /* resume by itself after a drop */
    bool auto_attempt;           /* this attempt was started by a timer */
    bool got_bytes;              /* this attempt received body bytes */
    bool refused;                /* the response is not an event stream */
    bool no_memory;
    int max_attempts, failures, attempts;
    uint64_t retry_ms;           /* the reconnection delay */
    int64_t server_retry;        /* the last retry field, -1: none */
    bool opened;                 /* this attempt opened an event stream */
    long status;
    mp_sbuf excerpt;             /* the body of a refused response */
    bool failed, gave_up;        /* how the last attempt ended */
    char err_kind[16];
    char err_msg[CURL_ERROR_SIZE + 160];
} stream;

/* ---- the event queue ---- */

static void on_sse_event(void *ud, const mp_sse_event *ev)
{
    stream *s = ud;
    const char *id = ev->has_id ? ev->id : s->initial_id;
    size_t id_len = ev->has_id ? ev->id_len : id ? strlen(id) : 0;
    size_t extra = ev->type_len + ev->data_len + id_len + 3;
    sse_event *e = malloc(sizeof *e + extra);
    if (!e) {
        s->no_memory = true;
        return;
    }
    *e = (sse_event){ .time = mp_now(), .retry = s->server_retry,
                      .has_id = id != NULL, .type_len = ev->type_len,
                      .data_len = ev->data_len, .id_len = id_len };
    e->type = (char *)(e + 1);
    e->data = e->type + ev->type_len + 1;
    e->id = e->data + ev->data_len + 1;
    memcpy(e->type, ev->type, ev->type_len + 1);
    memcpy(e->data, ev->data, ev->data_len + 1);
    memcpy(e->id, id ? id : "", id_len + 1);
    if (s->tail)
        s->tail->next = e;
    else
        s->head = e;
    s->tail = e;
    s->queued++;
    s->queued_bytes += sizeof *e + extra;
    mp_cond_broadcast(&s->changed);
}

static void on_sse_retry(void *ud, uint64_t ms)
{
    stream *s = ud;
    s->retry_ms = ms;
    s->server_retry = ms < INT64_MAX ? (int64_t)ms : INT64_MAX;
}

static const mp_sse_handlers sse_handlers = {
    .on_event = on_sse_event,
    .on_retry = on_sse_retry,
};

static sse_event *queue_pop(stream *s)
{
    sse_event *e = s->head;
    if (!e)
        return NULL;
    s->head = e->next;
    if (!s->head)
        s->tail = NULL;
    s->queued--;
    s->queued_bytes -= sizeof *e + e->type_len + e->data_len + e->id_len + 3;
    return e;
}

static void queue_clear(stream *s)
{
    sse_event *e;
    while ((e = queue_pop(s)))
        free(e);
}

/* ---- the attempts of a stream ---- */

static void stream_start_attempt(stream *s);

/* Record why the last attempt ended (shown when it failed). */
static void set_error(stream *s, const char *kind, const char *msg)
{
    snprintf(s->err_kind, sizeof s->err_kind, "%s", kind);
    snprintf(s->err_msg, sizeof s->err_msg, "%s", msg);
}

static void on_retry_due(void *arg)
{
    stream *s = arg;
    s->timer = NULL;
    s->auto_attempt = true;
    stream_start_attempt(s);
}

/* The current attempt is over (kind NULL: a clean end): reconnect later
 * or end the stream, and tell the waiters. */
static void stream_attempt_over(stream *s, const char *kind, const char *msg)
{
    bool was_open = s->state == ST_OPEN;
    mp_timer_cancel(s->timer);
    s->timer = NULL;
    mp_sse_reset(&s->parser);
    if (kind)
        set_error(s, kind, msg);
    else if (!s->got_bytes)
        set_error(s, "closed", "the server ended the stream without "
                  "sending anything");
    s->failed = kind != NULL;
    s->failures = was_open && s->got_bytes ? 0 : s->failures + 1;
    bool again = s->reconnect && (was_open || s->auto_attempt)
        && s->status != 204;
    if (again && s->failures < s->max_attempts) {
        uint64_t ms = s->retry_ms < MAX_RETRY_MS ? s->retry_ms : MAX_RETRY_MS;
        s->state = ST_RETRYING;
        s->timer = mp_timer_add(mp_now() + (double)ms / 1000.0,
                                on_retry_due, s);
    } else {
        s->state = ST_ENDED;
        s->gave_up = again;
        s->failed |= again;
    }
    mp_cond_broadcast(&s->changed);
}

/* The response head is complete: an event stream opens, anything else is
 * refused (its body is kept as an excerpt for the error). */
static void stream_head_done(xfer *x, long status)
{
    stream *s = (stream *)x;
    char *type = NULL;
    curl_easy_getinfo(x->easy, CURLINFO_CONTENT_TYPE, &type);
    s->status = status;
    if (status == 200 && type && strncasecmp(type, "text/event-stream",
                                             strlen("text/event-stream")) == 0) {
        mp_timer_cancel(s->timer);
        s->timer = NULL;
        s->state = ST_OPEN;
        s->opened = true;
        mp_cond_broadcast(&s->changed);
    } else {
        s->refused = true;
    }
}

/* The refused attempt is over: say why. */
static void refusal_over(stream *s)
{
    char *type = NULL, msg[256];
    curl_easy_getinfo(s->x.easy, CURLINFO_CONTENT_TYPE, &type);
    if (s->status != 200) {
        snprintf(msg, sizeof msg, "the server answered %ld instead of "
                 "opening an event stream", s->status);
        stream_attempt_over(s, "status", msg);
    } else {
        snprintf(msg, sizeof msg, "the response is %.160s, not "
                 "text/event-stream", type ? type : "without a Content-Type");
        stream_attempt_over(s, "protocol", msg);
    }
}

static size_t stream_body(xfer *x, const char *data, size_t len)
{
    stream *s = (stream *)x;
    if (s->refused) {
        size_t room = MAX_EXCERPT - s->excerpt.len;
        mp_sbuf_append(&s->excerpt, data, len < room ? len : room);
        return len <= room ? len : 0;
    }
    if (s->queued_bytes >= s->queue_limit) {
        s->paused = true;
        return CURL_WRITEFUNC_PAUSE;
    }
    s->got_bytes = true;
    int rc = mp_sse_feed(&s->parser, data, len);
    if (rc == MP_SSE_OK && !s->no_memory)
        return len;
    x->abort_kind = rc == MP_SSE_E_TOO_BIG ? "too_big" : "memory";
    snprintf(x->abort_msg, sizeof x->abort_msg, rc == MP_SSE_E_TOO_BIG
             ? "an SSE line or event is larger than %zu bytes"
             : "out of memory reading the stream (limit %zu)",
             s->parser.max_size);
    return 0;
}

static void stream_done(xfer *x, CURLcode rc)
{
    stream *s = (stream *)x;
    const char *kind = NULL;
    char msg[CURL_ERROR_SIZE + 128];
    if (s->refused) {
        refusal_over(s);
        return;
    }
    if (rc != CURLE_OK)
        describe_failure(x, rc, &kind, msg, sizeof msg);
    stream_attempt_over(s, kind, msg);
}

static const xfer_ops stream_ops = {
    .body = stream_body,
    .head_done = stream_head_done,
    .done = stream_done,
};

static void on_head_deadline(void *arg)
{
    stream *s = arg;
    s->timer = NULL;
    xfer_stop(&s->x);
    if (s->refused) {
        refusal_over(s);
        return;
    }
    char msg[96];
    snprintf(msg, sizeof msg, "no response within %g s", s->open_timeout);
    stream_attempt_over(s, "timeout", msg);
}

static bool list_append(struct curl_slist **list, const char *line)
{
    struct curl_slist *l = curl_slist_append(*list, line);
    if (l)
        *list = l;
    return l != NULL;
}

/* The last event ID to resume from: the stream's, else the option's. */
static const char *resume_id(const stream *s)
{
    const char *id = mp_sse_last_id(&s->parser, NULL);
    return id ? id : s->initial_id;
}

/* The header list of an attempt: the spec's lines and Last-Event-ID. */
static bool attempt_headers(stream *s)
{
    struct curl_slist *list = NULL;
    char *line = NULL;
    for (struct curl_slist *l = s->base; l; l = l->next)
        if (!list_append(&list, l->data))
            goto fail;
    const char *id = resume_id(s);
    if (id && *id) {
        if (!(line = malloc(strlen(id) + sizeof "Last-Event-ID: ")))
            goto fail;
        sprintf(line, "Last-Event-ID: %s", id);
        if (!list_append(&list, line))
            goto fail;
        free(line);
    }
    curl_slist_free_all(s->x.headers);
    s->x.headers = list;
    curl_easy_setopt(s->x.easy, CURLOPT_HTTPHEADER, list);
    return true;
fail:
    free(line);
    curl_slist_free_all(list);
    return false;
}

/* Start a connection (a loop callback or a Lua call; never inside curl). */
static void stream_start_attempt(stream *s)
{
    s->state = ST_OPENING;
    s->got_bytes = s->refused = s->no_memory = s->paused = false;
    s->opened = false;
    s->status = 0;
    mp_sbuf_clear(&s->excerpt);
    s->attempts++;
    s->timer = mp_timer_add(mp_now() + s->open_timeout, on_head_deadline, s);
    if (!attempt_headers(s) || !xfer_start(&s->x))
        stream_attempt_over(s, "memory", "libcurl could not start the stream");
}

static void stream_free(stream *s)
{
    mp_timer_cancel(s->timer);
    s->timer = NULL;
    xfer_free(&s->x);
    curl_slist_free_all(s->base);
    s->base = NULL;
    free(s->initial_id);
    s->initial_id = NULL;
    queue_clear(s);
    mp_sse_free(&s->parser);
    mp_sbuf_free(&s->excerpt);
}

/* ---- the Lua API of streams ---- */

static stream *check_stream(lua_State *L)
{
    stream *s = luaL_checkudata(L, 1, STREAM_MT);
    if (s->state == ST_CLOSED)
        mp_raise(L, "closed", "attempt to use a closed stream");
    return s;
}

/* Read the stream options: timeout (for each connection's head),
 * reconnect, max_attempts, retry (s), last_event_id, queue_limit. */
static void stream_options(lua_State *L, stream *s)
{
    s->open_timeout = opt_number(L, 1, "timeout", DEFAULT_TIMEOUT);
    s->queue_limit = (size_t)opt_number(L, 1, "queue_limit",
                                        (double)QUEUE_LIMIT);
    s->reconnect = opt_bool(L, 1, "reconnect");
    s->max_attempts = (int)opt_number(L, 1, "max_attempts", DEFAULT_ATTEMPTS);
    s->retry_ms = (uint64_t)(opt_number(L, 1, "retry",
                                        DEFAULT_RETRY_MS / 1000.0) * 1000.0);
    const char *id = opt_string(L, 1, "last_event_id");
    if (id && !(s->initial_id = strdup(id)))
        mp_raise(L, "memory", "out of memory");
    lua_settop(L, 2);
}

/* core.sse(spec) -> Stream, already connecting (state "opening"). spec as
 * for requests (no method or body) plus reconnect, max_attempts, retry,
 * last_event_id. */
static int l_sse(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    stream *s = lua_newuserdatauv(L, sizeof *s, 0);
    memset(s, 0, sizeof *s);
    s->state = ST_ENDED;
    s->server_retry = -1;
    mp_sse_init(&s->parser, &sse_handlers, s);
    luaL_setmetatable(L, STREAM_MT);
    xfer_setup(L, 1, &s->x, &stream_ops);
    s->base = s->x.headers;      /* each attempt builds its own list */
    s->x.headers = NULL;
    stream_options(L, s);
    stream_start_attempt(s);
    return 1;
}

static void push_event(lua_State *L, const sse_event *e)
{
    lua_createtable(L, 0, 5);
    lua_pushlstring(L, e->type, e->type_len);
    lua_setfield(L, -2, "event");
    lua_pushlstring(L, e->data, e->data_len);
    lua_setfield(L, -2, "data");
    if (e->has_id) {
        lua_pushlstring(L, e->id, e->id_len);
        lua_setfield(L, -2, "id");
    }
    if (e->retry >= 0) {
        lua_pushinteger(L, (lua_Integer)e->retry);
        lua_setfield(L, -2, "retry");
    }
    lua_pushnumber(L, e->time);
    lua_setfield(L, -2, "time");
}

/* st:take() -> the oldest queued event {event=, data=, id=, retry=, time=}
 * or nil; resumes a paused transfer once the queue has drained enough. */
static int l_stream_take(lua_State *L)
{
    stream *s = check_stream(L);
    if (!s->head)
        return 0;
    push_event(L, s->head);      /* may raise: pop only afterwards */
    free(queue_pop(s));
    if (s->paused && s->queued_bytes < s->queue_limit / 2 && s->x.in_multi) {
        s->paused = false;
        curl_easy_pause(s->x.easy, CURLPAUSE_CONT);
    }
    return 1;
}

static int stream_wait_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    lua_pushboolean(L, mp_wait_check(L, (mp_wait *)ctx) == MP_WAKE_DONE);
    return 1;
}

/* st:wait([timeout]) -> true when an event was queued or the state moved,
 * false when the timeout passed first. */
static int l_stream_wait(lua_State *L)
{
    stream *s = check_stream(L);
    double timeout = luaL_optnumber(L, 2, -1);
    lua_settop(L, 2);
    mp_task_require(L, "an SSE stream read");
    mp_cond_waiter *cw = lua_newuserdatauv(L, sizeof *cw, 0);
    return mp_cond_wait(L, &s->changed, cw, timeout, (lua_KContext)cw,
                        stream_wait_k);
}

/* Push the error of an ended stream. */
static void push_stream_error(lua_State *L, stream *s)
{
    if (s->gave_up)
        mp_push_error(L, s->err_kind, "gave up reconnecting after %d failed "
                      "attempts; the last: %s", s->failures, s->err_msg);
    else
        mp_push_error(L, s->err_kind, "%s", s->err_msg);
    if (s->status)
        mp_error_set_integer(L, "status", s->status);
    if (s->excerpt.len) {
        lua_pushlstring(L, s->excerpt.data, s->excerpt.len);
        lua_setfield(L, -2, "body");
    }
    mp_error_set_integer(L, "attempts", s->attempts);
}

/* st:state() -> "opening"|"open"|"retrying"|"ended"|"closed", the error
 * the last attempt ended with (or nil; `gave_up` is set in it when
 * automatic reconnection gave up), whether the latest attempt opened an
 * event stream, the attempts made so far (the history's drops and
 * resumes come from its changes) */
static int l_stream_state(lua_State *L)
{
    stream *s = luaL_checkudata(L, 1, STREAM_MT);
    lua_pushstring(L, state_names[s->state]);
    if (s->failed && s->state != ST_CLOSED) {
        push_stream_error(L, s);
        lua_pushboolean(L, s->gave_up && s->state == ST_ENDED);
        lua_setfield(L, -2, "gave_up");
    } else {
        lua_pushnil(L);
    }
    lua_pushboolean(L, s->opened);
    lua_pushinteger(L, s->attempts);
    return 4;
}

/* st:head() -> status, header lines of the latest response */
static int l_stream_head(lua_State *L)
{
    stream *s = check_stream(L);
    lua_pushinteger(L, s->status);
    lua_pushlstring(L, mp_sbuf_text(&s->x.head), s->x.head.len);
    return 2;
}

/* st:pending() -> events queued in C, their size in bytes, whether the
 * transfer is paused because the queue passed queue_limit */
static int l_stream_pending(lua_State *L)
{
    stream *s = check_stream(L);
    lua_pushinteger(L, (lua_Integer)s->queued);
    lua_pushinteger(L, (lua_Integer)s->queued_bytes);
    lua_pushboolean(L, s->paused);
    return 3;
}

/* st:reconnect(): drop the current connection and open a new one at once
 * with Last-Event-ID (state "opening"). */
static int l_stream_reconnect(lua_State *L)
{
    stream *s = check_stream(L);
    mp_timer_cancel(s->timer);
    s->timer = NULL;
    xfer_stop(&s->x);
    mp_sse_reset(&s->parser);
    s->failures = 0;
    s->failed = s->gave_up = s->auto_attempt = false;
    stream_start_attempt(s);
    return 0;
}

/* st:close(): stop the transfer, drop queued events, wake the waiters. */
static int l_stream_close(lua_State *L)
{
    stream *s = luaL_checkudata(L, 1, STREAM_MT);
    if (s->state == ST_CLOSED)
        return 0;
    stream_free(s);
    s->state = ST_CLOSED;
    mp_cond_broadcast(&s->changed);
    return 0;
}

/* st:last_id() -> the last event ID (what a reconnection sends) or nil */
static int l_stream_last_id(lua_State *L)
{
    stream *s = check_stream(L);
    lua_pushstring(L, resume_id(s));
    return 1;
}

/* ---- the module ---- */

/* core.parse_date(text) -> seconds since the epoch, or nil (HTTP dates as
 * in Expires, through curl_getdate). */
static int l_parse_date(lua_State *L)
{
    time_t t = curl_getdate(luaL_checkstring(L, 1), NULL);
    if (t == -1)
        return 0;
    lua_pushinteger(L, (lua_Integer)t);
    return 1;
}

static const luaL_Reg request_meta[] = {
    { "__gc", l_request_gc },
    { NULL, NULL }
};

static const luaL_Reg stream_methods[] = {
    { "take", l_stream_take },
    { "wait", l_stream_wait },
    { "state", l_stream_state },
    { "head", l_stream_head },
    { "reconnect", l_stream_reconnect },
    { "close", l_stream_close },
    { "last_id", l_stream_last_id },
    { "pending", l_stream_pending },
    { NULL, NULL }
};

static const luaL_Reg stream_meta[] = {
    { "__gc", l_stream_close },
    { "__close", l_stream_close },
    { NULL, NULL }
};

/* core.prepare(): set libcurl up in this process now (a runner about to
 * fork the processes of a cluster run's files). */
static int l_prepare(lua_State *L)
{
    if (!curl_global_ready())
        mp_raise(L, "memory", "libcurl failed to initialise");
    return 0;
}

static const luaL_Reg core_functions[] = {
    { "prepare", l_prepare },
    { "request", l_request },
    { "sse", l_sse },
    { "parse_date", l_parse_date },
    { NULL, NULL }
};

int luaopen_mpod_http_core(lua_State *L)
{
    mp_new_class(L, REQUEST_MT, NULL, request_meta);
    mp_new_class(L, STREAM_MT, stream_methods, stream_meta);
    lua_pop(L, 2);
    luaL_newlib(L, core_functions);
    lua_pushliteral(L, "mpod-lua/" MPOD_VERSION);
    lua_setfield(L, -2, "user_agent");
    return 1;
}
