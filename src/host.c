/*
 * host.c: builds a Lua state for the engine and runs Lua entry points.
 *
 * A state gets the standard libraries, every C module of the engine (the
 * table gen_modules.sh builds from the luaopen_mpod_* functions) and
 * every bundled Lua chunk, registered in package.preload (so `require
 * "mpod"` needs no files on disk), and package.path/cpath left as Lua sets
 * them. Entry points run as the root task of the scheduler under lua_pcall
 * with a traceback message handler; the host turns their outcome into an
 * exit code. States use the host's allocator, which keeps a record of
 * their threads for leak checkers (see "the allocator" below).
 */
#include "host.h"

#include "bundle.h"
#include "mpod.h"

#include <lualib.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the allocator: every state's threads on record ----
 *
 * Lua refers to a thread (the main one too) by a pointer LUA_EXTRASPACE
 * bytes into the block that holds it. valgrind trusts only pointers to a
 * block's start, so it counts a live thread, its stack and what only that
 * stack refers to as "possibly lost" when a process exits with the state
 * open: a forked scenario child does with the runner's state (child.c says
 * why), and proc.exit_now with every state. So each state has a record,
 * the allocator's user data, with the set of its thread blocks (the
 * allocations Lua tags LUA_TTHREAD). While nothing says otherwise, the set
 * holds disguised addresses (~a): it keeps nothing reachable, and a state
 * nobody closes is still reported. mp_host_keep_states() turns the sets of
 * the states a process keeps open on purpose into plain addresses, which
 * make them reachable. The set hashes the address, so a block's slot is
 * the same in either form.
 */

typedef struct heap {
    struct heap *next;       /* the records of this process's states */
    uintptr_t *slots;        /* open addressing, linear probing; 0: free */
    size_t mask, count;
    bool kept;               /* slots hold addresses, else ~addresses */
    bool open;               /* created: closing the state frees the record */
} heap;

static heap *heaps;
static size_t thread_sizes[2];   /* a state's block, a thread's block */

static uintptr_t address_of(const heap *h, uintptr_t entry)
{
    return h->kept ? entry : ~entry;
}

static size_t home_slot(const heap *h, uintptr_t a)
{
    return (size_t)((a >> 4) * UINT64_C(0x9E3779B97F4A7C15) >> 32) & h->mask;
}

/* The slot of block a, or the free slot where it would go. */
static size_t find_slot(const heap *h, uintptr_t a)
{
    size_t i = home_slot(h, a);
    while (h->slots[i] && address_of(h, h->slots[i]) != a)
        i = (i + 1) & h->mask;
    return i;
}

/* Room for one more entry (the set stays at most half full); false when
 * out of memory. */
static bool reserve_slot(heap *h)
{
    size_t cap = h->slots ? h->mask + 1 : 0;
    if (2 * (h->count + 1) <= cap)
        return true;
    uintptr_t *old = h->slots;
    size_t new_cap = cap ? 2 * cap : 16;
    if (!(h->slots = calloc(new_cap, sizeof *h->slots))) {
        h->slots = old;
        return false;
    }
    h->mask = new_cap - 1;
    for (size_t i = 0; i < cap; i++)
        if (old[i])
            h->slots[find_slot(h, address_of(h, old[i]))] = old[i];
    free(old);
    return true;
}

/* Drop block a from the set if it is there (backward-shift deletion: an
 * entry after the hole moves into it unless its home lies in between). */
static void forget_block(heap *h, uintptr_t a)
{
    size_t i = find_slot(h, a);
    if (!h->slots[i])
        return;
    h->count--;
    for (size_t j = (i + 1) & h->mask; h->slots[j]; j = (j + 1) & h->mask) {
        size_t home = home_slot(h, address_of(h, h->slots[j]));
        if (((j - home) & h->mask) >= ((j - i) & h->mask)) {
            h->slots[i] = h->slots[j];
            i = j;
        }
    }
    h->slots[i] = 0;
}

static bool is_thread_size(size_t size)
{
    return size == thread_sizes[0] || size == thread_sizes[1];
}

static void heap_free(heap *h)
{
    for (heap **p = &heaps; *p; p = &(*p)->next)
        if (*p == h) {
            *p = h->next;
            break;
        }
    free(h->slots);
    free(h);
}

/* Set when the process is about to end: frees are skipped from then on. */
static bool frees_skipped;

void mp_host_skip_frees(void)
{
    frees_skipped = true;
}

/* lua_Alloc: realloc and free, keeping the set of thread blocks. Lua
 * frees the state's own block last, and the record goes with it. */
static void *host_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    heap *h = ud;
    if (nsize == 0 && frees_skipped)
        return NULL;
    if (ptr && h->count && is_thread_size(osize)) {
        forget_block(h, (uintptr_t)ptr);
        if (h->count == 0 && h->open) {
            free(ptr);
            heap_free(h);
            return NULL;
        }
    }
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    bool thread = !ptr && osize == LUA_TTHREAD;
    if (thread && !reserve_slot(h))
        return NULL;
    void *block = realloc(ptr, nsize);
    if (block && thread) {
        if (!is_thread_size(nsize))        /* the first of each kind */
            thread_sizes[thread_sizes[0] ? 1 : 0] = nsize;
        uintptr_t a = (uintptr_t)block;
        h->slots[find_slot(h, a)] = h->kept ? a : ~a;
        h->count++;
    }
    return block;
}

