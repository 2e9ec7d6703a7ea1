/*
 * wgl.c: the linearizability search (wgl.h), for the module mpod.linear
 * (linear.c) behind mp.check.linearizable.
 *
 * The search is Lowe's refinement of Wing and Gong's, laid out as
 * Porcupine's checkSingle: the calls and returns form a doubly linked
 * list in real-time order; walking it from the head, a call whose op the
 * model accepts from the current state is "lifted" (its call and return
 * leave the list), pushed on a stack with the state before it, and the
 * walk restarts; reaching a return means the op it closes cannot be put
 * anywhere after what is on the stack, so the top is popped and the walk
 * goes on after it. The list empty: every op is placed, linearizable; the
 * stack empty at a return: not. A cache of the (placed ops, state) pairs
 * already reached skips every branch explored before.
 *
 * What makes it fast: the placed-ops bitset carries an incremental
 * (Zobrist) hash, so hashing a pair costs the state's size, not the
 * history's; and the cache keeps only the bitset's window between its
 * first word not full and its last word not empty, a few words whatever
 * the history's length, since ops are placed roughly in time order. The
 * states live on a stack of int arrays; a model step writes the next state
 * above the current one and nothing is copied when it is refused.
 *
 * Models (states are int arrays, values are ids, 0 = nil):
 *   register, cas-register: [value]
 *   set: the element ids, sorted
 *   queue: the element ids, head first
 */
#include "wgl.h"

#include "mpod.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define DEADLINE_EVERY 4096      /* loop turns between two clock reads */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/* ---- models ---------------------------------------------------------- */

static long step_set_add(const int32_t *s, size_t n, int32_t v, int32_t *next)
{
    size_t i = 0;
    while (i < n && s[i] < v)
        i++;
    memcpy(next, s, i * sizeof *s);
    if (i < n && s[i] == v) {
        memcpy(next + i, s + i, (n - i) * sizeof *s);
        return (long)n;
    }
    next[i] = v;
    memcpy(next + i + 1, s + i, (n - i) * sizeof *s);
    return (long)n + 1;
}

static long step_dequeue(const mp_lin_op *op, const int32_t *s, size_t n, int32_t *next)
{
    if (n == 0)
        return op->unknown || op->out == 0 ? 0 : -1;
    if (!op->unknown && op->out != s[0])
        return -1;
    memcpy(next, s + 1, (n - 1) * sizeof *s);
    return (long)n - 1;
}

static long step_set_read(const mp_lin_input *in, const mp_lin_op *op,
                          const int32_t *s, size_t n, int32_t *next)
{
    if (!op->unknown && ((size_t)op->outlen != n ||
                         memcmp(in->pool + op->out, s, n * sizeof *s) != 0))
        return -1;
    memcpy(next, s, n * sizeof *s);
    return (long)n;
}

long mp_lin_step(const mp_lin_input *in, const int32_t *s, size_t n,
                 int32_t index, int32_t *next)
{
    const mp_lin_op *op = &in->ops[index];
    switch (op->code) {
    case MP_LIN_READ:
        if (n != 1 || (!op->unknown && s[0] != op->out))
            return -1;
        next[0] = s[0];
        return 1;
    case MP_LIN_WRITE:
        next[0] = op->arg;
        return 1;
    case MP_LIN_CAS:
        if (n != 1)
            return -1;
        if (!op->unknown && (s[0] == op->arg) != (op->out == 1))
            return -1;
        next[0] = s[0] == op->arg ? op->arg2 : s[0];
        return 1;
    case MP_LIN_ADD:
        return step_set_add(s, n, op->arg, next);
    case MP_LIN_SET_READ:
        return step_set_read(in, op, s, n, next);
    case MP_LIN_ENQUEUE:
        memcpy(next, s, n * sizeof *s);
        next[n] = op->arg;
        return (long)n + 1;
    case MP_LIN_DEQUEUE:
        return step_dequeue(op, s, n, next);
    default:
        return -1;
    }
}

static uint64_t state_hash(const int32_t *s, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    for (size_t i = 0; i < n; i++)
        h = mix64(h ^ (uint32_t)s[i]) + i;
    return h;
}

/* ---- the search's memory ----------------------------------------------- */

typedef struct {
    uint64_t hash;
    size_t bits_at, state_at;   /* offsets in the arenas */
    uint32_t lo, nwords, nstate;
} cache_entry;

