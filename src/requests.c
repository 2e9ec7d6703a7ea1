/*
 * requests.c: the module mpod.requests.core, the HTTP requests of a
 * scenario file's history (lua/mpod/scenario/history.lua) kept in C.
 *
 * Every request a scenario makes is recorded twice, its invoke and its
 * completion, on the engine's hottest path. Kept in Lua, a table per
 * request (or one flat array for all) grew the heap the collector walks
 * and made every other allocation of the file slower (several
 * microseconds a request on the HTTP bench). Here a request is a row of a
 * fixed ring of `capacity` rows, outside the Lua heap: numbers inline,
 * texts in two arenas allocated once: a BASE_SLOT-byte slot per row (the
 * path, an error; the pod and the test are numbers the caller names) and a DETAIL_SLOT-byte slot per request keeping
 * detail. Longer texts get a buffer of their own, kept and reused. So the
 * ring allocates nothing per request, and its memory is not strewn among
 * the allocations of the rest of the file (measured: a malloc'd buffer per
 * row made every malloc of the process slower). A new request past the capacity takes the oldest row (that
 * request is dropped, counted); a completion whose row was taken is
 * ignored (counted). The detail of a completion (the response's head,
 * the request's header lines, the first bytes of the body) is kept for
 * the newest `detail` completed requests only: a second ring of their
 * sequence numbers says whose goes next.
 *
 * Postgres queries (pg.query) take rows of the same ring: as frequent, and
 * as costly to keep as Lua tables; a row's kind says which it is.
 *
 * Requests are named by their sequence number (seq), 0, 1, 2, ...; a row
 * becomes a Lua table only when read (ring:op).
 */
#include "mpod.h"
#include "buf.h"
#include "text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RING_MT "mpod.requests.Ring"
#define METHOD_MAX 16

enum { T_OPEN, T_OK, T_FAIL, T_INFO };
enum { D_NONE, D_KEPT, D_DROPPED };
enum { K_HTTP, K_PG };                  /* a row's kind: a request, a query */
#define SQL_MAX 256                     /* bytes of a query's SQL kept */
static const char *const type_names[] = { "invoke", "ok", "fail", "info" };

#define BASE_SLOT 128
#define DETAIL_SLOT 1024

/* A text area: a slot of an arena, or a buffer of its own once a text
 * outgrew the slot (then kept for the slot's next user). */
typedef struct {
    char *own;
    size_t own_cap;
} spill;

typedef struct {
    int64_t index, done_index;          /* done_index < 0: still open */
    double time, done_time, duration;
    lua_Integer process, status, bytes;
    uint8_t kind, type, detail, has_duration, base_spilled;
    int32_t pod, test;                  /* the caller's numbers for them, 0: none */
    char method[METHOD_MAX];
    /* base texts: path, then an error's kind and message */
    uint32_t path_len, kind_len, msg_len;
    /* detail texts (in detail slot `slot`): head, lines, body excerpt */
    uint32_t head_len, lines_len, body_len;
    int64_t slot;
} row;

typedef struct {
    row *rows;
    spill *base_spills, *detail_spills;
    char *base_arena, *detail_arena;
    int64_t capacity, first, next;      /* seqs first .. next-1 are held */
    int64_t detail;                     /* completions that keep detail */
    int64_t *kept;                      /* ring of detail + 1 seqs */
    int64_t kept_first, kept_next;
    double t0;
    lua_Integer dropped_ops, dropped_detail;
} ring;

/* The ring at argument 1. The methods hold the metatable as their upvalue:
 * comparing with it is cheaper than luaL_checkudata's lookup by name,
 * and these calls are on every request's path. */
static ring *check_ring(lua_State *L)
{
    ring *r = lua_touserdata(L, 1);
    if (!r || !lua_getmetatable(L, 1) || !lua_rawequal(L, -1, lua_upvalueindex(1)))
        luaL_typeerror(L, 1, RING_MT);
    lua_pop(L, 1);
    if (!r->rows)
        mp_raise(L, "usage", "this request ring is not usable (out of memory)");
    return r;
}

static row *row_of(ring *r, int64_t seq)
{
    return &r->rows[seq % r->capacity];
}

static bool held(ring *r, int64_t seq)
{
    return seq >= r->first && seq < r->next;
}

/* area(arena slot, its size, spill, need) -> room for `need` bytes: the
 * slot, or the spill buffer grown to fit; NULL when out of memory */
static char *area(char *slot, size_t size, spill *sp, size_t need)
{
    if (need <= size)
        return slot;
    if (need > sp->own_cap) {
        size_t cap = sp->own_cap ? sp->own_cap : size;
        while (cap < need)
            cap *= 2;
        char *own = realloc(sp->own, cap);
        if (!own)
            return NULL;
        sp->own = own;
        sp->own_cap = cap;
    }
    return sp->own;
}

static char *base_text(ring *r, int64_t seq)
{
    int64_t i = seq % r->capacity;
    return r->rows[i].base_spilled ? r->base_spills[i].own : r->base_arena + i * BASE_SLOT;
}

