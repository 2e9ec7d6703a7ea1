/*
 * linear.c: the Lua module mpod.linear, the C half of
 * mp.check.linearizable (lua/mpod/scenario/check.lua).
 *
 * linear.check(ops, spec) reads a history (an array of op tables in the
 * export's format) in one pass: it keeps the ops whose f the model knows,
 * pairs each completion with its invoke (by `invoke`, the invoke's index,
 * else by process, as Jepsen's histories do), turns values into integer
 * ids (equal values get one id: integers and integral floats alike,
 * strings by content, tables by the text spec.canon gives them), splits
 * the ops by key and runs the search of wgl.c on each key, all under one
 * deadline. Reading is in C because it is the hot part: building Lua
 * tables for 100k ops costs more than the search itself.
 *
 * Everything allocated hangs on a userdata whose __gc frees it, so any
 * error raised on the way (a bad op) leaks nothing.
 */
#include "wgl.h"

#include "mpod.h"

#include <math.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define READER_MT "mpod.linear.Reader"
#define MAX_STUCK 10      /* ops listed as unplaceable in a failure */
#define MAX_LAST 3        /* placed ops listed before them */

/* stack slots of l_check: its arguments, then what it keeps at hand,
 * then the field names of an op, pushed once (lua_getfield would look
 * each C string up again, a strcmp every time) */
enum { OPS = 1, SPEC, NAMES, NULLV, CANON, VALUES, ANCHORS, READER,
       K_F, K_TYPE, K_ENGINE, K_KEY, K_VALUE, K_INDEX, K_PROCESS, K_INVOKE, K_POINT };
static const char *const field_names[] = {
    "f", "type", "engine", "key", "value", "index", "process", "invoke", "point"
};

enum { OPEN = 0, DONE_OK, DONE_FAIL, DONE_INFO };
enum { TAG_INT = 1, TAG_FLOAT, TAG_STRING, TAG_TABLE, TAG_BOOL };

typedef struct {
    uint64_t hash;
    int32_t tag;
    lua_Integer i;            /* TAG_INT, TAG_BOOL; TAG_FLOAT: the bits */
    const char *s;            /* TAG_STRING, TAG_TABLE: anchored text */
    size_t len;
} intern_entry;

typedef struct {
    mp_lin_op op;
    int32_t part, call_pos, ret_pos, done, has_input;
} slot;

typedef struct {
    intern_entry *ids;        /* id k is ids[k - 1]; 0 is nil */
    size_t nids, ids_cap;
    int32_t *table;           /* open addressing: id, 0 empty */
    size_t table_cap;
    int32_t *by_index, *by_process, *part_of;   /* indexed by id: slot + 1 / part + 1 */
    int32_t *small_index, *small_process;      /* the same for integers 0 .. nsmall - 1 */
    size_t nsmall;
    size_t index_cap, process_cap, part_of_cap;
    slot *slots;
    size_t nslots, slots_cap;
    int32_t *pool;
    size_t npool, pool_cap;
    int32_t *call_slot, *ret_slot;   /* by record position: slot + 1 */
    int32_t *part_key;               /* by part: the key's id */
    size_t nparts, parts_cap;
    mp_lin_op *part_ops;
    int32_t *part_events, *local_id, *slot_of_local;
    size_t *part_start, *part_fill;  /* by part; start has nparts + 1 */
    int32_t *init;
    size_t ninit;
} reader;

static void reader_free(reader *r)
{
    free(r->ids); free(r->table); free(r->by_index); free(r->by_process);
    free(r->small_index); free(r->small_process);
    free(r->part_of); free(r->slots); free(r->pool); free(r->call_slot);
    free(r->ret_slot); free(r->part_key); free(r->part_ops);
    free(r->part_events); free(r->local_id); free(r->slot_of_local);
    free(r->part_start); free(r->part_fill); free(r->init);
    memset(r, 0, sizeof *r);
}