typedef struct {
    const mp_lin_input *in;
    size_t n, nodes;            /* ops; list nodes (2n + the head, node 0) */
    int32_t *next, *prev, *match, *op_of;
    uint64_t *bits, *zobrist, bits_hash;
    size_t nwords, lo, hi;      /* bits[lo] is the first word not full, bits[hi-1] the last not empty */
    int32_t *stack;             /* the call nodes placed, in order */
    size_t depth;
    int32_t *states;            /* state d is states[state_at[d] .. state_at[d + 1]) */
    size_t *state_at, states_cap;
    cache_entry *cache;
    size_t ncache, cache_cap;
    uint32_t *table;            /* open addressing, entry + 1, 0 = empty */
    size_t table_cap;
    uint64_t *bits_arena;
    size_t bits_len, bits_cap;
    int32_t *state_arena;
    size_t state_len, state_cap;
    size_t bytes;               /* allocated so far */
    bool out_of_memory;
    int32_t *best;
    size_t nbest, low_water;
} search;

/* Grow *p (elements of size sz) to hold at least need; false when the cap
 * would be passed or malloc fails (then out_of_memory is set). */
static bool grow(search *s, void **p, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return true;
    size_t want = *cap ? *cap : 64;
    while (want < need)
        want *= 2;
    size_t more = (want - *cap) * sz;
    void *q = NULL;
    if (s->bytes + more <= s->in->max_bytes)
        q = realloc(*p, want * sz);
    if (!q) {
        s->out_of_memory = true;
        return false;
    }
    s->bytes += more;
    *p = q;
    *cap = want;
    return true;
}

static void *alloc_zero(search *s, size_t count, size_t sz)
{
    void *p = NULL;
    if (s->bytes + count * sz <= s->in->max_bytes)
        p = calloc(count ? count : 1, sz);
    if (!p)
        s->out_of_memory = true;
    else
        s->bytes += count * sz;
    return p;
}

static void search_free(search *s)
{
    free(s->next); free(s->prev); free(s->match); free(s->op_of);
    free(s->bits); free(s->zobrist); free(s->stack); free(s->states);
    free(s->state_at); free(s->cache); free(s->table); free(s->bits_arena);
    free(s->state_arena); free(s->best);
}

/* The list in event order: node k + 1 is events[k]; a call node's match
 * is its return's node. */
static bool build_list(search *s)
{
    const mp_lin_input *in = s->in;
    size_t nodes = s->nodes;
    s->next = alloc_zero(s, nodes, sizeof *s->next);
    s->prev = alloc_zero(s, nodes, sizeof *s->prev);
    s->match = alloc_zero(s, nodes, sizeof *s->match);
    s->op_of = alloc_zero(s, nodes, sizeof *s->op_of);
    int32_t *call_node = alloc_zero(s, s->n + 1, sizeof *call_node);
    if (s->out_of_memory) {
        free(call_node);
        return false;
    }
    for (size_t k = 0; k < nodes; k++) {
        s->next[k] = k + 1 < nodes ? (int32_t)(k + 1) : -1;
        s->prev[k] = (int32_t)k - 1;
        s->match[k] = -1;
    }
    for (size_t k = 0; k + 1 < nodes; k++) {
        int32_t e = in->events[k], node = (int32_t)k + 1;
        int32_t op = (e > 0 ? e : -e) - 1;
        s->op_of[node] = op;
        if (e > 0)
            call_node[op] = node;
        else
            s->match[call_node[op]] = node;
    }
    free(call_node);
    return true;
}

static bool search_init(search *s, const mp_lin_input *in)
{
    memset(s, 0, sizeof *s);
    s->in = in;
    s->n = in->nops;
    s->nodes = 2 * in->nops + 1;
    s->nwords = (s->n + 63) / 64;
    if (!build_list(s))
        return false;
    s->bits = alloc_zero(s, s->nwords, sizeof *s->bits);
    s->zobrist = alloc_zero(s, s->n, sizeof *s->zobrist);
    s->stack = alloc_zero(s, s->n, sizeof *s->stack);
    s->best = alloc_zero(s, s->n, sizeof *s->best);
    s->state_at = alloc_zero(s, s->n + 2, sizeof *s->state_at);
    if (s->out_of_memory)
        return false;
    for (size_t i = 0; i < s->n; i++)
        s->zobrist[i] = mix64(i + 0x632be59bd9b4e019ULL);
    if (!grow(s, (void **)&s->states, &s->states_cap, in->ninit + 1, sizeof *s->states))
        return false;
    memcpy(s->states, in->init, in->ninit * sizeof *in->init);
    s->state_at[1] = in->ninit;
    return true;
}

