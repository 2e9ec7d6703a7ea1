/*
 * mpod.h: the interfaces the C host's files share.
 *
 * Three layers meet here. The event loop (loop.c) owns one poll set and one
 * timer heap per process. The task scheduler (task.c) runs Lua coroutines
 * over that loop: a binding that must wait for I/O fills an mp_wait, yields
 * through mp_wait_yield, and later calls mp_wait_wake from a loop callback;
 * the task resumes in the binding's continuation, which turns the finished
 * I/O into Lua values. Errors (error.c) are tables with the metatable
 * "mpod.Error" carrying at least `kind` and `message`.
 *
 * Invariants: loop callbacks never call into Lua; only continuations (which
 * run inside a resumed task, under the scheduler's protection) build Lua
 * values or raise. Every Lua module written in C is a luaopen_mpod_* function,
 * registered in package.preload by the generated table host.c reads.
 */
#ifndef MPOD_H
#define MPOD_H

#include <lua.h>
#include <lauxlib.h>
#include <stdbool.h>
#include <stddef.h>

/* ---- loop.c: one poll(2) loop with timers per process ---------------- */

typedef struct mp_timer mp_timer;
typedef void (*mp_timer_fn)(void *arg);
typedef void (*mp_io_fn)(void *arg, int fd, int revents);

double mp_now(void);                 /* CLOCK_MONOTONIC, in seconds */
double mp_wallclock(void);           /* CLOCK_REALTIME, in seconds */

/* Start a one-shot timer at the absolute monotonic time `at`. The timer is
 * released by the loop after it fires; cancel it only before that. */
mp_timer *mp_timer_add(double at, mp_timer_fn fn, void *arg);
void mp_timer_cancel(mp_timer *t);   /* NULL is ignored */

/* Watch fd for POLLIN/POLLOUT (events = 0 stops watching). One watcher per
 * fd; a second call replaces the first. Returns 0, or -1 with errno. */
int mp_io_watch(int fd, short events, mp_io_fn fn, void *arg);

/* Wait at most max_wait seconds (or until the next timer) and dispatch what
 * is ready. Returns the number of callbacks run, -1 on a poll failure. */
int mp_loop_step(double max_wait);
bool mp_loop_idle(void);             /* no timers and no watched fds */
double mp_loop_next_timer(void);     /* absolute time, or -1 without timers */
void mp_loop_forget(void);           /* drop all state (a forked child) */

/* ---- task.c: coroutines scheduled over the loop ----------------------- */

typedef struct mp_task mp_task;
typedef struct mp_wait mp_wait;

typedef enum {
    MP_WAKE_NONE = 0,   /* still waiting */
    MP_WAKE_DONE,       /* the binding called mp_wait_wake */
    MP_WAKE_TIMEOUT,    /* the wait's own timeout passed */
    MP_WAKE_CANCELLED   /* the task was cancelled */
} mp_wake;

/* A pending operation. The binding owns the memory (usually inside a
 * userdata kept on the waiting coroutine's stack) and must keep it valid
 * until its continuation has run. */
struct mp_wait {
    mp_task *task;
    /* Stop the pending I/O after a timeout or a cancel; the binding must not
     * call mp_wait_wake afterwards. May be NULL. Must not call into Lua. */
    void (*release)(mp_wait *w);
    mp_timer *timer;
    mp_wake wake;
};

/* Suspend the running task until mp_wait_wake(w), or `timeout` seconds pass
 * (timeout < 0: no limit). The continuation k runs inside the task when it
 * resumes and must start with mp_wait_check. Raises at once when called
 * outside a task or from a task that was cancelled. */
int mp_wait_yield(lua_State *L, mp_wait *w, double timeout,
                  lua_KContext ctx, lua_KFunction k);

/* The I/O behind w finished: schedule the task. Idempotent; safe from loop
 * callbacks. Only a wait that mp_wait_yield started can be woken: I/O that
 * may finish synchronously must be driven from loop callbacks (or checked
 * before yielding), never completed before the yield. */
void mp_wait_wake(mp_wait *w);

/* In a continuation: raises the cancellation error if the task was
 * cancelled while waiting, else returns MP_WAKE_DONE or MP_WAKE_TIMEOUT. */
