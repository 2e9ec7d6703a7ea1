/* routes.c: the route table. A pattern segment "*" matches one path
 * segment, which must look like a uuid (every {id} is one) and is copied to
 * r->param. USER routes go through auth_require_user first. While the pod
 * shuts down only the health routes still answer; the rest get 503. */
#include "routes.h"

#include "auth.h"
#include "handlers.h"

#include <ctype.h>
#include <string.h>

enum access { PUBLIC, USER };

struct route {
    const char *method;
    const char *pattern;
    enum access access;
    void (*handle)(struct request *r);
};

static const struct route routes[] = {
    {"GET", "/health/live", PUBLIC, handle_live},
    {"GET", "/health/ready", PUBLIC, handle_ready},
    {"POST", "/api/auth/sign-up/email", PUBLIC, handle_sign_up},
    {"POST", "/api/auth/sign-in/email", PUBLIC, handle_sign_in},
    {"GET", "/api/auth/get-session", USER, handle_get_session},
    {"POST", "/api/auth/sign-out", PUBLIC, handle_sign_out},
    {"POST", "/api/orgs", USER, handle_create_org},
    {"POST", "/api/keys", USER, handle_create_key},
    {"GET", "/api/threads", USER, handle_list_threads},
    {"POST", "/api/threads", USER, handle_create_thread},
    {"GET", "/api/threads/*", USER, handle_get_thread},
    {"POST", "/api/threads/*/messages", USER, handle_post_message},
    {"GET", "/api/threads/*/stream", USER, handle_stream},
};

/* 8-4-4-4-12 hex digits. */
static bool is_uuid(const char *s, size_t n)
{
    if (n != 36)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

/* Matches path against pattern, capturing a "*" segment into param. */
static bool match(const char *pattern, const char *path, char *param)
{
    while (*pattern && *path) {
        if (*pattern == '*') {
            size_t n = strcspn(path, "/");
            if (!is_uuid(path, n))
                return false;
            memcpy(param, path, n);
            param[n] = '\0';
            path += n;
            pattern++;
        } else if (*pattern++ != *path++) {
            return false;
        }
    }
    return !*pattern && !*path;
}

static void run(const struct route *route, struct request *r)
{
    bool health = route->handle == handle_live || route->handle == handle_ready;
    if (http_stopping() && !health) {
        reply_error(r, 503, "shutting down");
    } else if (r->body_too_large) {
        reply_error(r, 413, "body too large");
    } else if (route->access == PUBLIC || auth_require_user(r)) {
#if MESHD_BUG_IS(ack_before_commit)
        /* read this pod's own new threads, still queued maybe */
        if (route->handle != handle_create_thread &&
            strncmp(route->pattern, "/api/threads", 12) == 0)
            threads_wait_written();
#endif
        route->handle(r);
    }
}

void routes_dispatch(struct request *r)
{
    bool path_known = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (!match(routes[i].pattern, r->path, r->param))
            continue;
        if (strcmp(routes[i].method, r->method) == 0) {
            run(&routes[i], r);
            return;
        }
        path_known = true;
    }
    if (path_known)
        reply_error(r, 405, "method not allowed");
    else
        reply_error(r, 404, "not found");
}