static char *detail_text(ring *r, const row *w)
{
    size_t need = w->head_len + w->lines_len + w->body_len;
    return need <= DETAIL_SLOT ? r->detail_arena + w->slot * DETAIL_SLOT
                               : r->detail_spills[w->slot].own;
}

static size_t base_len(const row *w)
{
    return w->path_len;
}

/* Append s to the text at `at`; returns the new end. */
static size_t put(char *text, size_t at, const char *s, size_t n)
{
    if (n)
        memcpy(text + at, s, n);
    return at + n;
}

static void strip(ring *r, int64_t seq)
{
    if (!held(r, seq))
        return;
    row *w = row_of(r, seq);
    if (w->detail == D_KEPT) {
        w->detail = D_DROPPED;
        w->head_len = w->lines_len = w->body_len = 0;
        r->dropped_detail++;
    }
}

/* Remember that seq keeps detail; the oldest beyond `detail` loses it.
 * Returns the detail slot of seq: its place in the ring of kept seqs. */
static int64_t keep_detail(ring *r, int64_t seq)
{
    int64_t size = r->detail + 1;
    int64_t slot = r->kept_next % size;
    r->kept[slot] = seq;
    r->kept_next++;
    if (r->kept_next - r->kept_first > r->detail) {
        strip(r, r->kept[r->kept_first % size]);
        r->kept_first++;
    }
    return slot;
}

static void init_ring(lua_State *L, ring *r, int64_t capacity, int64_t detail, double t0)
{
    memset(r, 0, sizeof *r);
    r->capacity = capacity;
    r->detail = detail;
    r->t0 = t0;
    r->rows = calloc((size_t)capacity, sizeof *r->rows);
    r->base_spills = calloc((size_t)capacity, sizeof *r->base_spills);
    r->base_arena = malloc((size_t)capacity * BASE_SLOT);
    r->kept = calloc((size_t)detail + 1, sizeof *r->kept);
    r->detail_spills = calloc((size_t)detail + 1, sizeof *r->detail_spills);
    r->detail_arena = malloc(((size_t)detail + 1) * DETAIL_SLOT);
    luaL_setmetatable(L, RING_MT);      /* __gc frees what was allocated */
    if (!r->rows || !r->base_spills || !r->base_arena || !r->kept || !r->detail_spills
        || !r->detail_arena)
        mp_raise(L, "memory", "no memory for a ring of %lld requests", (long long)capacity);
}

/* Only the slots a seq ever used can hold a spill buffer: seqs count from
 * 0, so those below next (or all of them once it wrapped). Walking all
 * `capacity` slots of a history that made no request touched a quarter
 * MiB of pages in every scenario process. */
static void free_ring(ring *r)
{
    int64_t base_used = r->next < r->capacity ? r->next : r->capacity;
    int64_t detail_used = r->kept_next < r->detail + 1 ? r->kept_next : r->detail + 1;
    if (r->base_spills)
        for (int64_t i = 0; i < base_used; i++)
            free(r->base_spills[i].own);
    if (r->detail_spills)
        for (int64_t i = 0; i < detail_used; i++)
            free(r->detail_spills[i].own);
    free(r->rows);
    free(r->base_spills);
    free(r->base_arena);
    free(r->kept);
    free(r->detail_spills);
    free(r->detail_arena);
    memset(r, 0, sizeof *r);
}

/* core.new(capacity, detail, t0) -> ring */
static int l_new(lua_State *L)
{
    lua_Integer capacity = luaL_checkinteger(L, 1);
    lua_Integer detail = luaL_checkinteger(L, 2);
    double t0 = luaL_checknumber(L, 3);
    luaL_argcheck(L, capacity >= 1 && capacity <= (1 << 26), 1, "between 1 and 2^26");
    luaL_argcheck(L, detail >= 0 && detail <= (1 << 26), 2, "between 0 and 2^26");
    ring *r = lua_newuserdatauv(L, sizeof *r, 0);
    init_ring(L, r, capacity, detail, t0);
    return 1;
}

static int l_gc(lua_State *L)
{
    free_ring(luaL_checkudata(L, 1, RING_MT));
    return 0;
}

/* Drop the oldest request: its row is about to be taken. */
static void drop_oldest(ring *r)
{
    row *w = row_of(r, r->first);
    r->dropped_ops += w->done_index >= 0 ? 2 : 1;
    r->first++;
}

/* Texts longer than this are cut (a path, an error message). */
#define TEXT_MAX (1u << 20)

/* ring:invoke(index, process, method, path, pod, test) -> seq; pod and
 * test: the caller's numbers for their names (0: none) */