void mp_host_keep_states(lua_State *except)
{
    void *skip = NULL;
    if (except)
        lua_getallocf(except, &skip);
    for (heap *h = heaps; h; h = h->next) {
        if (h == skip || h->kept)
            continue;
        h->kept = true;
        for (size_t i = 0; h->slots && i <= h->mask; i++)
            if (h->slots[i])
                h->slots[i] = ~h->slots[i];
    }
}

/* ---- what luaL_newstate would install ---- */

/* An error outside any protected call: say so; Lua then aborts. */
static int panic(lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "mpod-lua: PANIC: unprotected error in call to Lua API "
            "(%s)\n", msg ? msg : "error object is not a string");
    return 0;
}

/* Warnings as lauxlib treats them: off until warn("@on"), to stderr. */
static void warn_on(void *ud, const char *msg, int tocont);

/* "@on" and "@off" switch; true when msg is a control message. */
static bool warn_control(lua_State *L, const char *msg, int tocont);

static void warn_off(void *ud, const char *msg, int tocont)
{
    warn_control(ud, msg, tocont);
}

static bool warn_control(lua_State *L, const char *msg, int tocont)
{
    if (tocont || msg[0] != '@')
        return false;
    if (strcmp(msg, "@off") == 0)
        lua_setwarnf(L, warn_off, L);
    else if (strcmp(msg, "@on") == 0)
        lua_setwarnf(L, warn_on, L);
    return true;
}

/* The rest of a warning split over several lua_warning calls. */
static void warn_cont(void *ud, const char *msg, int tocont)
{
    fputs(msg, stderr);
    if (tocont) {
        lua_setwarnf(ud, warn_cont, ud);
    } else {
        fputs("\n", stderr);
        lua_setwarnf(ud, warn_on, ud);
    }
}

static void warn_on(void *ud, const char *msg, int tocont)
{
    if (warn_control(ud, msg, tocont))
        return;
    fputs("Lua warning: ", stderr);
    warn_cont(ud, msg, tocont);
}

/* A bare state on host_alloc; NULL when out of memory. */
static lua_State *new_state(void)
{
    heap *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->next = heaps;
    heaps = h;
    lua_State *L = lua_newstate(host_alloc, h);
    if (!L) {
        heap_free(h);
        return NULL;
    }
    h->open = true;
    lua_atpanic(L, panic);
    lua_setwarnf(L, warn_off, L);
    return L;
}

/* Generated from the luaopen_mpod_* functions of src/ (gen_modules.sh). */
extern const luaL_Reg mp_c_modules[];

/* package.preload loader for a bundled chunk: upvalue 1 is its index. */
static int load_bundled(lua_State *L)
{
    const mp_bundled_chunk *c = &mp_bundle[lua_tointeger(L, lua_upvalueindex(1))];
    if (luaL_loadbufferx(L, (const char *)c->bytecode, c->len, c->chunkname,
                         "b") != LUA_OK)
        return lua_error(L);
    lua_pushstring(L, c->module);
    lua_call(L, 1, 1);
    return 1;
}

static void register_preload(lua_State *L)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    for (const luaL_Reg *m = mp_c_modules; m->name; m++) {
        lua_pushcfunction(L, m->func);
        lua_setfield(L, -2, m->name);
    }
    for (lua_Integer i = 0; mp_bundle[i].module; i++) {
        lua_pushinteger(L, i);
        lua_pushcclosure(L, load_bundled, 1);
        lua_setfield(L, -2, mp_bundle[i].module);
    }
    lua_pop(L, 1);
}

lua_State *mp_host_new(void)
{
    lua_State *L = new_state();
    if (!L)
        return NULL;
    luaL_openlibs(L);
    register_preload(L);
    return L;
}

/* Message handler: keep error values that are tables (they carry their own
 * fields), add a traceback to everything else. */
static int msghandler(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TTABLE)
        return 1;
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)",
                              luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

/* Protected body of mp_host_run: require the module, then run
 * module.main(arg) as the root task. */
static int run_entry(lua_State *L)
{
    const char *module = lua_tostring(L, 1);
    lua_getglobal(L, "require");
    lua_pushstring(L, module);
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "main");
    if (!lua_isfunction(L, -1))
        return luaL_error(L, "module %s has no main function", module);
    lua_pushvalue(L, 2);
    return mp_sched_run(L, 1);
}

/* Print a failed root task's error (and traceback) to stderr. */
static void report_failure(lua_State *L, int err_idx, int tb_idx)
{
    const char *msg = luaL_tolstring(L, err_idx, NULL);
    fprintf(stderr, "mpod-lua: internal error: %s\n", msg);
    if (tb_idx && lua_isstring(L, tb_idx))
        fprintf(stderr, "%s\n", lua_tostring(L, tb_idx));
    lua_pop(L, 1);
}

int mp_host_run(lua_State *L, const char *module, int arg_index)
{
    int arg = lua_absindex(L, arg_index);
    int base = lua_gettop(L);
    lua_pushcfunction(L, msghandler);
    lua_pushcfunction(L, run_entry);
    lua_pushstring(L, module);
    lua_pushvalue(L, arg);
    if (lua_pcall(L, 2, LUA_MULTRET, base + 1) != LUA_OK) {
        report_failure(L, -1, 0);
        lua_settop(L, base);
        return MP_EXIT_INTERNAL;
    }
    int status_idx = base + 2, rc = MP_EXIT_INTERNAL;
    const char *status = lua_tostring(L, status_idx);
    if (status && strcmp(status, "done") == 0) {
        rc = lua_isinteger(L, status_idx + 1)
           ? (int)lua_tointeger(L, status_idx + 1) : 0;
    } else {
        report_failure(L, status_idx + 1, status_idx + 2);
    }
    lua_settop(L, base);
    return rc;
}