static int reader_gc(lua_State *L)
{
    reader_free(luaL_checkudata(L, 1, READER_MT));
    return 0;
}

/* Grow *p to hold need elements of size sz (zeroing the new part);
 * raises "memory" when it cannot. */
static void grow(lua_State *L, void **p, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return;
    size_t want = *cap ? *cap : 64;
    while (want < need)
        want *= 2;
    char *q = realloc(*p, want * sz);
    if (!q)
        mp_raise(L, "memory", "mp.check.linearizable: out of memory reading the history");
    memset(q + *cap * sz, 0, (want - *cap) * sz);
    *p = q;
    *cap = want;
}

/* ---- values as ids ----------------------------------------------------- */

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static uint64_t text_hash(const char *s, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
    return h;
}

static bool same(const intern_entry *a, const intern_entry *b)
{
    if (a->hash != b->hash || a->tag != b->tag)
        return false;
    if (a->tag == TAG_STRING || a->tag == TAG_TABLE)
        return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
    return a->i == b->i;
}

static void rehash(lua_State *L, reader *r)
{
    size_t cap = r->table_cap ? r->table_cap * 2 : 1024;
    int32_t *t = calloc(cap, sizeof *t);
    if (!t)
        mp_raise(L, "memory", "mp.check.linearizable: out of memory reading the history");
    for (size_t k = 0; k < r->nids; k++) {
        size_t j = r->ids[k].hash & (cap - 1);
        while (t[j])
            j = (j + 1) & (cap - 1);
        t[j] = (int32_t)k + 1;
    }
    free(r->table);
    r->table = t;
    r->table_cap = cap;
}

/* room in the arrays indexed by id for every id made so far */
static void grow_id_arrays(lua_State *L, reader *r)
{
    size_t need = r->nids + 1;
    grow(L, (void **)&r->by_index, &r->index_cap, need, sizeof *r->by_index);
    grow(L, (void **)&r->by_process, &r->process_cap, need, sizeof *r->by_process);
    grow(L, (void **)&r->part_of, &r->part_of_cap, need, sizeof *r->part_of);
}

/* The id of e; a new one is made (and the Lua value at idx recorded in
 * VALUES) when e was not seen before. */
static int32_t intern(lua_State *L, reader *r, intern_entry *e, int idx)
{
    if (r->nids * 2 >= r->table_cap)
        rehash(L, r);
    size_t j = e->hash & (r->table_cap - 1);
    for (; r->table[j]; j = (j + 1) & (r->table_cap - 1))
        if (same(&r->ids[r->table[j] - 1], e))
            return r->table[j];
    grow(L, (void **)&r->ids, &r->ids_cap, r->nids + 1, sizeof *r->ids);
    r->ids[r->nids++] = *e;
    int32_t id = (int32_t)r->nids;
    r->table[j] = id;
    lua_pushvalue(L, idx);
    lua_rawseti(L, VALUES, id);
    grow_id_arrays(L, r);
    return id;
}