static int l_invoke(lua_State *L)
{
    ring *r = check_ring(L);
    lua_Integer index = luaL_checkinteger(L, 2);
    lua_Integer process = luaL_checkinteger(L, 3);
    size_t mlen, plen;
    const char *method = luaL_checklstring(L, 4, &mlen);
    const char *path = luaL_checklstring(L, 5, &plen);
    lua_Integer pod = luaL_checkinteger(L, 6);
    lua_Integer test = luaL_checkinteger(L, 7);
    if (plen > TEXT_MAX)
        plen = TEXT_MAX;
    int64_t seq = r->next;
    if (seq - r->first >= r->capacity)
        drop_oldest(r);
    int64_t i = seq % r->capacity;
    row *w = &r->rows[i];
    char *text = area(r->base_arena + i * BASE_SLOT, BASE_SLOT, &r->base_spills[i], plen);
    if (!text)
        mp_raise(L, "memory", "no memory to record a request");
    r->next = seq + 1;
    w->kind = K_HTTP;
    w->base_spilled = plen > BASE_SLOT;
    w->index = index;
    w->done_index = -1;
    w->time = mp_now() - r->t0;
    w->process = process;
    w->type = T_OPEN;
    w->detail = D_NONE;
    w->has_duration = 0;
    if (mlen >= METHOD_MAX)
        mlen = METHOD_MAX - 1;
    memcpy(w->method, method, mlen);
    w->method[mlen] = '\0';
    w->pod = (int32_t)pod;
    w->test = (int32_t)test;
    w->path_len = (uint32_t)plen;
    w->kind_len = w->msg_len = w->head_len = w->lines_len = w->body_len = 0;
    put(text, 0, path, plen);
    lua_pushinteger(L, seq);
    return 1;
}

/* ring:invoke_query(index, process, sql, test) -> seq: a Postgres query
 * (its first SQL_MAX bytes of SQL, not cut inside a character) */
static int l_invoke_query(lua_State *L)
{
    ring *r = check_ring(L);
    lua_Integer index = luaL_checkinteger(L, 2);
    lua_Integer process = luaL_checkinteger(L, 3);
    size_t len;
    const char *sql = luaL_checklstring(L, 4, &len);
    lua_Integer test = luaL_checkinteger(L, 5);
    len = mp_utf8_prefix(sql, len, SQL_MAX);
    int64_t seq = r->next;
    if (seq - r->first >= r->capacity)
        drop_oldest(r);
    int64_t i = seq % r->capacity;
    row *w = &r->rows[i];
    char *text = area(r->base_arena + i * BASE_SLOT, BASE_SLOT, &r->base_spills[i], len);
    if (!text)
        mp_raise(L, "memory", "no memory to record a query");
    r->next = seq + 1;
    memset(w, 0, sizeof *w);
    w->kind = K_PG;
    w->base_spilled = len > BASE_SLOT;
    w->index = index;
    w->done_index = -1;
    w->time = mp_now() - r->t0;
    w->process = process;
    w->test = (int32_t)test;
    w->path_len = (uint32_t)len;
    put(text, 0, sql, len);
    lua_pushinteger(L, seq);
    return 1;
}

/* The seq of a completion that is not held any more: counted, false. */
static int gone(lua_State *L, ring *r)
{
    r->dropped_ops++;
    lua_pushboolean(L, 0);
    return 1;
}

/* Total length of the strings of the table at idx, one '\n' after each. */
static size_t lines_length(lua_State *L, int idx, lua_Integer *count)
{
    size_t total = 0;
    *count = (lua_Integer)lua_rawlen(L, idx);
    for (lua_Integer i = 1; i <= *count; i++) {
        size_t n = 0;
        if (lua_rawgeti(L, idx, i) == LUA_TSTRING)
            lua_tolstring(L, -1, &n);
        total += n + 1;
        lua_pop(L, 1);
    }
    return total;
}

static size_t put_lines(lua_State *L, char *text, size_t at, int idx, lua_Integer count)
{
    for (lua_Integer i = 1; i <= count; i++) {
        size_t n = 0;
        const char *s = NULL;
        if (lua_rawgeti(L, idx, i) == LUA_TSTRING)
            s = lua_tolstring(L, -1, &n);
        at = put(text, at, s, n);
        text[at++] = '\n';
        lua_pop(L, 1);
    }
    return at;
}

/* ring:done(seq, index, response, lines, excerpt) -> true | false (the
 * request was dropped meanwhile). response: {status=, time=, head=,
 * body=}; lines: the request's header lines; excerpt: bytes of the body
 * kept as detail. */
static int l_done(lua_State *L)
{
    ring *r = check_ring(L);
    int64_t seq = luaL_checkinteger(L, 2);
    lua_Integer index = luaL_checkinteger(L, 3);
    luaL_checktype(L, 4, LUA_TTABLE);
    if (!held(r, seq))
        return gone(L, r);
    row *w = row_of(r, seq);
    w->done_index = index;
    w->done_time = mp_now() - r->t0;
    w->type = T_OK;
    lua_getfield(L, 4, "status");
    w->status = lua_tointeger(L, -1);
    lua_getfield(L, 4, "time");
    w->duration = lua_tonumber(L, -1);
    w->has_duration = 1;
    lua_getfield(L, 4, "body");
    size_t body_len = 0;
    lua_tolstring(L, -1, &body_len);
    w->bytes = (lua_Integer)body_len;
    lua_pop(L, 3);
    if (r->detail == 0) {
        w->detail = D_DROPPED;
        r->dropped_detail++;
        lua_pushboolean(L, 1);
        return 1;
    }
    size_t head_len = 0, excerpt_len = 0;
    lua_getfield(L, 4, "head");
    const char *head = lua_tolstring(L, -1, &head_len);
    if (head_len > TEXT_MAX)
        head_len = TEXT_MAX;
    const char *excerpt = luaL_checklstring(L, 6, &excerpt_len);
    lua_Integer count = 0;
    size_t lines_len = lua_istable(L, 5) ? lines_length(L, 5, &count) : 0;
    int64_t slot = keep_detail(r, seq);
    size_t need = head_len + lines_len + excerpt_len;
    char *text = area(r->detail_arena + slot * DETAIL_SLOT, DETAIL_SLOT, &r->detail_spills[slot], need);
    if (!text) {
        w->detail = D_DROPPED;
        r->dropped_detail++;
        lua_pop(L, 1);
        lua_pushboolean(L, 1);
        return 1;
    }
    size_t at = put(text, 0, head, head_len);
    if (count)
        at = put_lines(L, text, at, 5, count);
    put(text, at, excerpt, excerpt_len);
    w->slot = slot;
    w->head_len = (uint32_t)head_len;
    w->lines_len = (uint32_t)lines_len;
    w->body_len = (uint32_t)excerpt_len;
    w->detail = D_KEPT;
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
    return 1;
}

