/*
 * child.h: forking the engine to run one scenario file (child.c). Used by
 * proc.c (proc.fork_child) and main.c; child.c itself knows nothing of
 * proc.c: what the caller must forget in the child, it passes in.
 */
#ifndef MPOD_CHILD_H
#define MPOD_CHILD_H

#include <stddef.h>
#include <sys/types.h>

/* Fork a child that runs the Lua module mpod.scenario.child with `payload`,
 * talking to the parent over a socketpair; *channel gets the parent's end.
 * In the child, `forget` (if not NULL) runs before any Lua, with the loop's
 * and the scheduler's own forgetting: it drops the caller's records of the
 * parent's world (its processes, its signal pipes). Returns the pid, or -1
 * with errno. */
pid_t mp_fork_child(const char *payload, size_t len, int *channel,
                    void (*forget)(void));

/* Release the pristine Lua state children are forked with (at exit). */
void mp_child_template_close(void);

#endif