/* ---- the placed-ops bitset ------------------------------------------- */

static void bit_set(search *s, int32_t op)
{
    size_t w = (size_t)op / 64;
    s->bits[w] |= 1ULL << (op % 64);
    s->bits_hash ^= s->zobrist[op];
    while (s->lo < s->nwords && s->bits[s->lo] == ~0ULL)
        s->lo++;
    if (w + 1 > s->hi)
        s->hi = w + 1;
}

static void bit_clear(search *s, int32_t op)
{
    size_t w = (size_t)op / 64;
    s->bits[w] &= ~(1ULL << (op % 64));
    s->bits_hash ^= s->zobrist[op];
    if (w < s->lo)
        s->lo = w;
    while (s->hi > 0 && s->bits[s->hi - 1] == 0)
        s->hi--;
}

static uint32_t window_words(const search *s)
{
    return s->hi > s->lo ? (uint32_t)(s->hi - s->lo) : 0;
}

/* ---- the cache of (placed ops, state) --------------------------------- */

static bool entry_equal(const search *s, const cache_entry *e, uint64_t hash,
                        const int32_t *st, size_t n)
{
    return e->hash == hash && e->lo == s->lo && e->nwords == window_words(s) &&
           e->nstate == n &&
           memcmp(s->bits_arena + e->bits_at, s->bits + s->lo, e->nwords * sizeof *s->bits) == 0 &&
           memcmp(s->state_arena + e->state_at, st, n * sizeof *st) == 0;
}

static bool table_grow(search *s)
{
    size_t cap = s->table_cap ? s->table_cap * 2 : 1024;
    uint32_t *t = alloc_zero(s, cap, sizeof *t);
    if (!t)
        return false;
    for (size_t i = 0; i < s->ncache; i++) {
        size_t j = s->cache[i].hash & (cap - 1);
        while (t[j])
            j = (j + 1) & (cap - 1);
        t[j] = (uint32_t)i + 1;
    }
    free(s->table);
    s->bytes -= s->table_cap * sizeof *t;
    s->table = t;
    s->table_cap = cap;
    return true;
}

static bool cache_store(search *s, uint64_t hash, const int32_t *st, size_t n, size_t slot)
{
    uint32_t nw = window_words(s);
    if (!grow(s, (void **)&s->cache, &s->cache_cap, s->ncache + 1, sizeof *s->cache) ||
        !grow(s, (void **)&s->bits_arena, &s->bits_cap, s->bits_len + nw, sizeof *s->bits_arena) ||
        !grow(s, (void **)&s->state_arena, &s->state_cap, s->state_len + n, sizeof *s->state_arena))
        return false;
    cache_entry *e = &s->cache[s->ncache];
    *e = (cache_entry){ hash, s->bits_len, s->state_len, (uint32_t)s->lo, nw, (uint32_t)n };
    memcpy(s->bits_arena + s->bits_len, s->bits + s->lo, nw * sizeof *s->bits);
    memcpy(s->state_arena + s->state_len, st, n * sizeof *st);
    s->bits_len += nw;
    s->state_len += n;
    s->table[slot] = (uint32_t)++s->ncache;
    if (s->ncache * 2 > s->table_cap)
        return table_grow(s);
    return true;
}

/* Remember (the placed ops, st); returns 1 when new, 0 when seen before,
 * -1 out of memory. */
static int cache_add(search *s, const int32_t *st, size_t n)
{
    if (!s->table && !table_grow(s))
        return -1;
    uint64_t hash = s->bits_hash ^ state_hash(st, n);
    size_t j = hash & (s->table_cap - 1);
    for (; s->table[j]; j = (j + 1) & (s->table_cap - 1))
        if (entry_equal(s, &s->cache[s->table[j] - 1], hash, st, n))
            return 0;
    return cache_store(s, hash, st, n, j) ? 1 : -1;
}

/* ---- the walk ----------------------------------------------------------- */