/* ring:done_query(seq, index, rows|nil, count|nil) -> true | false (the
 * query was dropped meanwhile) */
static int l_done_query(lua_State *L)
{
    ring *r = check_ring(L);
    int64_t seq = luaL_checkinteger(L, 2);
    lua_Integer index = luaL_checkinteger(L, 3);
    if (!held(r, seq))
        return gone(L, r);
    row *w = row_of(r, seq);
    w->done_index = index;
    w->done_time = mp_now() - r->t0;
    w->duration = w->done_time - w->time;
    w->has_duration = 1;
    w->type = T_OK;
    w->status = lua_isinteger(L, 4) ? lua_tointeger(L, 4) : -1;
    w->bytes = lua_isinteger(L, 5) ? lua_tointeger(L, 5) : -1;
    lua_pushboolean(L, 1);
    return 1;
}

/* ring:failed(seq, index, type, kind, message) -> true | false: the
 * request ended without an answer ("fail" or "info") */
static int l_failed(lua_State *L)
{
    ring *r = check_ring(L);
    int64_t seq = luaL_checkinteger(L, 2);
    lua_Integer index = luaL_checkinteger(L, 3);
    const char *type = luaL_checkstring(L, 4);
    size_t klen, mlen;
    const char *kind = luaL_checklstring(L, 5, &klen);
    const char *message = luaL_checklstring(L, 6, &mlen);
    if (!held(r, seq))
        return gone(L, r);
    if (klen > METHOD_MAX * 4)
        klen = METHOD_MAX * 4;
    if (mlen > TEXT_MAX)
        mlen = TEXT_MAX;
    int64_t i = seq % r->capacity;
    row *w = &r->rows[i];
    size_t at = base_len(w);
    char *old = base_text(r, seq);
    char *text = area(r->base_arena + i * BASE_SLOT, BASE_SLOT, &r->base_spills[i], at + klen + mlen);
    if (!text)
        mp_raise(L, "memory", "no memory to record a request");
    if (text != old)
        memcpy(text, old, at);          /* moved from the slot to its own buffer */
    w->base_spilled = text != r->base_arena + i * BASE_SLOT;
    w->done_index = index;
    w->done_time = mp_now() - r->t0;
    w->duration = w->done_time - w->time;
    w->has_duration = 1;
    w->type = strcmp(type, "fail") == 0 ? T_FAIL : T_INFO;
    at = put(text, at, kind, klen);
    put(text, at, message, mlen);
    w->kind_len = (uint32_t)klen;
    w->msg_len = (uint32_t)mlen;
    lua_pushboolean(L, 1);
    return 1;
}

/* ring:range() -> the first seq held, the next seq to come */
static int l_range(lua_State *L)
{
    ring *r = check_ring(L);
    lua_pushinteger(L, r->first);
    lua_pushinteger(L, r->next);
    return 2;
}

/* The row of the request whose seq is argument 2, for the half in
 * argument 3 (1 the invoke, 2 the completion); NULL when the request is
 * not held, or its completion is asked for while it is open. */
static row *arg_row(lua_State *L, ring *r, int64_t *seq, lua_Integer *half)
{
    *seq = luaL_checkinteger(L, 2);
    *half = luaL_checkinteger(L, 3);
    if (!held(r, *seq))
        return NULL;
    row *w = row_of(r, *seq);
    if (*half != 1 && w->done_index < 0)
        return NULL;
    return w;
}

/* ring:index_of(seq, half) -> the index of the request's invoke (half 1)
 * or completion (half 2), or nil (not held, still open) */
static int l_index_of(lua_State *L)
{
    ring *r = check_ring(L);
    int64_t seq;
    lua_Integer half;
    row *w = arg_row(L, r, &seq, &half);
    if (!w)
        return 0;
    lua_pushinteger(L, half == 1 ? w->index : w->done_index);
    return 1;
}

/* ring:oldest() -> the seq the next invoke drops, or nil while there is
 * room; ring:detail_victim() -> the seq whose detail the next completion
 * with detail drops, or nil */
static int l_oldest(lua_State *L)
{
    ring *r = check_ring(L);
    if (r->next - r->first < r->capacity)
        return 0;
    lua_pushinteger(L, r->first);
    return 1;
}

