/* auth.c: users, sessions and request authentication, all in Postgres so
 * every pod agrees.
 *
 * Passwords are hashed with yescrypt through libcrypt (crypt_rn). Session
 * tokens (64 hex digits) and API keys ("mk_" + 64 hex digits) are random;
 * only their SHA-256 (Postgres's sha256()) is stored. The session token
 * travels in the meshd_session cookie or as "Authorization: Bearer"; an API
 * key only as Bearer. Bearer wins when both are present. */
#include "auth.h"

#include "bug.h"
#include "config.h"
#include "handlers.h"

#include <crypt.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define COOKIE_NAME "meshd_session"
enum { SESSION_DAYS = 7, MAX_EMAIL = 254, MAX_NAME = 200, MIN_PASSWORD = 8,
       MAX_PASSWORD = 256 };

/* The session or API key the request carries, and how. */
static enum credential credential(const struct request *r, const char **token)
{
    const char *auth = request_header(r, "Authorization");
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        *token = auth + 7;
        while (**token == ' ')
            (*token)++;
        return **token ? CRED_BEARER : CRED_NONE;
    }
    *token = request_cookie(r, COOKIE_NAME);
    return *token && **token ? CRED_COOKIE : CRED_NONE;
}

static bool is_write(const char *method)
{
    return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
           strcmp(method, "OPTIONS") != 0;
}

static bool origin_allowed(const struct request *r)
{
    const char *origin = request_header(r, "Origin");
    return origin && strcmp(origin, cfg.origin) == 0;
}

static void copy_field(char *dst, size_t size, const char *value)
{
    snprintf(dst, size, "%s", value ? value : "");
}

/* Fills who from a row (user id, email, name, session id, expires_at). */
static void fill_principal(struct principal *who, const PGresult *res)
{
    copy_field(who->user_id, sizeof who->user_id, db_text(res, 0, 0));
    copy_field(who->email, sizeof who->email, db_text(res, 0, 1));
    copy_field(who->name, sizeof who->name, db_text(res, 0, 2));
    copy_field(who->session_id, sizeof who->session_id, db_text(res, 0, 3));
    copy_field(who->session_expires, sizeof who->session_expires,
               db_text(res, 0, 4));
}

#if MESHD_BUG_IS(stale_session_cache)
/* A per-pod cache of the sessions looked up lately, so that a busy client
 * costs Postgres one lookup every SESSION_CACHE_MS instead of one per
 * request. Signing out forgets the session here. */
enum { SESSION_CACHE_SLOTS = 256, SESSION_CACHE_MS = 3000 };

struct cached_session {
    char token[80];
    struct principal who;
    int64_t until_ms;
};

static struct {
    pthread_mutex_t lock;
    struct cached_session slots[SESSION_CACHE_SLOTS];
} session_cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The one slot token may live in (FNV-1a); session_cache.lock held. */
static struct cached_session *cache_slot(const char *token)
{
    uint32_t h = 2166136261u;
    for (const char *p = token; *p; p++)
        h = (h ^ (unsigned char)*p) * 16777619u;
    return &session_cache.slots[h % SESSION_CACHE_SLOTS];
}

/* Copies the cached session of token into who; false when none is fresh. */
static bool cache_get(const char *token, struct principal *who)
{
    pthread_mutex_lock(&session_cache.lock);
    const struct cached_session *c = cache_slot(token);
    bool hit = c->until_ms > now_ms() && strcmp(c->token, token) == 0;
    if (hit)
        *who = c->who;
    pthread_mutex_unlock(&session_cache.lock);
    return hit;
}

static void cache_put(const char *token, const struct principal *who)
{
    if (!who->session_id[0] || strlen(token) >= sizeof session_cache.slots[0].token)
        return;
    pthread_mutex_lock(&session_cache.lock);
    struct cached_session *c = cache_slot(token);
    snprintf(c->token, sizeof c->token, "%s", token);
    c->who = *who;
    c->until_ms = now_ms() + SESSION_CACHE_MS;
    pthread_mutex_unlock(&session_cache.lock);
}

static void cache_forget(const char *token)
{
    pthread_mutex_lock(&session_cache.lock);
    struct cached_session *c = cache_slot(token);
    if (strcmp(c->token, token) == 0)
        c->until_ms = 0;
    pthread_mutex_unlock(&session_cache.lock);
}
#endif

