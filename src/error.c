/*
 * error.c: structured error values and the Lua module mpod.error.
 *
 * Every runtime failure the engine raises is a table with the metatable
 * "mpod.Error": `kind` (a short word such as "timeout", "connect", "expect",
 * "usage", "cancelled"), `message` (one line for humans) and any fields the
 * raiser adds (pod, method, path, sqlstate, ...). tostring() gives the
 * message, so an error printed by plain Lua code still reads well.
 *
 * Lua code raises them with error.raise, or error.usage for a misuse of
 * the API: both name the scenario line responsible in `at`, the innermost
 * frame that runs a scenario file (never an engine chunk), as Lua's
 * error() names a position in a string. No level is needed: engine frames
 * are skipped, and the innermost scenario frame is the line that called in.
 * A usage error gets `at` however it is made, from C too.
 */
#include "mpod.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERROR_MT "mpod.Error"

void mp_new_class(lua_State *L, const char *tname,
                  const luaL_Reg *methods, const luaL_Reg *meta)
{
    if (!luaL_newmetatable(L, tname))
        return;
    if (meta)
        luaL_setfuncs(L, meta, 0);
    if (methods) {
        lua_newtable(L);
        luaL_setfuncs(L, methods, 0);
        lua_setfield(L, -2, "__index");
    }
    lua_pushstring(L, tname);
    lua_setfield(L, -2, "__name");
}

static int l_error_tostring(lua_State *L);

static const luaL_Reg error_meta[] = {
    { "__tostring", l_error_tostring },
    { NULL, NULL }
};

#define MESSAGE_MAX 2048

/* Push "file:line" of the innermost frame whose chunk was loaded from a
 * file (source "@...": a scenario, its helpers; the engine's chunks are
 * "=mpod/..."); returns 0 (nothing pushed) when there is none. */
static int push_user_location(lua_State *L)
{
    lua_Debug ar;
    for (int level = 1; lua_getstack(L, level, &ar); level++) {
        lua_getinfo(L, "Sl", &ar);
        if (ar.source[0] == '@' && ar.currentline > 0) {
            lua_pushfstring(L, "%s:%d", ar.short_src, ar.currentline);
            return 1;
        }
    }
    return 0;
}

/* The message is formatted by vsnprintf (the full printf language the
 * format attribute promises, unlike lua_pushvfstring), cut at MESSAGE_MAX. */
static void push_error_v(lua_State *L, const char *kind, const char *fmt,
                         va_list ap)
{
    char message[MESSAGE_MAX];
    int n = vsnprintf(message, sizeof message, fmt, ap);
    if (n >= (int)sizeof message)
        memcpy(message + sizeof message - 4, "...", 4);
    lua_createtable(L, 0, 4);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, n < 0 ? fmt : message);
    lua_setfield(L, -2, "message");
    if (strcmp(kind, "usage") == 0 && push_user_location(L))
        lua_setfield(L, -2, "at");
    mp_new_class(L, ERROR_MT, NULL, error_meta);
    lua_setmetatable(L, -2);
}

void mp_push_error(lua_State *L, const char *kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    push_error_v(L, kind, fmt, ap);
    va_end(ap);
}

int mp_raise(lua_State *L, const char *kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    push_error_v(L, kind, fmt, ap);
    va_end(ap);
    lua_error(L);
    abort();   /* not reached */
}

void mp_error_set_string(lua_State *L, const char *name, const char *value)
{
    if (!value)
        return;
    lua_pushstring(L, value);
    lua_setfield(L, -2, name);
}

void mp_error_set_number(lua_State *L, const char *name, double value)
{
    lua_pushnumber(L, value);
    lua_setfield(L, -2, name);
}

void mp_error_set_integer(lua_State *L, const char *name, lua_Integer value)
{
    lua_pushinteger(L, value);
    lua_setfield(L, -2, name);
}

/* __tostring: the message, else the kind. */
static int l_error_tostring(lua_State *L)
{
    if (lua_getfield(L, 1, "message") == LUA_TSTRING)
        return 1;
    lua_pop(L, 1);
    lua_getfield(L, 1, "kind");
    lua_pushfstring(L, "%s error", luaL_optstring(L, -1, "unknown"));
    return 1;
}

/* error.new(kind, message [, fields]) -> error value */
static int l_error_new(lua_State *L)
{
    const char *kind = luaL_checkstring(L, 1);
    const char *message = luaL_checkstring(L, 2);
    mp_push_error(L, kind, "%s", message);
    if (lua_istable(L, 3)) {
        lua_pushnil(L);
        while (lua_next(L, 3)) {
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_settable(L, -4);
        }
    }
    return 1;
}

/* error.location() -> "file:line" of the innermost scenario frame, or nil */
static int l_error_location(lua_State *L)
{
    if (!push_user_location(L))
        lua_pushnil(L);
    return 1;
}

/* error.raise(kind, message [, fields]): raises error.new(kind, message,
 * fields) with `at` (unless fields give one) the innermost scenario line:
 * the one that called into the engine. (A usage error has it from
 * push_error_v, wherever it is raised.) */
static int l_error_raise(lua_State *L)
{
    lua_settop(L, 3);
    l_error_new(L);
    if (lua_getfield(L, -1, "at") == LUA_TNIL && push_user_location(L))
        lua_setfield(L, -3, "at");
    lua_settop(L, 4);
    return lua_error(L);
}

/* error.usage(message): error.raise("usage", message), for a misuse of the
 * API */
static int l_error_usage(lua_State *L)
{
    luaL_checkstring(L, 1);
    lua_settop(L, 1);
    lua_pushliteral(L, "usage");
    lua_insert(L, 1);
    return l_error_raise(L);
}

/* error.is(v [, kind]) -> true when v is an mpod error (of that kind) */
static int l_error_is(lua_State *L)
{
    bool is = false;
    if (lua_type(L, 1) == LUA_TTABLE && lua_getmetatable(L, 1)) {
        luaL_getmetatable(L, ERROR_MT);
        is = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
    }
    if (is && !lua_isnoneornil(L, 2)) {
        lua_getfield(L, 1, "kind");
        is = lua_rawequal(L, -1, 2);
        lua_pop(L, 1);
    }
    lua_pushboolean(L, is);
    return 1;
}

static const luaL_Reg error_functions[] = {
    { "new", l_error_new },
    { "is", l_error_is },
    { "raise", l_error_raise },
    { "usage", l_error_usage },
    { "location", l_error_location },
    { NULL, NULL }
};

int luaopen_mpod_error(lua_State *L)
{
    luaL_newlib(L, error_functions);
    mp_new_class(L, ERROR_MT, NULL, error_meta);
    lua_setfield(L, -2, "metatable");
    return 1;
}
