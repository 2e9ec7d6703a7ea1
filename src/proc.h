/*
 * proc.h: process creation shared by proc.c (the Lua module), spawn.c
 * (fork + exec of programs) and child.c (the forked scenario child).
 */
#ifndef MPOD_PROC_H
#define MPOD_PROC_H

#include <lua.h>
#include <stddef.h>
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

/* Fork a child that runs the Lua module mpod.scenario.child with `payload`,
 * talking to the parent over a socketpair; *channel gets the parent's end.
 * Returns the pid, or -1 with errno. */
pid_t mp_fork_child(const char *payload, size_t len, int *channel);

/* Release the pristine Lua state children are forked with (at exit). */
void mp_child_template_close(void);

/* In a forked child: forget the parent's process records and handler. */
void mp_proc_forget(void);

/* "TERM" for SIGTERM, NULL for an unknown number. */
const char *mp_signal_name(int sig);

/* Between fork and exec: default signal dispositions, empty mask, every
 * fd above 2 marked close-on-exec. Async-signal-safe. */
void mp_reset_for_exec(void);

#endif