/* Looks the token up as a live session, or as an API key when bearer. */
static enum db_status lookup(struct request *r, const char *token, bool bearer,
                             bool *found)
{
#if MESHD_BUG_IS(stale_session_cache)
    if (cache_get(token, &r->who)) {
        *found = true;
        return DB_OK;
    }
#endif
    const char *params[] = {token, bearer ? "true" : "false"};
    PGresult *res;
    enum db_status st = db_query(
        &res,
        "WITH h AS (SELECT sha256(convert_to($1, 'UTF8')) AS v)"
        " SELECT u.id, u.email, u.name, s.id, to_json(s.expires_at) #>> '{}'"
        "   FROM h, sessions s JOIN users u ON u.id = s.user_id"
        "  WHERE s.token_hash = h.v AND s.expires_at > now()"
        " UNION ALL"
        " SELECT u.id, u.email, u.name, NULL, NULL"
        "   FROM h, api_keys k JOIN users u ON u.id = k.user_id"
        "  WHERE k.key_hash = h.v AND $2::boolean"
        " LIMIT 1",
        2, params);
    *found = st == DB_OK && PQntuples(res) == 1;
    if (*found)
        fill_principal(&r->who, res);
#if MESHD_BUG_IS(stale_session_cache)
    if (*found)
        cache_put(token, &r->who);
#endif
    if (st == DB_OK)
        PQclear(res);
    return st;
}

bool auth_require_user(struct request *r)
{
    const char *token;
    enum credential via = credential(r, &token);
    if (via == CRED_NONE) {
        reply_error(r, 401, "unauthorized");
        return false;
    }
    if (via == CRED_COOKIE && is_write(r->method) && !origin_allowed(r)) {
        reply_error(r, 403, "origin not allowed");
        return false;
    }
    bool found;
    enum db_status st = lookup(r, token, via == CRED_BEARER, &found);
    if (st != DB_OK)
        reply_db_error(r, st);
    else if (!found)
        reply_error(r, 401, "unauthorized");
    r->who.via = via;
    return st == DB_OK && found;
}

/* Hashes password with a fresh yescrypt setting into out. */
static int hash_password(const char *password, char out[CRYPT_OUTPUT_SIZE])
{
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (!crypt_gensalt_rn("$y$", 0, NULL, 0, setting, sizeof setting))
        return -1;
    struct crypt_data *data = calloc(1, sizeof *data);
    const char *hash = data ? crypt_rn(password, setting, data, sizeof *data) : NULL;
    int rc = hash && hash[0] != '*' ? 0 : -1;
    if (rc == 0)
        snprintf(out, CRYPT_OUTPUT_SIZE, "%s", hash);
    free(data);
    return rc;
}

static bool password_matches(const char *password, const char *stored)
{
    struct crypt_data *data = calloc(1, sizeof *data);
    const char *hash = data ? crypt_rn(password, stored, data, sizeof *data) : NULL;
    bool same = hash && hash[0] != '*' && strlen(hash) == strlen(stored);
    unsigned char diff = 0;
    for (size_t i = 0; same && stored[i]; i++)
        diff |= (unsigned char)(hash[i] ^ stored[i]);
    free(data);
    return same && diff == 0;
}

static cJSON *user_json(const struct principal *who)
{
    cJSON *user = cJSON_CreateObject();
    cJSON_AddStringToObject(user, "id", who->user_id);
    cJSON_AddStringToObject(user, "email", who->email);
    cJSON_AddStringToObject(user, "name", who->name);
    return user;
}

/* {"user": {...}, "session": {"id", "expires_at"} or null}. */
static cJSON *session_json(const struct principal *who)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddItemToObject(body, "user", user_json(who));
    if (!who->session_id[0]) {
        cJSON_AddNullToObject(body, "session");
        return body;
    }
    cJSON *session = cJSON_AddObjectToObject(body, "session");
    cJSON_AddStringToObject(session, "id", who->session_id);
    cJSON_AddStringToObject(session, "expires_at", who->session_expires);
    return body;
}

static void set_cookie(struct request *r, const char *token, int max_age)
{
    char cookie[256];
    snprintf(cookie, sizeof cookie,
             COOKIE_NAME "=%s; Path=/; HttpOnly; SameSite=Lax; Max-Age=%d%s",
             token, max_age, cfg.secure_cookies ? "; Secure" : "");
    reply_header(r, "Set-Cookie", cookie);
}

/* Replies 200 with the new session (and its token) and sets the cookie. */
static void reply_new_session(struct request *r, const char *token)
{
    cJSON *body = session_json(&r->who);
    cJSON_AddStringToObject(body, "token", token);
    reply_json(r, 200, body);
    set_cookie(r, token, SESSION_DAYS * 86400);
}