mp_wake mp_wait_check(lua_State *L, mp_wait *w);

/* A condition tasks can wait on; C modules embed it in their own state. */
typedef struct mp_cond_waiter mp_cond_waiter;
typedef struct mp_cond {
    mp_cond_waiter *head, *tail;    /* woken in the order they waited */
} mp_cond;

struct mp_cond_waiter {
    mp_wait w;
    mp_cond_waiter *prev, *next;
    mp_cond *cond;
};

/* Park the running task on c and yield (timeout < 0: none). cw must live
 * in memory that stays valid until k runs (a userdata on the task's stack);
 * k starts with mp_wait_check(L, &cw->w). */
int mp_cond_wait(lua_State *L, mp_cond *c, mp_cond_waiter *cw,
                 double timeout, lua_KContext ctx, lua_KFunction k);
void mp_cond_broadcast(mp_cond *c);    /* wake every waiter */

/* The task running L, or NULL outside any task. */
mp_task *mp_task_current(lua_State *L);

/* Raise unless L runs inside a task that may still wait ("what" names the
 * caller in the message); a cancelled task gets its cancellation error. */
void mp_task_require(lua_State *L, const char *what);

/* Run fn (at the top of L's stack) as the root task with nargs arguments
 * below it, driving the loop until the root task finishes. Pushes the
 * root's status string ("done", "failed", "cancelled") and its results or
 * error; returns the number of values pushed. */
int mp_sched_run(lua_State *L, int nargs);

/* Forget the scheduler's state (a forked child starting afresh). */
void mp_sched_forget(void);

/* ---- error.c: structured error values --------------------------------- */

/* Push a new error table {kind=, message=} with the mpod.Error metatable. */
void mp_push_error(lua_State *L, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Push an error as above and raise it. */
int mp_raise(lua_State *L, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

/* Set field `name` of the error table at the top of the stack. */
void mp_error_set_string(lua_State *L, const char *name, const char *value);
void mp_error_set_number(lua_State *L, const char *name, double value);
void mp_error_set_integer(lua_State *L, const char *name, lua_Integer value);

/* ---- shared helpers ---------------------------------------------------- */

/* Create (once) and push the metatable `tname` with the methods in `methods`
 * as its __index, plus the metamethods in `meta`. Leaves it on the stack. */
void mp_new_class(lua_State *L, const char *tname,
                  const luaL_Reg *methods, const luaL_Reg *meta);

/* ---- json.c: JSON text to Lua values and back ------------------------- */

/* Push the null sentinel (mp.null == mp.json.null; also Postgres NULL). */
void mp_push_null(lua_State *L);
bool mp_is_null(lua_State *L, int idx);

/* Decode JSON text and push the value. Raises an mpod error of kind "json"
 * with `message` and `position` (byte offset, line, column) when invalid. */
void mp_json_decode(lua_State *L, const char *text, size_t len);

/* Encode the value at idx and push the text. Raises a "json" error for what
 * JSON cannot hold (functions, cycles, NaN, too deep, mixed tables). */
void mp_json_encode(lua_State *L, int idx);

/* ---- stream.c --------------------------------------------------------- */

/* Push a Stream (mpod.stream) owning fd, made non-blocking and
 * close-on-exec; loads the module first if need be. */
void mp_push_stream(lua_State *L, int fd);
int luaopen_mpod_stream(lua_State *L);

/* ---- sys.c ------------------------------------------------------------ */

/* Keep the running binary open (main calls it first), so sys.self_exe()
 * can still start it after `make` replaced or deleted the file. */
void mp_sys_hold_self_exe(void);

/* Which process of a line of forks this is: a number that changes in every
 * forked child. State kept per process (libcurl's multi, the CPU-time
 * timer) records it, and a child that finds another number knows the state
 * is its parent's. Counted (pthread_atfork) rather than read with
 * getpid(), a system call, since every HTTP request asks. */
unsigned long mp_fork_generation(void);

/* Module openers: every `int luaopen_mpod_x_y(lua_State *L)` in src/ is
 * registered as the module "mpod.x.y" (src/gen_modules.sh). */

#endif