/* The id of the Lua value at idx (absolute): 0 for nil and mp.null. */
static int32_t value_id(lua_State *L, reader *r, int idx)
{
    intern_entry e = { 0 };
    switch (lua_type(L, idx)) {
    case LUA_TNIL:
        return 0;
    case LUA_TBOOLEAN:
        e.tag = TAG_BOOL;
        e.i = lua_toboolean(L, idx);
        break;
    case LUA_TNUMBER: {
        double d = lua_tonumber(L, idx);
        e.tag = TAG_INT;
        if (lua_isinteger(L, idx))
            e.i = lua_tointeger(L, idx);
        else if (d == floor(d) && d >= -9.2e18 && d <= 9.2e18)
            e.i = (lua_Integer)d;
        else {
            e.tag = TAG_FLOAT;
            memcpy(&e.i, &d, sizeof d);
        }
        break;
    }
    case LUA_TSTRING:
        e.tag = TAG_STRING;
        e.s = lua_tolstring(L, idx, &e.len);    /* anchored by the ops */
        break;
    default:
        if (lua_rawequal(L, idx, NULLV))
            return 0;
        lua_pushvalue(L, CANON);
        lua_pushvalue(L, idx);
        lua_call(L, 1, 1);                      /* canon(v) -> text */
        e.tag = TAG_TABLE;
        e.s = lua_tolstring(L, -1, &e.len);
        if (!e.s)
            return luaL_error(L, "mp.check.linearizable: canon gave no text");
        lua_pushvalue(L, -1);
        lua_rawseti(L, ANCHORS, (lua_Integer)lua_rawlen(L, ANCHORS) + 1);
        lua_pop(L, 1);
        e.hash = mix(text_hash(e.s, e.len) ^ (uint64_t)e.tag);
        return intern(L, r, &e, idx);
    }
    e.hash = e.tag == TAG_STRING ? text_hash(e.s, e.len) : mix((uint64_t)e.i ^ ((uint64_t)e.tag << 56));
    return intern(L, r, &e, idx);
}

/* push field k (a K_* slot) of the op on top */
static int get(lua_State *L, int k)
{
    lua_pushvalue(L, k);
    return lua_gettable(L, -2);
}

/* value_id of field k of the op on top; the stack is left as found */
static int32_t field_id(lua_State *L, reader *r, int k, bool *present)
{
    get(L, k);
    int32_t id = value_id(L, r, lua_gettop(L));
    if (present)
        *present = !lua_isnil(L, -1);
    lua_pop(L, 1);
    return id;
}

/* ---- reading the ops ------------------------------------------------------ */

static int cmp_int32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* a set read's elements (the value at top), sorted, once each, into the pool */
static void read_set(lua_State *L, reader *r, slot *s, int pos)
{
    int v = lua_gettop(L);
    size_t n = lua_istable(L, v) ? lua_rawlen(L, v) : 0;
    if (!lua_isnil(L, v) && !lua_rawequal(L, v, NULLV) && !lua_istable(L, v))
        mp_raise(L, "usage", "mp.check.linearizable: the read at op %d is not an array", pos);
    grow(L, (void **)&r->pool, &r->pool_cap, r->npool + n, sizeof *r->pool);
    int32_t *out = r->pool + r->npool;
    for (size_t i = 0; i < n; i++) {
        lua_rawgeti(L, v, (lua_Integer)i + 1);
        out[i] = value_id(L, r, lua_gettop(L));
        lua_pop(L, 1);
    }
    qsort(out, n, sizeof *out, cmp_int32);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (m == 0 || out[m - 1] != out[i])
            out[m++] = out[i];
    s->op.out = (int32_t)r->npool;
    s->op.outlen = (int32_t)m;
    r->npool += m;
}

/* the op's input from its value (the op table on top) */
static void read_input(lua_State *L, reader *r, slot *s, int pos)
{
    switch (s->op.code) {
    case MP_LIN_WRITE: case MP_LIN_ADD: case MP_LIN_ENQUEUE:
        s->op.arg = field_id(L, r, K_VALUE, (bool *)&s->has_input);
        if (s->op.arg == 0)
            s->has_input = false;
        break;
    case MP_LIN_CAS:
        get(L, K_VALUE);
        if (!lua_istable(L, -1))
            mp_raise(L, "usage", "mp.check.linearizable: the cas at op %d needs value {old, new}", pos);
        lua_rawgeti(L, -1, 1);
        s->op.arg = value_id(L, r, lua_gettop(L));
        lua_rawgeti(L, -2, 2);
        s->op.arg2 = value_id(L, r, lua_gettop(L));
        lua_pop(L, 3);
        break;
    }
}

