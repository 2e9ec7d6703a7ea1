/*
 * spawn.h: starting programs (fork + exec) for mpod.proc, and the reset
 * every forked process does before it runs something else (spawn.c).
 * Depends on nothing else of the engine's process handling: proc.c and
 * child.c use it, it uses neither.
 */
#ifndef MPOD_SPAWN_H
#define MPOD_SPAWN_H

#include <lua.h>
#include <sys/types.h>

/* Start the program described by the options table at idx: argv (or the
 * array part), env, env_clear, cwd, stdin/stdout/stderr ("null", "pipe",
 * "inherit", a file path, an fd number; stderr also "stdout"), group (own
 * process group, default true), session (setsid), die_with_parent (true
 * for SIGKILL, or the number of the signal it gets when its parent dies).
 * Pushes three values: the parent's streams for stdin, stdout and stderr,
 * nil where not piped.
 * Returns the pid; raises on a bad option or when the program cannot run. */
pid_t mp_spawn_from_table(lua_State *L, int idx);

/* In a freshly forked process: default signal dispositions, empty mask,
 * every fd above 2 marked close-on-exec. Async-signal-safe. */
void mp_reset_for_exec(void);

#endif