static int l_detail_victim(lua_State *L)
{
    ring *r = check_ring(L);
    if (r->detail == 0 || r->kept_next - r->kept_first < r->detail)
        return 0;
    lua_pushinteger(L, r->kept[r->kept_first % (r->detail + 1)]);
    return 1;
}

static void set_string(lua_State *L, const char *name, const char *s, size_t n)
{
    lua_pushlstring(L, s, n);
    lua_setfield(L, -2, name);
}

static void set_integer(lua_State *L, const char *name, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, name);
}

static void set_number(lua_State *L, const char *name, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, name);
}

/* The header lines "a\nb\n" as a list {"a", "b"}. */
static void push_lines(lua_State *L, const char *s, size_t n)
{
    lua_newtable(L);
    lua_Integer i = 0;
    const char *end = s + n;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        if (!nl)
            nl = end;
        lua_pushlstring(L, s, (size_t)(nl - s));
        lua_rawseti(L, -2, ++i);
        s = nl + 1;
    }
}

/* ring:op(seq, half) -> the op table of the request's invoke (half 1) or
 * completion (half 2), as the engine records it (not redacted; detail as
 * _detail, _head, _lines, _body), or nil when not held or still open */
static int l_op(lua_State *L)
{
    ring *r = check_ring(L);
    int64_t seq;
    lua_Integer half;
    row *w = arg_row(L, r, &seq, &half);
    if (!w)
        return 0;
    const char *text = base_text(r, seq);
    lua_createtable(L, 0, 14);
    if (w->kind == K_PG) {
        set_string(L, "f", "pg.query", 8);
        set_string(L, "value", text, w->path_len);
    } else {
        set_string(L, "f", "http", 4);
    }
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "engine");
    set_integer(L, "process", w->process);
    if (w->pod)
        set_integer(L, "_pod", w->pod);
    if (w->test)
        set_integer(L, "_test", w->test);
    if (half == 1) {
        set_integer(L, "index", w->index);
        set_number(L, "time", w->time);
        set_string(L, "type", "invoke", 6);
        if (w->kind == K_HTTP) {
            set_string(L, "method", w->method, strlen(w->method));
            set_string(L, "path", text, w->path_len);
        }
        return 1;
    }
    set_integer(L, "index", w->done_index);
    set_number(L, "time", w->done_time);
    set_integer(L, "invoke", w->index);
    lua_pushstring(L, type_names[w->type]);
    lua_setfield(L, -2, "type");
    if (w->has_duration)
        set_number(L, "duration", w->duration);
    if (w->type != T_OK) {
        const char *extra = text + base_len(w);
        lua_createtable(L, 0, 2);
        set_string(L, "kind", extra, w->kind_len);
        set_string(L, "message", extra + w->kind_len, w->msg_len);
        lua_setfield(L, -2, "error");
        return 1;
    }
    if (w->kind == K_PG) {
        if (w->status >= 0)
            set_integer(L, "rows", w->status);
        if (w->bytes >= 0)
            set_integer(L, "count", w->bytes);
        return 1;
    }
    set_integer(L, "status", w->status);
    set_integer(L, "bytes", w->bytes);
    if (w->detail == D_KEPT) {
        const char *d = detail_text(r, w);
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "_detail");
        set_string(L, "_head", d, w->head_len);
        push_lines(L, d + w->head_len, w->lines_len);
        lua_setfield(L, -2, "_lines");
        set_string(L, "_body", d + w->head_len + w->lines_len, w->body_len);
    } else if (w->detail == D_DROPPED) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "detail_dropped");
    }
    return 1;
}

/* ---- JSON lines for the history file ------------------------------------
 *
 * The history file gets one JSON object a line per op. Built here for
 * requests, from the row, since they are most of a file's ops and going
 * through Lua tables, header parsing and mpod.json cost some 20 us a
 * request; the caller redacts the line as a whole. The fields and their
 * meaning are those ring:op gives, parsed as history.lua's reading does. */

#define MAX_HEADERS 128

/* Move *v past leading and *ve before trailing blanks (and a CR). */
static void trim(const char **v, const char **ve)
{
    while (*v < *ve && (**v == ' ' || **v == '\t'))
        (*v)++;
    while (*ve > *v && ((*ve)[-1] == ' ' || (*ve)[-1] == '\t' || (*ve)[-1] == '\r'))
        (*ve)--;
}

/* Append s as a JSON string: quotes and backslashes escaped, control
 * characters as \u00XX (\n, \r, \t by name), invalid UTF-8 as U+FFFD. */
static void json_string(mp_sbuf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    mp_sbuf_add(b, "\"", 1);
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        if (c == '"' || c == '\\') {
            char esc[2] = { '\\', (char)c };
            mp_sbuf_add(b, esc, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            if (c == '\n') mp_sbuf_add(b, "\\n", 2);
            else if (c == '\r') mp_sbuf_add(b, "\\r", 2);
            else if (c == '\t') mp_sbuf_add(b, "\\t", 2);
            else mp_sbuf_add(b, esc, 6);
            i++;
        } else if (c < 0x80) {
            size_t j = i;
            while (j < len && p[j] >= 0x20 && p[j] < 0x7f && p[j] != '"' && p[j] != '\\')
                j++;
            mp_sbuf_add(b, s + i, j - i);
            i = j;
        } else {
            size_t n = mp_utf8_seq_len(p + i, len - i);
            if (n == 0) {
                mp_sbuf_add(b, "\xef\xbf\xbd", 3);
                i++;
            } else {
                mp_sbuf_add(b, s + i, n);
                i += n;
            }
        }
    }
    mp_sbuf_add(b, "\"", 1);
}