/* the op's output from a completion ok (the op table on top) */
static void read_output(lua_State *L, reader *r, slot *s, int pos)
{
    get(L, K_VALUE);
    int v = lua_gettop(L);
    switch (s->op.code) {
    case MP_LIN_READ: case MP_LIN_DEQUEUE:
        s->op.out = value_id(L, r, v);
        break;
    case MP_LIN_SET_READ:
        read_set(L, r, s, pos);
        break;
    case MP_LIN_CAS:
        s->op.out = !(lua_isboolean(L, v) && !lua_toboolean(L, v));
        break;
    default:
        if (!s->has_input)
            s->op.arg = value_id(L, r, v);
    }
    lua_pop(L, 1);
}

static slot *new_slot(lua_State *L, reader *r, int32_t code, int pos)
{
    grow(L, (void **)&r->slots, &r->slots_cap, r->nslots + 1, sizeof *r->slots);
    slot *s = &r->slots[r->nslots++];
    s->op.code = code;
    s->call_pos = pos;
    int32_t key = field_id(L, r, K_KEY, NULL);
    if (!r->part_of[key]) {
        grow(L, (void **)&r->part_key, &r->parts_cap, r->nparts + 1, sizeof *r->part_key);
        r->part_key[r->nparts++] = key;
        r->part_of[key] = (int32_t)r->nparts;
    }
    s->part = r->part_of[key] - 1;
    r->call_slot[pos] = (int32_t)r->nslots;
    return s;
}

/* The cell of field k of the op on top in by_id (indexed by the value's
 * id) or, for the integers 0 .. nsmall - 1 (indexes and processes
 * mostly are), in small without making an id; NULL when the field is nil
 * or mp.null. */
static int32_t *cell(lua_State *L, reader *r, int k, int32_t **by_id, int32_t *small)
{
    get(L, k);
    int isint;
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    int32_t *c = NULL;
    if (isint && v >= 0 && (size_t)v < r->nsmall) {
        c = &small[v];
    } else if (!lua_isnil(L, -1)) {
        int32_t id = value_id(L, r, lua_gettop(L));
        c = id ? &(*by_id)[id] : NULL;
    }
    lua_pop(L, 1);
    return c;
}

static void read_invoke(lua_State *L, reader *r, int32_t code, int pos)
{
    slot *s = new_slot(L, r, code, pos);
    int32_t self = (int32_t)r->nslots;
    read_input(L, r, s, pos);
    int32_t *c = cell(L, r, K_INDEX, &r->by_index, r->small_index);
    if (c)
        *c = self;
    c = cell(L, r, K_PROCESS, &r->by_process, r->small_process);
    if (c)
        *c = self;
}

/* the open invoke a completion closes (found by its field invoke, else
 * by its process unless it is a point op), or NULL */
static slot *invoke_of(lua_State *L, reader *r, bool *named, bool *point)
{
    int32_t *by_index = cell(L, r, K_INVOKE, &r->by_index, r->small_index);
    int32_t *by_process = NULL, k = by_index ? *by_index : 0;
    *named = by_index != NULL;
    *point = false;
    if (!*named) {
        get(L, K_POINT);
        *point = lua_toboolean(L, -1);
        lua_pop(L, 1);
        if (!*point && (by_process = cell(L, r, K_PROCESS, &r->by_process, r->small_process)))
            k = *by_process;
    }
    if (!k || r->slots[k - 1].done != OPEN)
        return NULL;
    if (by_process)
        *by_process = 0;
    return &r->slots[k - 1];
}

static void read_completion(lua_State *L, reader *r, int32_t code, int done, int pos)
{
    bool named, point;
    slot *s = invoke_of(L, r, &named, &point);
    if (!s && (point || (!named && done == DONE_OK))) {
        s = new_slot(L, r, code, pos);       /* a point op: call and return here */
        read_input(L, r, s, pos);
    }
    if (!s)
        return;
    s->done = done;
    s->ret_pos = pos;
    r->ret_slot[pos] = (int32_t)(s - r->slots) + 1;
    if (done == DONE_OK)
        read_output(L, r, s, pos);
}

