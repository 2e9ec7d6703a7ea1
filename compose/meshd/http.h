/* http.h: meshd's HTTP server (libmicrohttpd, one thread per connection)
 * and what handlers use: the request, its authenticated principal, and the
 * reply helpers. Every reply but the SSE stream is JSON; errors are
 * {"error": "..."}. A handler calls exactly one reply_* function. */
#ifndef MESHD_HTTP_H
#define MESHD_HTTP_H

#include "db.h"
#include "util.h"

#include <cJSON.h>
#include <microhttpd.h>
#include <stdbool.h>

enum credential { CRED_NONE, CRED_COOKIE, CRED_BEARER };

/* Who made the request, once routes.c authenticated it. */
struct principal {
    enum credential via;
    char user_id[40];
    char email[256];
    char name[256];
    char session_id[40];      /* empty when authenticated by API key */
    char session_expires[40]; /* ISO 8601, UTC */
};

struct request {
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    struct buf body;
    bool body_too_large;
    char param[40]; /* the {id} path segment, when the route has one */
    struct principal who;
    unsigned status;
    struct MHD_Response *response;
};

/* Starts listening on cfg.port. Returns 0 or -1. */
int http_start(void);
/* Stops accepting connections; requests already in flight go on. */
void http_quiesce(void);
/* Closes every connection (streams must have been told to end). */
void http_stop(void);
/* True once http_quiesce ran. */
bool http_stopping(void);

/* Replies with body (taken over; NULL means out of memory: 500). */
void reply_json(struct request *r, unsigned status, cJSON *body);
void reply_error(struct request *r, unsigned status, const char *message);
/* Replies 503, 409 or 500 for a failed statement. */
void reply_db_error(struct request *r, enum db_status st);
/* Replies with a response built by the handler (taken over). */
void reply_response(struct request *r, unsigned status,
                    struct MHD_Response *response);
/* Adds a header to the reply already made. */
void reply_header(struct request *r, const char *name, const char *value);

const char *request_header(const struct request *r, const char *name);
const char *request_cookie(const struct request *r, const char *name);

/* The body as a JSON object; an empty body is an empty object when
 * optional. NULL after replying 400. The caller cJSON_Delete()s it. */
cJSON *request_json(struct request *r, bool optional);
/* obj[key] when it is a string, else NULL. */
const char *json_string(const cJSON *obj, const char *key);

#endif