static void json_key(mp_sbuf *b, bool *first, const char *key)
{
    if (!*first)
        mp_sbuf_add(b, ",", 1);
    *first = false;
    mp_sbuf_add(b, "\"", 1);
    mp_sbuf_adds(b, key);
    mp_sbuf_add(b, "\":", 2);
}

/* A time in seconds, to the microsecond, as the Lua side rounds it. */
static void json_seconds(mp_sbuf *b, double t)
{
    char num[64];
    snprintf(num, sizeof num, "%.6f", t);
    size_t n = strlen(num);
    while (n > 0 && num[n - 1] == '0' && n >= 2 && num[n - 2] != '.')
        n--;
    mp_sbuf_add(b, num, n);
}

static void json_integer(mp_sbuf *b, long long v)
{
    mp_sbuf_addf(b, "%lld", v);
}

/* The body excerpt as the history shows it: the text, or "<N bytes of
 * binary data>" for control bytes or bytes that are not UTF-8 (a
 * character the cut split at the end does not count). */
static void json_excerpt(mp_sbuf *b, const char *s, size_t len, long long total)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, keep = len;
    bool binary = false;
    while (i < len) {
        unsigned char c = p[i];
        if (c < 0x80) {
            if (c <= 8 || (c >= 14 && c <= 31) || c == 127) { binary = true; break; }
            i++;
            continue;
        }
        size_t n = mp_utf8_seq_len(p + i, len - i);
        if (n == 0) {
            if (len - i < 4 && total > (long long)len) { keep = i; break; }  /* cut at the end */
            binary = true;
            break;
        }
        i += n;
    }
    if (binary) {
        char text[64];
        snprintf(text, sizeof text, "<%lld bytes of binary data>", total);
        json_string(b, text, strlen(text));
    } else {
        json_string(b, s, keep);
    }
}

/* The request's header lines ("Name: value", "Name;" or "Name:") as an
 * object; a name given twice keeps its last value. */
static void json_request_headers(mp_sbuf *b, const char *s, size_t len)
{
    const char *names[MAX_HEADERS], *values[MAX_HEADERS];
    size_t name_lens[MAX_HEADERS], value_lens[MAX_HEADERS];
    int n = 0;
    const char *end = s + len;
    while (s < end && n < MAX_HEADERS) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        if (!nl)
            nl = end;
        const char *sep = s;
        while (sep < nl && *sep != ':' && *sep != ';')
            sep++;
        if (sep > s && sep < nl) {
            const char *v = sep + 1, *ve = nl;
            trim(&v, &ve);
            names[n] = s;
            name_lens[n] = (size_t)(sep - s);
            values[n] = v;
            value_lens[n] = (size_t)(ve - v);
            n++;
        }
        s = nl + 1;
    }
    mp_sbuf_add(b, "{", 1);
    bool first = true;
    for (int i = 0; i < n; i++) {
        bool later = false;
        for (int j = i + 1; j < n && !later; j++)
            later = name_lens[j] == name_lens[i] && memcmp(names[j], names[i], name_lens[i]) == 0;
        if (later)
            continue;
        if (!first)
            mp_sbuf_add(b, ",", 1);
        first = false;
        json_string(b, names[i], name_lens[i]);
        mp_sbuf_add(b, ":", 1);
        json_string(b, values[i], value_lens[i]);
    }
    mp_sbuf_add(b, "}", 1);
}

/* The response's head (status line, then header lines) as an object:
 * names lower-case, values trimmed, folded lines joined, a name given
 * twice with its values joined by ", ". */