/* OPEN for "invoke", DONE_* for a completion, -1 for anything else */
static int type_of(const char *type, size_t len)
{
    if (!type)
        return -1;
    if (len == 6 && memcmp(type, "invoke", 6) == 0) return OPEN;
    if (len == 2 && memcmp(type, "ok", 2) == 0) return DONE_OK;
    if (len == 4 && memcmp(type, "fail", 4) == 0) return DONE_FAIL;
    if (len == 4 && memcmp(type, "info", 4) == 0) return DONE_INFO;
    return -1;
}

static void read_ops(lua_State *L, reader *r, size_t n, bool engine)
{
    r->call_slot = calloc(n + 1, sizeof *r->call_slot);
    r->ret_slot = calloc(n + 1, sizeof *r->ret_slot);
    r->nsmall = n + 1;
    r->small_index = calloc(n + 1, sizeof *r->small_index);
    r->small_process = calloc(n + 1, sizeof *r->small_process);
    if (!r->call_slot || !r->ret_slot || !r->small_index || !r->small_process)
        mp_raise(L, "memory", "mp.check.linearizable: out of memory reading the history");
    grow_id_arrays(L, r);
    for (size_t pos = 1; pos <= n; pos++) {
        if (lua_geti(L, OPS, (lua_Integer)pos) != LUA_TTABLE)
            mp_raise(L, "usage", "mp.check.linearizable: op %d is a %s, not a table",
                     (int)pos, luaL_typename(L, -1));
        get(L, K_F);
        int32_t code = lua_isstring(L, -1) && lua_rawget(L, NAMES) == LUA_TNUMBER
                     ? (int32_t)lua_tointeger(L, -1) : -1;
        lua_pop(L, 1);
        if (code >= MP_LIN_CODES)
            luaL_error(L, "linear.check: spec.names gives an unknown code %d", (int)code);
        if (code >= 0 && !engine) {
            get(L, K_ENGINE);
            if (lua_toboolean(L, -1))
                code = -1;
            lua_pop(L, 1);
        }
        if (code >= 0) {
            size_t len = 0;
            get(L, K_TYPE);
            const char *text = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
            int type = type_of(text, len);
            lua_pop(L, 1);
            if (type == OPEN)
                read_invoke(L, r, code, (int)pos);
            else if (type > OPEN)
                read_completion(L, r, code, type, (int)pos);
        }
        lua_pop(L, 1);
    }
}

/* ---- partitions ------------------------------------------------------------- */

/* A failed op never happened; a read whose result is unknown says nothing. */
static bool kept(const slot *s)
{
    bool read = s->op.code == MP_LIN_READ || s->op.code == MP_LIN_SET_READ;
    return s->done != DONE_FAIL && !(read && s->done != DONE_OK);
}

static void *alloc_or_raise(lua_State *L, size_t count, size_t sz)
{
    void *p = calloc(count ? count : 1, sz);
    if (!p)
        mp_raise(L, "memory", "mp.check.linearizable: out of memory reading the history");
    return p;
}

/* Part p's ops go to part_ops[start[p] .. start[p + 1]) (local ids from
 * 0), its events to part_events[2 start[p] ..): calls and returns in
 * record order, then the returns of the ops of unknown outcome. */
