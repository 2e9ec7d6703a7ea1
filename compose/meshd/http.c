/* http.c: the libmicrohttpd daemon. Each connection has its own thread
 * (MHD_USE_THREAD_PER_CONNECTION), so handlers may block on Postgres and SSE
 * readers may block waiting for chunks. The request context lives from the
 * first callback of a request to MHD's completion notice: the body is
 * gathered (at most MAX_BODY bytes), then routes_dispatch runs once. */
#include "http.h"

#include "config.h"
#include "log.h"
#include "routes.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAX_BODY = 1 << 20, IDLE_TIMEOUT_S = 60 };

static struct MHD_Daemon *daemon_handle;
static MHD_socket quiesced_socket = MHD_INVALID_SOCKET;
static atomic_bool stopping;

static void log_mhd(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char message[300];
    vsnprintf(message, sizeof message, fmt, ap);
    for (char *c = message; *c; c++)
        if (*c == '"')
            *c = '\'';
    log_event("http_error", "message=\"%s\"", message);
}

static void gather_body(struct request *r, const char *data, size_t size)
{
    if (r->body_too_large || r->body.len + size > MAX_BODY ||
        buf_append(&r->body, data, size) < 0)
        r->body_too_large = true;
}

static enum MHD_Result send_reply(struct request *r)
{
    if (!r->response)
        reply_error(r, 500, "internal error");
    if (!r->response)
        return MHD_NO;
    enum MHD_Result ok = MHD_queue_response(r->conn, r->status, r->response);
    MHD_destroy_response(r->response);
    r->response = NULL;
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **context)
{
    (void)cls, (void)version;
    struct request *r = *context;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        r->conn = conn;
        r->method = method;
        r->path = url;
        *context = r;
        return MHD_YES;
    }
    if (*upload_size) {
        gather_body(r, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    routes_dispatch(r);
    return send_reply(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn,
                         void **context, enum MHD_RequestTerminationCode why)
{
    (void)cls, (void)conn, (void)why;
    struct request *r = *context;
    if (!r)
        return;
    if (r->response)
        MHD_destroy_response(r->response);
    buf_free(&r->body);
    free(r);
    *context = NULL;
}

int http_start(void)
{
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;
    daemon_handle = MHD_start_daemon(
        flags, (uint16_t)cfg.port, NULL, NULL, on_request, NULL,
        MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)IDLE_TIMEOUT_S, MHD_OPTION_END);
    return daemon_handle ? 0 : -1;
}

void http_quiesce(void)
{
    atomic_store(&stopping, true);
    if (daemon_handle)
        quiesced_socket = MHD_quiesce_daemon(daemon_handle);
}

void http_stop(void)
{
    if (daemon_handle)
        MHD_stop_daemon(daemon_handle);
    daemon_handle = NULL;
    if (quiesced_socket != MHD_INVALID_SOCKET)
        close(quiesced_socket);
}

bool http_stopping(void)
{
    return atomic_load(&stopping);
}

void reply_response(struct request *r, unsigned status,
                    struct MHD_Response *response)
{
    if (r->response)
        MHD_destroy_response(r->response);
    r->status = status;
    r->response = response;
}

void reply_json(struct request *r, unsigned status, cJSON *body)
{
    char *text = body ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    struct MHD_Response *resp =
        text ? MHD_create_response_from_buffer(strlen(text), text,
                                               MHD_RESPMEM_MUST_FREE)
             : NULL;
    if (!resp) {
        free(text);
        static const char oom[] = "{\"error\":\"out of memory\"}";
        status = 500;
        resp = MHD_create_response_from_buffer(strlen(oom), (void *)oom,
                                               MHD_RESPMEM_PERSISTENT);
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    reply_response(r, status, resp);
}

void reply_error(struct request *r, unsigned status, const char *message)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "error", message);
    reply_json(r, status, body);
}

void reply_db_error(struct request *r, enum db_status st)
{
    if (st == DB_UNAVAILABLE)
        reply_error(r, 503, "database unavailable");
    else if (st == DB_CONFLICT)
        reply_error(r, 409, "already exists");
    else
        reply_error(r, 500, "database error");
}

void reply_header(struct request *r, const char *name, const char *value)
{
    if (r->response)
        MHD_add_response_header(r->response, name, value);
}

const char *request_header(const struct request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *request_cookie(const struct request *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

cJSON *request_json(struct request *r, bool optional)
{
    if (optional && r->body.len == 0)
        return cJSON_CreateObject();
    cJSON *j = r->body.len ? cJSON_ParseWithLength(r->body.p, r->body.len) : NULL;
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        reply_error(r, 400, "body must be a JSON object");
        return NULL;
    }
    return j;
}

const char *json_string(const cJSON *obj, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(obj, key));
}