static void json_response_headers(mp_sbuf *b, const char *s, size_t len)
{
    mp_sbuf scratch = { 0 };
    size_t names[MAX_HEADERS], name_lens[MAX_HEADERS], values[MAX_HEADERS], value_lens[MAX_HEADERS];
    int n = 0;
    const char *end = s + len;
    bool status_line = true;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        if (!nl)
            break;                          /* a header line ends with a newline */
        const char *le = nl;
        if (le > s && le[-1] == '\r')
            le--;
        if (status_line) {
            status_line = false;
        } else if ((*s == ' ' || *s == '\t') && n > 0 && s < le) {
            const char *v = s, *ve = le;
            trim(&v, &ve);
            mp_sbuf_add(&scratch, " ", 1);   /* the last value is the end of scratch */
            mp_sbuf_add(&scratch, v, (size_t)(ve - v));
            value_lens[n - 1] += 1 + (size_t)(ve - v);
        } else if (n < MAX_HEADERS) {
            const char *colon = memchr(s, ':', (size_t)(le - s));
            if (colon && colon > s) {
                const char *v = colon + 1, *ve = le;
                trim(&v, &ve);
                names[n] = scratch.len;
                name_lens[n] = (size_t)(colon - s);
                for (const char *c = s; c < colon; c++) {
                    char low = (*c >= 'A' && *c <= 'Z') ? (char)(*c + 32) : *c;
                    mp_sbuf_add(&scratch, &low, 1);
                }
                values[n] = scratch.len;
                value_lens[n] = (size_t)(ve - v);
                mp_sbuf_add(&scratch, v, (size_t)(ve - v));
                n++;
            }
        }
        s = nl + 1;
    }
    const char *t = scratch.data;
    mp_sbuf_add(b, "{", 1);
    bool first = true;
    for (int i = 0; i < n; i++) {
        bool earlier = false;
        for (int j = 0; j < i && !earlier; j++)
            earlier = name_lens[j] == name_lens[i] && memcmp(t + names[j], t + names[i], name_lens[i]) == 0;
        if (earlier)
            continue;
        if (!first)
            mp_sbuf_add(b, ",", 1);
        first = false;
        json_string(b, t + names[i], name_lens[i]);
        mp_sbuf_add(b, ":", 1);
        mp_sbuf joined = { 0 };
        for (int j = i; j < n; j++) {
            if (name_lens[j] != name_lens[i] || memcmp(t + names[j], t + names[i], name_lens[i]) != 0)
                continue;
            if (joined.len)
                mp_sbuf_add(&joined, ", ", 2);
            mp_sbuf_add(&joined, t + values[j], value_lens[j]);
        }
        json_string(b, joined.len ? joined.data : "", joined.len);
        mp_sbuf_free(&joined);
    }
    mp_sbuf_add(b, "}", 1);
    mp_sbuf_free(&scratch);
}

/* The name of number id in the names list at idx, or NULL. */
static const char *name_of(lua_State *L, int idx, int32_t id, size_t *len)
{
    if (id <= 0 || lua_rawgeti(L, idx, id) != LUA_TSTRING) {
        if (id > 0)
            lua_pop(L, 1);
        return NULL;
    }
    return lua_tolstring(L, -1, len);      /* left on the stack until the call ends */
}

/* ring:line(seq, half, names) -> the op (as ring:op) as one JSON object,
 * not redacted; nil when not held or still open. names: the list the
 * row's pod and test numbers index. */
static int l_line(lua_State *L)
{
    ring *r = check_ring(L);
    luaL_checktype(L, 4, LUA_TTABLE);
    int64_t seq;
    lua_Integer half;
    row *w = arg_row(L, r, &seq, &half);
    if (!w)
        return 0;
    size_t pod_len = 0, test_len = 0;
    const char *pod = name_of(L, 4, w->pod, &pod_len);
    const char *test = name_of(L, 4, w->test, &test_len);
    const char *text = base_text(r, seq);
    static mp_sbuf b;
    mp_sbuf_clear(&b);
    bool first = true;
    mp_sbuf_add(&b, "{", 1);
    json_key(&b, &first, "index");
    json_integer(&b, half == 1 ? w->index : w->done_index);
    json_key(&b, &first, "time");
    json_seconds(&b, half == 1 ? w->time : w->done_time);
    json_key(&b, &first, "process");
    json_integer(&b, w->process);
    json_key(&b, &first, "type");
    mp_sbuf_adds(&b, half == 1 ? "\"invoke\"" : w->type == T_OK ? "\"ok\""
                 : w->type == T_FAIL ? "\"fail\"" : "\"info\"");
    json_key(&b, &first, "f");
    if (w->kind == K_PG) {
        mp_sbuf_add(&b, "\"pg.query\"", 10);
        json_key(&b, &first, "value");
        json_string(&b, text, w->path_len);
    } else {
        mp_sbuf_add(&b, "\"http\"", 6);
    }
    if (pod) {
        json_key(&b, &first, "pod");
        json_string(&b, pod, pod_len);
    }
    if (test) {
        json_key(&b, &first, "test");
        json_string(&b, test, test_len);
    }
    json_key(&b, &first, "engine");
    mp_sbuf_add(&b, "true", 4);
    if (half == 1) {
        if (w->kind == K_HTTP) {
            json_key(&b, &first, "method");
            json_string(&b, w->method, strlen(w->method));
            json_key(&b, &first, "path");
            json_string(&b, text, w->path_len);
        }
    } else {
        json_key(&b, &first, "invoke");
        json_integer(&b, w->index);
        if (w->has_duration) {
            json_key(&b, &first, "duration");
            json_seconds(&b, w->duration);
        }
        if (w->type != T_OK) {
            const char *extra = text + base_len(w);
            json_key(&b, &first, "error");
            mp_sbuf_add(&b, "{\"kind\":", 8);
            json_string(&b, extra, w->kind_len);
            mp_sbuf_add(&b, ",\"message\":", 11);
            json_string(&b, extra + w->kind_len, w->msg_len);
            mp_sbuf_add(&b, "}", 1);
        } else if (w->kind == K_PG) {
            if (w->status >= 0) {
                json_key(&b, &first, "rows");
                json_integer(&b, w->status);
            }
            if (w->bytes >= 0) {
                json_key(&b, &first, "count");
                json_integer(&b, w->bytes);
            }
        } else {
            json_key(&b, &first, "status");
            json_integer(&b, w->status);
            json_key(&b, &first, "bytes");
            json_integer(&b, w->bytes);
            if (w->detail == D_KEPT) {
                const char *d = detail_text(r, w);
                json_key(&b, &first, "req_headers");
                json_request_headers(&b, d + w->head_len, w->lines_len);
                json_key(&b, &first, "resp_headers");
                json_response_headers(&b, d, w->head_len);
                json_key(&b, &first, "body");
                json_excerpt(&b, d + w->head_len + w->lines_len, w->body_len, w->bytes);
            } else if (w->detail == D_DROPPED) {
                json_key(&b, &first, "detail_dropped");
                mp_sbuf_add(&b, "true", 4);
            }
        }
    }
    mp_sbuf_add(&b, "}", 1);
    lua_pushlstring(L, b.data, b.len);
    return 1;
}

