/*
 * host.c: builds a Lua state for the engine and runs Lua entry points.
 *
 * A state gets the standard libraries, every C module of the engine (the
 * table gen_modules.sh builds from the luaopen_mpod_* functions) and
 * every bundled Lua chunk, registered in package.preload (so `require
 * "mpod"` needs no files on disk), and package.path/cpath left as Lua sets
 * them. Entry points run as the root task of the scheduler under lua_pcall
 * with a traceback message handler; the host turns their outcome into an
 * exit code. States use the host's allocator, which can stop freeing in a
 * process about to end (mp_host_skip_frees).
 *
 * A process that ends with a state open (a scenario child with its
 * copy of the runner's, proc.exit_now) leaves its blocks to the kernel.
 * Lua refers to a thread by a pointer into its block, so valgrind counts
 * them "possibly lost": tests/valgrind.supp says so, for the blocks this
 * allocator made. A state nobody refers to at all is "definitely lost",
 * and still reported.
 */
#include "host.h"

#include "bundle.h"
#include "mpod.h"

#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the allocator ---- */

/* Set when the process is about to end: frees are skipped from then on. */
static bool frees_skipped;

void mp_host_skip_frees(void)
{
    frees_skipped = true;
}

/* lua_Alloc: realloc and free, unless frees are skipped. */
static void *host_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        if (!frees_skipped)
            free(ptr);
        return NULL;
    }
    return realloc(ptr, nsize);
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
    lua_State *L = lua_newstate(host_alloc, NULL);
    if (!L)
        return NULL;
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
