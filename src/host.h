/*
 * host.h: creating engine Lua states and running their entry points (the
 * CLI in the runner, the scenario runner in each forked child).
 */
#ifndef MPOD_HOST_H
#define MPOD_HOST_H

#include <lua.h>

/* Exit codes (docs/cli.md). */
enum {
    MP_EXIT_OK = 0,
    MP_EXIT_TEST_FAILED = 1,
    MP_EXIT_USAGE = 2,
    MP_EXIT_CLUSTER = 3,
    MP_EXIT_INTERNAL = 4
};

/* A new state with the standard libraries and every engine module in
 * package.preload; NULL when out of memory. */
lua_State *mp_host_new(void);

/* The process ends soon after: from now on closing a state runs its
 * finalizers but frees none of its memory (the kernel takes it back with
 * the process). Not for processes a leak checker watches. */
void mp_host_skip_frees(void);

/* Run require(module).main(value at arg_index) as the root task and drive
 * the scheduler until it ends. Returns main's integer result (0 if it
 * returns none), or MP_EXIT_INTERNAL after printing an unexpected error. */
int mp_host_run(lua_State *L, const char *module, int arg_index);

#endif