/* ring:counts() -> requests held, ops held (an open request is one op),
 * requests keeping detail, ops dropped, details dropped */
static int l_counts(lua_State *L)
{
    ring *r = check_ring(L);
    lua_Integer ops = 0, detail = 0;
    for (int64_t seq = r->first; seq < r->next; seq++) {
        row *w = row_of(r, seq);
        ops += w->done_index >= 0 ? 2 : 1;
        detail += w->detail == D_KEPT;
    }
    lua_pushinteger(L, (lua_Integer)(r->next - r->first));
    lua_pushinteger(L, ops);
    lua_pushinteger(L, detail);
    lua_pushinteger(L, r->dropped_ops);
    lua_pushinteger(L, r->dropped_detail);
    return 5;
}

/* Copy request seq of ring r into ring n (same seq), texts included. */
static bool copy_request(ring *n, ring *r, int64_t seq)
{
    const row *from = row_of(r, seq);
    int64_t i = seq % n->capacity;
    row *to = &n->rows[i];
    *to = *from;
    size_t len = base_len(from) + from->kind_len + from->msg_len;
    char *text = area(n->base_arena + i * BASE_SLOT, BASE_SLOT, &n->base_spills[i], len);
    if (!text)
        return false;
    memcpy(text, base_text(r, seq), len);
    to->base_spilled = len > BASE_SLOT;
    if (from->detail != D_KEPT)
        return true;
    if (n->detail == 0) {
        to->detail = D_DROPPED;
        to->head_len = to->lines_len = to->body_len = 0;
        n->dropped_detail++;
        return true;
    }
    int64_t slot = keep_detail(n, seq);
    size_t dlen = from->head_len + from->lines_len + from->body_len;
    char *d = area(n->detail_arena + slot * DETAIL_SLOT, DETAIL_SLOT, &n->detail_spills[slot], dlen);
    if (!d)
        return false;
    memcpy(d, detail_text(r, from), dlen);
    to->slot = slot;
    return true;
}

/* ring:resized(capacity, detail) -> a new ring holding the newest
 * requests of this one that fit, under the same seqs */
static int l_resized(lua_State *L)
{
    ring *r = check_ring(L);
    lua_Integer capacity = luaL_checkinteger(L, 2);
    lua_Integer detail = luaL_checkinteger(L, 3);
    luaL_argcheck(L, capacity >= 1 && capacity <= (1 << 26), 2, "between 1 and 2^26");
    luaL_argcheck(L, detail >= 0 && detail <= (1 << 26), 3, "between 0 and 2^26");
    ring *n = lua_newuserdatauv(L, sizeof *n, 0);
    init_ring(L, n, capacity, detail, r->t0);
    while (r->next - r->first > capacity)
        drop_oldest(r);
    n->dropped_ops = r->dropped_ops;
    n->dropped_detail = r->dropped_detail;
    n->first = n->next = r->first;
    for (int64_t seq = r->first; seq < r->next; seq++) {
        if (!copy_request(n, r, seq))
            mp_raise(L, "memory", "no memory to resize the request ring");
        n->next = seq + 1;
    }
    return 1;
}

static const luaL_Reg ring_methods[] = {
    { "invoke", l_invoke },
    { "invoke_query", l_invoke_query },
    { "done_query", l_done_query },
    { "done", l_done },
    { "failed", l_failed },
    { "range", l_range },
    { "index_of", l_index_of },
    { "oldest", l_oldest },
    { "detail_victim", l_detail_victim },
    { "op", l_op },
    { "line", l_line },
    { "counts", l_counts },
    { "resized", l_resized },
    { NULL, NULL }
};

static const luaL_Reg ring_meta[] = {
    { "__gc", l_gc },
    { NULL, NULL }
};

static const luaL_Reg functions[] = {
    { "new", l_new },
    { NULL, NULL }
};

int luaopen_mpod_requests_core(lua_State *L)
{
    mp_new_class(L, RING_MT, NULL, ring_meta);
    lua_newtable(L);                     /* the methods, the metatable their upvalue */
    lua_pushvalue(L, -2);
    luaL_setfuncs(L, ring_methods, 1);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    luaL_newlib(L, functions);
    return 1;
}