static void build_parts(lua_State *L, reader *r, size_t n)
{
    size_t np = r->nparts;
    r->part_start = alloc_or_raise(L, np + 1, sizeof *r->part_start);
    r->part_fill = alloc_or_raise(L, np + 1, sizeof *r->part_fill);
    r->local_id = alloc_or_raise(L, r->nslots, sizeof *r->local_id);
    for (size_t k = 0; k < r->nslots; k++)
        if (kept(&r->slots[k]))
            r->part_start[r->slots[k].part + 1]++;
    for (size_t p = 0; p < np; p++)
        r->part_start[p + 1] += r->part_start[p];
    size_t total = r->part_start[np];
    r->part_ops = alloc_or_raise(L, total, sizeof *r->part_ops);
    r->slot_of_local = alloc_or_raise(L, total, sizeof *r->slot_of_local);
    r->part_events = alloc_or_raise(L, 2 * total, sizeof *r->part_events);
    memcpy(r->part_fill, r->part_start, np * sizeof *r->part_fill);
    for (size_t k = 0; k < r->nslots; k++) {
        slot *s = &r->slots[k];
        if (!kept(s))
            continue;
        size_t g = r->part_fill[s->part]++;
        r->local_id[k] = (int32_t)(g - r->part_start[s->part]);
        r->part_ops[g] = s->op;
        r->part_ops[g].unknown = s->done != DONE_OK;
        r->slot_of_local[g] = (int32_t)k;
    }
    for (size_t p = 0; p < np; p++)
        r->part_fill[p] = 2 * r->part_start[p];
    for (size_t pos = 1; pos <= n; pos++) {
        int32_t c = r->call_slot[pos], t = r->ret_slot[pos];
        if (c && kept(&r->slots[c - 1]))
            r->part_events[r->part_fill[r->slots[c - 1].part]++] = r->local_id[c - 1] + 1;
        if (t && kept(&r->slots[t - 1]) && r->slots[t - 1].done == DONE_OK)
            r->part_events[r->part_fill[r->slots[t - 1].part]++] = -(r->local_id[t - 1] + 1);
    }
    for (size_t k = 0; k < r->nslots; k++)
        if (kept(&r->slots[k]) && r->slots[k].done != DONE_OK)
            r->part_events[r->part_fill[r->slots[k].part]++] = -(r->local_id[k] + 1);
}

/* ---- results ------------------------------------------------------------------ */

static const char *const result_names[] = { "ok", "illegal", "timeout", "memory" };

/* t[field] = {call positions}, field_ret = {return positions, 0 none} of
 * the slots listed (by their global part index g) */
static void push_positions(lua_State *L, reader *r, const int32_t *g, size_t n, const char *field)
{
    lua_createtable(L, (int)n, 0);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        const slot *s = &r->slots[r->slot_of_local[g[i]]];
        lua_pushinteger(L, s->call_pos);
        lua_rawseti(L, -3, (lua_Integer)i + 1);
        lua_pushinteger(L, s->done == DONE_OK ? s->ret_pos : 0);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    char name[32];
    snprintf(name, sizeof name, "%s_ret", field);
    lua_setfield(L, -3, name);
    lua_setfield(L, -2, field);
}

/* the ops none of which can come after the best order: the unplaced op
 * that returns first (the "blocking" one), then the other unplaced ops
 * called before that return. Fills out[] (global indexes), returns the
 * count of such ops (more than max may exist). */
static size_t stuck_ops(reader *r, size_t p, const bool *placed, int32_t *out, size_t max)
{
    size_t start = r->part_start[p], m = r->part_start[p + 1] - start;
    int32_t first_ret = INT32_MAX, blocking = -1;
    for (size_t l = 0; l < m; l++) {
        const slot *s = &r->slots[r->slot_of_local[start + l]];
        int32_t ret = s->done == DONE_OK ? s->ret_pos : INT32_MAX;
        if (!placed[l] && (blocking < 0 || ret < first_ret))
            first_ret = ret, blocking = (int32_t)l;
    }
    if (blocking < 0)
        return 0;
    size_t count = 1;
    out[0] = (int32_t)(start + (size_t)blocking);
    for (size_t l = 0; l < m; l++) {
        const slot *s = &r->slots[r->slot_of_local[start + l]];
        if (placed[l] || (int32_t)l == blocking || s->call_pos >= first_ret)
            continue;
        if (count < max)
            out[count] = (int32_t)(start + l);
        count++;
    }
    return count;
}