static void lowercase(char *dst, size_t size, const char *src)
{
    size_t i = 0;
    for (; src[i] && i + 1 < size; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

/* Checks the sign-up fields; replies 400 and returns false when bad. */
static bool valid_sign_up(struct request *r, const char *email,
                          const char *password, const char *name)
{
    const char *problem = NULL;
    if (!email || !password || !name)
        problem = "email, password and name are required strings";
    else if (strlen(email) > MAX_EMAIL || !strchr(email, '@'))
        problem = "email is not valid";
    else if (strlen(password) < MIN_PASSWORD || strlen(password) > MAX_PASSWORD)
        problem = "password must have 8 to 256 bytes";
    else if (!name[0] || strlen(name) > MAX_NAME)
        problem = "name must have 1 to 200 bytes";
    if (problem)
        reply_error(r, 400, problem);
    return problem == NULL;
}

static void sign_up(struct request *r, const char *email, const char *password,
                    const char *name)
{
    char email_lc[MAX_EMAIL + 1], hash[CRYPT_OUTPUT_SIZE], token[65];
    lowercase(email_lc, sizeof email_lc, email);
    if (hash_password(password, hash) < 0 || random_hex(token, 32) < 0) {
        reply_error(r, 500, "could not hash the password");
        return;
    }
    const char *params[] = {email_lc, name, hash, token, cfg.pod_name};
    PGresult *res;
    enum db_status st = db_query(
        &res,
        "WITH u AS (INSERT INTO users (email, name, password_hash)"
        "   VALUES ($1, $2, $3) RETURNING id, email, name),"
        " s AS (INSERT INTO sessions (user_id, token_hash, created_by_pod, expires_at)"
        "   SELECT id, sha256(convert_to($4, 'UTF8')), $5, now() + interval '7 days'"
        "   FROM u RETURNING id, expires_at)"
        " SELECT u.id, u.email, u.name, s.id, to_json(s.expires_at) #>> '{}'"
        " FROM u, s",
        5, params);
    if (st == DB_CONFLICT) {
        reply_error(r, 409, "email already registered");
        return;
    }
    if (st != DB_OK) {
        reply_db_error(r, st);
        return;
    }
    fill_principal(&r->who, res);
    PQclear(res);
    reply_new_session(r, token);
}

void handle_sign_up(struct request *r)
{
    cJSON *body = request_json(r, false);
    if (!body)
        return;
    const char *email = json_string(body, "email");
    const char *password = json_string(body, "password");
    const char *name = json_string(body, "name");
    if (valid_sign_up(r, email, password, name))
        sign_up(r, email, password, name);
    cJSON_Delete(body);
}

/* Finds the user's id when the password matches; false after replying. */
static bool check_password(struct request *r, const char *email,
                           const char *password, char user_id[40])
{
    char email_lc[MAX_EMAIL + 1];
    lowercase(email_lc, sizeof email_lc, email);
    const char *params[] = {email_lc};
    PGresult *res;
    enum db_status st = db_query(
        &res, "SELECT id, password_hash FROM users WHERE email = $1", 1, params);
    if (st != DB_OK) {
        reply_db_error(r, st);
        return false;
    }
    bool ok = PQntuples(res) == 1 &&
              password_matches(password, PQgetvalue(res, 0, 1));
    if (ok)
        copy_field(user_id, 40, PQgetvalue(res, 0, 0));
    else
        reply_error(r, 401, "invalid email or password");
    PQclear(res);
    return ok;
}

static void start_session(struct request *r, const char *user_id)
{
    char token[65];
    if (random_hex(token, 32) < 0) {
        reply_error(r, 500, "no randomness");
        return;
    }
    const char *params[] = {user_id, token, cfg.pod_name};
    PGresult *res;
    enum db_status st = db_query(
        &res,
        "WITH s AS (INSERT INTO sessions (user_id, token_hash, created_by_pod, expires_at)"
        "   VALUES ($1, sha256(convert_to($2, 'UTF8')), $3, now() + interval '7 days')"
        "   RETURNING id, user_id, expires_at)"
        " SELECT u.id, u.email, u.name, s.id, to_json(s.expires_at) #>> '{}'"
        " FROM s JOIN users u ON u.id = s.user_id",
        3, params);
    if (st != DB_OK) {
        reply_db_error(r, st);
        return;
    }
    fill_principal(&r->who, res);
    PQclear(res);
    reply_new_session(r, token);
}

void handle_sign_in(struct request *r)
{
    cJSON *body = request_json(r, false);
    if (!body)
        return;
    const char *email = json_string(body, "email");
    const char *password = json_string(body, "password");
    char user_id[40];
    if (!email || !password)
        reply_error(r, 400, "email and password are required strings");
    else if (check_password(r, email, password, user_id))
        start_session(r, user_id);
    cJSON_Delete(body);
}

void handle_get_session(struct request *r)
{
    reply_json(r, 200, session_json(&r->who));
}

/* Deletes the session the request carries, if any, and always clears the
 * cookie. A cookie sign-out is a cookie write, so it needs the Origin. */
void handle_sign_out(struct request *r)
{
    const char *token;
    enum credential via = credential(r, &token);
    if (via == CRED_COOKIE && !origin_allowed(r)) {
        reply_error(r, 403, "origin not allowed");
        return;
    }
    if (via != CRED_NONE) {
        const char *params[] = {token};
        PGresult *res;
        enum db_status st = db_query(
            &res, "DELETE FROM sessions WHERE token_hash = sha256(convert_to($1, 'UTF8'))",
            1, params);
        if (st != DB_OK) {
            reply_db_error(r, st);
            return;
        }
        PQclear(res);
#if MESHD_BUG_IS(stale_session_cache)
        cache_forget(token);
#endif
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddTrueToObject(body, "success");
    reply_json(r, 200, body);
    set_cookie(r, "", 0);
}