static void lift(search *s, int32_t node)
{
    int32_t ret = s->match[node];
    s->next[s->prev[node]] = s->next[node];
    s->prev[s->next[node]] = s->prev[node];   /* a call always has its return after it */
    s->next[s->prev[ret]] = s->next[ret];
    if (s->next[ret] >= 0)
        s->prev[s->next[ret]] = s->prev[ret];
}

static void unlift(search *s, int32_t node)
{
    int32_t ret = s->match[node];
    s->next[s->prev[ret]] = ret;
    if (s->next[ret] >= 0)
        s->prev[s->next[ret]] = ret;
    s->next[s->prev[node]] = node;
    s->prev[s->next[node]] = node;
}

/* Keep best = the longest stack seen; only the part of the stack pushed
 * since the last copy (above its low water mark) is copied again. */
static void note_depth(search *s)
{
    if (s->depth <= s->nbest)
        return;
    for (size_t i = s->low_water; i < s->depth; i++)
        s->best[i] = s->op_of[s->stack[i]];
    s->nbest = s->depth;
    s->low_water = s->depth;
}

/* Try to place the op of call node `node` now: 1 placed, 0 refused or
 * already explored, -1 out of memory. */
static int try_place(search *s, int32_t node)
{
    size_t at = s->state_at[s->depth], n = s->state_at[s->depth + 1] - at;
    if (!grow(s, (void **)&s->states, &s->states_cap, at + 2 * n + 1, sizeof *s->states))
        return -1;
    int32_t *cur = s->states + at, *next = cur + n;
    long m = mp_lin_step(s->in, cur, n, s->op_of[node], next);
    if (m < 0)
        return 0;
    int32_t op = s->op_of[node];
    bit_set(s, op);
    int added = cache_add(s, next, (size_t)m);
    if (added <= 0) {
        bit_clear(s, op);
        return added;
    }
    s->stack[s->depth++] = node;
    s->state_at[s->depth + 1] = s->state_at[s->depth] + (size_t)m;
    lift(s, node);
    note_depth(s);
    return 1;
}

/* Pop the top op; returns its call node. */
static int32_t backtrack(search *s)
{
    int32_t node = s->stack[--s->depth];
    if (s->depth < s->low_water)
        s->low_water = s->depth;
    bit_clear(s, s->op_of[node]);
    unlift(s, node);
    return node;
}

static mp_lin_result walk(search *s, uint64_t *steps)
{
    int32_t node = s->next[0];
    unsigned turns = 0;
    while (s->next[0] >= 0) {
        if (++turns % DEADLINE_EVERY == 0 && mp_now() > s->in->deadline)
            return MP_LIN_TIMEOUT;
        if (s->match[node] >= 0) {
            ++*steps;
            int placed = try_place(s, node);
            if (placed < 0)
                return MP_LIN_MEMORY;
            node = placed ? s->next[0] : s->next[node];
            continue;
        }
        if (s->depth == 0)
            return MP_LIN_ILLEGAL;
        node = s->next[backtrack(s)];
    }
    return MP_LIN_OK;
}

/* ---- results ------------------------------------------------------------- */

/* The state after the best sequence, replayed from the first state. */
static void replay_best(const mp_lin_input *in, mp_lin_output *out)
{
    size_t cap = in->ninit + out->nbest + 1;
    int32_t *a = malloc(cap * sizeof *a), *b = malloc(cap * sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return;
    }
    memcpy(a, in->init, in->ninit * sizeof *a);
    long n = (long)in->ninit;
    for (size_t i = 0; i < out->nbest && n >= 0; i++) {
        n = mp_lin_step(in, a, (size_t)n, out->best[i], b);
        int32_t *t = a;
        a = b;
        b = t;
    }
    free(b);
    out->state = a;
    out->nstate = n < 0 ? 0 : (size_t)n;
}

void mp_lin_check(const mp_lin_input *in, mp_lin_output *out)
{
    search s;
    memset(out, 0, sizeof *out);
    out->result = MP_LIN_MEMORY;
    if (search_init(&s, in))
        out->result = walk(&s, &out->steps);
    out->cached = s.ncache;
    out->best = s.best;
    out->nbest = s.nbest;
    s.best = NULL;
    search_free(&s);
    if (out->best)
        replay_best(in, out);
}

void mp_lin_output_free(mp_lin_output *out)
{
    free(out->best);
    free(out->state);
    memset(out, 0, sizeof *out);
}