static void push_state(lua_State *L, const mp_lin_output *res, bool single)
{
    if (single) {
        if (res->nstate == 1)
            lua_rawgeti(L, VALUES, res->state[0]);
        else
            lua_pushnil(L);
        lua_setfield(L, -2, "state_value");
        return;
    }
    lua_createtable(L, (int)res->nstate, 0);
    for (size_t i = 0; i < res->nstate; i++) {
        lua_rawgeti(L, VALUES, res->state[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    lua_setfield(L, -2, "state");
}

/* result.failure = what proves part p is not linearizable */
static void push_failure(lua_State *L, reader *r, size_t p, const mp_lin_output *res, bool single)
{
    size_t start = r->part_start[p], m = r->part_start[p + 1] - start;
    bool *placed = calloc(m ? m : 1, sizeof *placed);
    int32_t last[MAX_LAST], stuck[MAX_STUCK];
    size_t nlast = 0, nstuck = 0;
    if (placed) {
        for (size_t i = 0; i < res->nbest; i++)
            placed[res->best[i]] = true;
        nstuck = stuck_ops(r, p, placed, stuck, MAX_STUCK);
        free(placed);
    }
    for (size_t i = res->nbest > MAX_LAST ? res->nbest - MAX_LAST : 0; i < res->nbest; i++)
        last[nlast++] = (int32_t)start + res->best[i];
    lua_createtable(L, 0, 8);
    lua_rawgeti(L, VALUES, r->part_key[p]);
    lua_setfield(L, -2, "key");
    lua_pushinteger(L, (lua_Integer)res->nbest);
    lua_setfield(L, -2, "placed");
    lua_pushinteger(L, (lua_Integer)m);
    lua_setfield(L, -2, "total");
    lua_pushinteger(L, (lua_Integer)nstuck);
    lua_setfield(L, -2, "stuck_count");
    push_positions(L, r, last, nlast, "last");
    push_positions(L, r, stuck, nstuck < MAX_STUCK ? nstuck : MAX_STUCK, "stuck");
    push_state(L, res, single);
    lua_setfield(L, -2, "failure");
}

/* ---- linear.check --------------------------------------------------------------- */

/* spec.init (values) as the model's first state: one value ("value"
 * models), the sorted distinct ids ("set"), or the list ("list") */
static void read_init(lua_State *L, reader *r, const char *state)
{
    lua_getfield(L, SPEC, "init");
    int t = lua_gettop(L);
    size_t n = lua_istable(L, t) ? lua_rawlen(L, t) : 0;
    bool single = strcmp(state, "value") == 0;
    r->init = alloc_or_raise(L, n + 1, sizeof *r->init);
    r->ninit = single ? 1 : n;
    for (size_t i = 0; i < (single ? 1 : n); i++) {
        if (lua_istable(L, t))
            lua_rawgeti(L, t, (lua_Integer)i + 1);
        else
            lua_pushnil(L);
        r->init[i] = value_id(L, r, lua_gettop(L));
        lua_pop(L, 1);
    }
    if (strcmp(state, "set") == 0) {
        qsort(r->init, n, sizeof *r->init, cmp_int32);
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (m == 0 || r->init[m - 1] != r->init[i])
                r->init[m++] = r->init[i];
        r->ninit = m;
    }
    lua_pop(L, 1);
}

static void set_number(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void set_integer(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

/* Run the search on each part; push the result table. */
static void check_parts(lua_State *L, reader *r, double deadline, size_t max_bytes, bool single)
{
    lua_createtable(L, 0, 8);
    mp_lin_result verdict = MP_LIN_OK;
    uint64_t steps = 0;
    size_t cached = 0;
    for (size_t p = 0; p < r->nparts; p++) {
        size_t start = r->part_start[p], m = r->part_start[p + 1] - start;
        mp_lin_input in = { r->part_ops + start, m, r->pool, r->npool,
                            r->part_events + 2 * start, r->init, r->ninit,
                            deadline, max_bytes };
        mp_lin_output res;
        mp_lin_check(&in, &res);
        steps += res.steps;
        cached += res.cached;
        if (res.result == MP_LIN_ILLEGAL) {
            verdict = MP_LIN_ILLEGAL;
            push_failure(L, r, p, &res, single);
        } else if (res.result != MP_LIN_OK && verdict == MP_LIN_OK) {
            verdict = res.result;
            lua_rawgeti(L, VALUES, r->part_key[p]);
            lua_setfield(L, -2, "unknown_key");
        }
        mp_lin_output_free(&res);
        if (verdict == MP_LIN_ILLEGAL)
            break;
    }
    lua_pushstring(L, result_names[verdict]);
    lua_setfield(L, -2, "result");
    set_integer(L, "partitions", (lua_Integer)r->nparts);
    set_integer(L, "ops", (lua_Integer)r->part_start[r->nparts]);
    set_number(L, "steps", (double)steps);
    set_integer(L, "cached", (lua_Integer)cached);
}

/* linear.check(ops, spec) -> result. spec: names = {f = code} (the codes
 * of wgl.h), state = "value" | "set" | "list", init = {values}, canon =
 * function(table) -> text, budget (s), max_bytes, engine (keep engine
 * ops). result: result = "ok" | "illegal" | "timeout" | "memory",
 * partitions, ops, steps, cached, unknown_key, and on "illegal" failure =
 * {key, placed, total, last, last_ret, stuck, stuck_ret, stuck_count,
 * state | state_value}: positions in ops (ret 0: no completion). */
static int l_check(lua_State *L)
{
    luaL_checktype(L, OPS, LUA_TTABLE);
    luaL_checktype(L, SPEC, LUA_TTABLE);
    lua_settop(L, SPEC);
    lua_getfield(L, SPEC, "names");
    luaL_checktype(L, NAMES, LUA_TTABLE);
    mp_push_null(L);
    lua_getfield(L, SPEC, "canon");
    luaL_checktype(L, CANON, LUA_TFUNCTION);
    lua_newtable(L);
    lua_newtable(L);
    reader *r = lua_newuserdatauv(L, sizeof *r, 0);
    memset(r, 0, sizeof *r);
    luaL_setmetatable(L, READER_MT);
    double budget = (lua_getfield(L, SPEC, "budget"), luaL_optnumber(L, -1, 10));
    lua_Integer max_bytes = (lua_getfield(L, SPEC, "max_bytes"), luaL_optinteger(L, -1, (lua_Integer)1 << 30));
    bool engine = (lua_getfield(L, SPEC, "engine"), lua_toboolean(L, -1));
    const char *state = (lua_getfield(L, SPEC, "state"), luaL_optstring(L, -1, "value"));
    lua_pop(L, 4);
    for (size_t i = 0; i < sizeof field_names / sizeof *field_names; i++)
        lua_pushstring(L, field_names[i]);
    double deadline = mp_now() + budget;
    lua_Integer len = luaL_len(L, OPS);
    size_t n = len > 0 ? (size_t)len : 0;
    read_ops(L, r, n, engine);
    read_init(L, r, state);
    build_parts(L, r, n);
    check_parts(L, r, deadline, (size_t)max_bytes, strcmp(state, "value") == 0);
    return 1;
}

/* linear.now() -> the clock of budgets: CLOCK_MONOTONIC seconds */
static int l_now(lua_State *L)
{
    lua_pushnumber(L, mp_now());
    return 1;
}

static const luaL_Reg linear_functions[] = {
    { "check", l_check },
    { "now", l_now },
    { NULL, NULL }
};

static const luaL_Reg reader_meta[] = {
    { "__gc", reader_gc },
    { NULL, NULL }
};

int luaopen_mpod_linear(lua_State *L)
{
    mp_new_class(L, READER_MT, NULL, reader_meta);
    lua_pop(L, 1);
    luaL_newlib(L, linear_functions);
    return 1;
}
