/*
 * task.c: the coroutine scheduler and the Lua module mpod.sched.
 *
 * A task is a full userdata ("mpod.Task") whose first user value is its
 * coroutine and whose second is its outcome once finished. An unfinished
 * task is anchored in the registry, so a task nobody references still runs
 * to its end. Tasks wait only through mp_wait_yield; a coroutine.yield at a
 * task's top level is a cooperative "let others run" (sched.yield, which
 * scenario processes install as coroutine.yield, refuses values there).
 *
 * Cancelling a waiting task releases its pending I/O at once and resumes it
 * with the cancellation error, so its Lua frames unwind and to-be-closed
 * variables close; once cancelled, every further wait raises immediately.
 * A task that is cancelled while merely runnable is reset in place.
 *
 * Runaway CPU loops: while the process runs, an interval timer on its user
 * CPU time (ITIMER_VIRTUAL) sends SIGVTALRM every CPU_CHECK_USEC. When the
 * running task is past its deadline, the handler sets a count hook on the
 * task's coroutine (lua_sethook may be called from a signal handler; the
 * VM notices it at the next jump or call, so `while true do end` too). The
 * hook raises a timeout error in the task and keeps firing on every
 * instruction, so a pcall cannot swallow it for long. No hook is set
 * otherwise: a hook set all the time makes the VM check it on every
 * instruction, which cost CPU-bound Lua about a fifth of its speed. The
 * timer counts only CPU time, so a process waiting in poll() gets no
 * signal and no EINTR.
 */
#include "mpod.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define TASK_MT "mpod.Task"
#define COND_MT "mpod.Cond"
#define CPU_CHECK_USEC 50000   /* CPU time between deadline checks */

typedef enum {
    TASK_NEW,       /* created, never resumed */
    TASK_READY,     /* in the ready queue */
    TASK_RUNNING,
    TASK_WAITING,   /* suspended in mp_wait_yield */
    TASK_DONE,
    TASK_FAILED,
    TASK_CANCELLED
} task_state;

static const char *const state_names[] = {
    "ready", "ready", "running", "waiting", "done", "failed", "cancelled"
};

typedef mp_cond_waiter cond_waiter;

struct mp_task {
    lua_State *co;
    int ref;                 /* registry ref while unfinished, else LUA_NOREF */
    task_state state;
    bool cancel_requested;
    bool deadline_hit;       /* the count hook already raised once */
    char deadline_at[160];   /* where the scenario code was looping */
    bool plain_yield;        /* re-queued after a plain coroutine.yield */
    char cancel_reason[96];
    mp_wait *wait;
    mp_task *next_ready;
    int nargs;               /* values on co's stack for the next resume */
    double deadline;         /* CPU deadline (0: none), inherited by spawns */
    unsigned long id;
    mp_cond done;
};

static struct {
    lua_State *L;            /* the thread that runs the scheduler */
    mp_task *current;
    mp_task *ready_head, *ready_tail;
    unsigned long next_id;
} sched;

/* ---- ready queue ---- */

static void enqueue(mp_task *t, task_state state)
{
    t->state = state;
    t->next_ready = NULL;
    if (sched.ready_tail)
        sched.ready_tail->next_ready = t;
    else
        sched.ready_head = t;
    sched.ready_tail = t;
}

static mp_task *dequeue(void)
{
    mp_task *t = sched.ready_head;
    if (t) {
        sched.ready_head = t->next_ready;
        if (!sched.ready_head)
            sched.ready_tail = NULL;
        t->next_ready = NULL;
    }
    return t;
}

/* ---- waits ---- */

static void make_ready(mp_task *t)
{
    t->wait = NULL;
    t->nargs = 0;
    enqueue(t, TASK_READY);
}

static void wait_timed_out(void *arg)
{
    mp_wait *w = arg;
    w->timer = NULL;         /* the loop frees a fired timer */
    if (w->wake != MP_WAKE_NONE)
        return;
    if (w->release)
        w->release(w);
    w->wake = MP_WAKE_TIMEOUT;
    make_ready(w->task);
}

void mp_wait_wake(mp_wait *w)
{
    if (w->wake != MP_WAKE_NONE || !w->task)
        return;
    w->wake = MP_WAKE_DONE;
    mp_timer_cancel(w->timer);
    w->timer = NULL;
    make_ready(w->task);
}

static int raise_cancelled(lua_State *L, mp_task *t)
{
    if (t->cancel_reason[0])
        mp_push_error(L, "cancelled", "task cancelled: %s", t->cancel_reason);
    else
        mp_push_error(L, "cancelled", "task cancelled");
    return lua_error(L);
}

mp_task *mp_task_current(lua_State *L)
{
    mp_task *t = sched.current;
    return (t && t->co == L) ? t : NULL;
}

void mp_task_require(lua_State *L, const char *what)
{
    mp_task *t = mp_task_current(L);
    if (t && t->cancel_requested)
        raise_cancelled(L, t);
    if (t)
        return;
    if (sched.current)
        mp_raise(L, "usage", "%s cannot wait inside a coroutine of your own; "
                 "use mp.spawn for concurrency", what);
    mp_raise(L, "usage", "%s must run inside a test, a hook or an mp.spawn "
             "task", what);
}

int mp_wait_yield(lua_State *L, mp_wait *w, double timeout,
                  lua_KContext ctx, lua_KFunction k)
{
    mp_task_require(L, "this operation");
    mp_task *t = sched.current;
    w->task = t;
    w->wake = MP_WAKE_NONE;
    w->timer = timeout >= 0 ? mp_timer_add(mp_now() + timeout,
                                           wait_timed_out, w) : NULL;
    t->wait = w;
    t->state = TASK_WAITING;
    return lua_yieldk(L, 0, ctx, k);
}

mp_wake mp_wait_check(lua_State *L, mp_wait *w)
{
    if (w->wake == MP_WAKE_CANCELLED)
        return (mp_wake)raise_cancelled(L, w->task);
    return w->wake;
}

/* ---- conds ---- */

static void cond_unlink(cond_waiter *cw)
{
    mp_cond *c = cw->cond;
    if (!c)
        return;
    if (cw->prev)
        cw->prev->next = cw->next;
    else
        c->head = cw->next;
    if (cw->next)
        cw->next->prev = cw->prev;
    else
        c->tail = cw->prev;
    cw->prev = cw->next = NULL;
    cw->cond = NULL;
}

static void cond_release(mp_wait *w)
{
    cond_unlink((cond_waiter *)w);
}

/* Append cw to c's waiters (first come, first woken). */
static void cond_park(mp_cond *c, cond_waiter *cw)
{
    memset(cw, 0, sizeof *cw);
    cw->w.release = cond_release;
    cw->cond = c;
    cw->prev = c->tail;
    if (c->tail)
        c->tail->next = cw;
    else
        c->head = cw;
    c->tail = cw;
}

/* Wake every waiter (all = true) or the longest-waiting one, in order. */
static void cond_wake(mp_cond *c, bool all)
{
    while (c->head) {
        cond_waiter *cw = c->head;
        cond_unlink(cw);
        mp_wait_wake(&cw->w);
        if (!all)
            break;
    }
}

int mp_cond_wait(lua_State *L, mp_cond *c, mp_cond_waiter *cw,
                 double timeout, lua_KContext ctx, lua_KFunction k)
{
    mp_task_require(L, "this operation");
    cond_park(c, cw);
    return mp_wait_yield(L, &cw->w, timeout, ctx, k);
}

void mp_cond_broadcast(mp_cond *c)
{
    cond_wake(c, true);
}

/* ---- finishing ---- */

/* Store the outcome table as the task's second user value. Expects the task
 * userdata at the top of sched.L. */
static void store_outcome(lua_State *L, mp_task *t, int status, int nres)
{
    lua_createtable(L, nres, 3);
    if (status == LUA_OK) {
        lua_pushstring(L, t->cancel_requested ? "cancelled" : "done");
        lua_setfield(L, -2, "status");
        lua_xmove(t->co, L, nres);
        for (int i = nres; i >= 1; i--)
            lua_rawseti(L, -(i + 1), i);
        lua_pushinteger(L, nres);
        lua_setfield(L, -2, "n");
    } else {
        lua_pushstring(L, t->cancel_requested ? "cancelled" : "failed");
        lua_setfield(L, -2, "status");
        lua_xmove(t->co, L, 1);
        lua_setfield(L, -2, "err");
        luaL_traceback(L, t->co, NULL, 0);
        lua_setfield(L, -2, "traceback");
    }
    lua_setiuservalue(L, -2, 2);
}

static void finish(mp_task *t, int status, int nres)
{
    lua_State *L = sched.L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref);
    store_outcome(L, t, status, nres);
    lua_resetthread(t->co);  /* closes pending to-be-closed variables */
    if (t->cancel_requested)
        t->state = TASK_CANCELLED;
    else
        t->state = status == LUA_OK ? TASK_DONE : TASK_FAILED;
    lua_pushnil(L);
    lua_setiuservalue(L, -2, 1);
    lua_pop(L, 1);
    luaL_unref(L, LUA_REGISTRYINDEX, t->ref);
    t->ref = LUA_NOREF;
    t->co = NULL;
    cond_wake(&t->done, true);
}

/* A task cancelled before its next real wait: reset it in place. */
static void finish_cancelled(mp_task *t)
{
    lua_pushnil(t->co);
    finish(t, LUA_ERRRUN, 0);
}

static void resume(mp_task *t)
{
    if (t->cancel_requested && t->plain_yield) {
        finish_cancelled(t);
        return;
    }
    t->plain_yield = false;
    int nargs = t->nargs, nres = 0;
    mp_task *prev = sched.current;
    sched.current = t;
    t->state = TASK_RUNNING;
    t->nargs = 0;
    int status = lua_resume(t->co, sched.L, nargs, &nres);
    sched.current = prev;
    if (status == LUA_YIELD) {
        if (t->state == TASK_RUNNING) {   /* a plain coroutine.yield */
            lua_pop(t->co, nres);
            t->plain_yield = true;
            enqueue(t, TASK_READY);
        }
        return;
    }
    finish(t, status, nres);
}

/* ---- cancelling ---- */

static void cancel(mp_task *t, const char *reason)
{
    if (t->state >= TASK_DONE || t->cancel_requested)
        return;
    t->cancel_requested = true;
    if (reason)
        snprintf(t->cancel_reason, sizeof t->cancel_reason, "%s", reason);
    if (t->state == TASK_NEW) {
        t->state = TASK_READY;   /* skipped when dequeued */
        finish_cancelled(t);
    } else if (t->state == TASK_WAITING) {
        mp_wait *w = t->wait;
        mp_timer_cancel(w->timer);
        w->timer = NULL;
        if (w->release)
            w->release(w);
        w->wake = MP_WAKE_CANCELLED;
        make_ready(t);
    }
}

/* ---- stopping Lua code past its deadline ---- */

/* Raise the timeout in the running task once it is past its deadline; in
 * any other coroutine, or before the deadline (after a new one was set),
 * take the hook away again. */
static void deadline_hook(lua_State *L, lua_Debug *ar)
{
    mp_task *t = sched.current;
    if (!t || t->co != L || t->deadline <= 0 || mp_now() < t->deadline) {
        lua_sethook(L, NULL, 0, 0);
        return;
    }
    if (!t->deadline_hit) {
        t->deadline_hit = true;
        if (lua_getinfo(L, "Sl", ar) && ar->source[0] == '@' &&
            ar->currentline > 0)
            snprintf(t->deadline_at, sizeof t->deadline_at, "%s:%d",
                     ar->short_src, ar->currentline);
    }
    mp_push_error(L, "timeout", "time limit reached while running Lua code "
                  "without waiting (a busy loop?)");
    mp_error_set_string(L, "at", t->deadline_at[0] ? t->deadline_at : NULL);
    lua_error(L);
}

/* SIGVTALRM: the process has used another CPU_CHECK_USEC of CPU. */
static void on_cpu_tick(int sig)
{
    (void)sig;
    mp_task *t = *(mp_task *volatile *)&sched.current;
    if (t && t->co && t->deadline > 0 && mp_now() >= t->deadline)
        lua_sethook(t->co, deadline_hook, LUA_MASKCOUNT, 1);
}

/* Start the CPU-time ticks in this process, once (a forked child has no
 * timer of its parent's). */
static void watch_cpu_time(void)
{
    static unsigned long watching;
    unsigned long me = mp_fork_generation();
    if (watching == me)
        return;
    struct sigaction tick = { .sa_handler = on_cpu_tick, .sa_flags = SA_RESTART };
    sigemptyset(&tick.sa_mask);
    struct itimerval every = { { 0, CPU_CHECK_USEC }, { 0, CPU_CHECK_USEC } };
    if (sigaction(SIGVTALRM, &tick, NULL) == 0 &&
        setitimer(ITIMER_VIRTUAL, &every, NULL) == 0)
        watching = me;
}

/* ---- creating and running ---- */

static mp_task *check_task(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, TASK_MT);
}

/* Create a task for the function at stack index fn_idx with the nargs
 * values above it; pops them and pushes the task. */
static mp_task *spawn(lua_State *L, int nargs)
{
    int fn_idx = lua_gettop(L) - nargs;
    luaL_checktype(L, fn_idx, LUA_TFUNCTION);
    mp_task *t = lua_newuserdatauv(L, sizeof *t, 3);
    memset(t, 0, sizeof *t);
    luaL_setmetatable(L, TASK_MT);
    t->co = lua_newthread(L);
    lua_setiuservalue(L, -2, 1);
    t->id = ++sched.next_id;
    mp_task *parent = sched.current;
    t->deadline = parent ? parent->deadline : 0;
    lua_insert(L, fn_idx);                 /* task, fn, args... */
    lua_xmove(L, t->co, nargs + 1);
    t->nargs = nargs;
    lua_pushvalue(L, -1);
    t->ref = luaL_ref(L, LUA_REGISTRYINDEX);
    enqueue(t, TASK_NEW);
    return t;
}

/* Run the ready queue until it is empty or `root` finished. */
static void run_ready(mp_task *root)
{
    mp_task *t;
    while (root->state < TASK_DONE && (t = dequeue())) {
        if (t->state == TASK_NEW || t->state == TASK_READY)
            resume(t);
    }
}

static void cancel_deadlocked(mp_task *root)
{
    cancel(root, "deadlock: every task is waiting and nothing can wake it");
}

/* Push a finished task's outcome: "done" and its results, or the status
 * ("failed", "cancelled"), the error value and the traceback. */
static int push_outcome(lua_State *L, int task_idx)
{
    lua_getiuservalue(L, task_idx, 2);
    int out = lua_gettop(L);
    lua_getfield(L, out, "status");
    if (lua_getfield(L, out, "n") == LUA_TNUMBER &&
        strcmp(lua_tostring(L, -2), "done") == 0) {
        int k = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
        luaL_checkstack(L, k, "too many results");
        for (int i = 1; i <= k; i++)
            lua_rawgeti(L, out, i);
        lua_remove(L, out);
        return 1 + k;
    }
    lua_pop(L, 1);
    lua_getfield(L, out, "err");
    lua_getfield(L, out, "traceback");
    lua_remove(L, out);
    return 3;
}

int mp_sched_run(lua_State *L, int nargs)
{
    if (sched.L)
        return luaL_error(L, "the scheduler is already running");
    sched.L = L;
    mp_task *root = spawn(L, nargs);
    int task_idx = lua_gettop(L);
    while (root->state < TASK_DONE) {
        run_ready(root);
        if (root->state >= TASK_DONE)
            break;
        if (!sched.ready_head && mp_loop_idle()) {
            cancel_deadlocked(root);
            continue;
        }
        if (mp_loop_step(sched.ready_head ? 0 : -1) < 0)
            cancel(root, "the event loop failed");
    }
    sched.L = NULL;
    return push_outcome(L, task_idx);
}

void mp_sched_forget(void)
{
    memset(&sched, 0, sizeof sched);
}

/* ---- Lua API: mpod.sched ---- */

static int sleep_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    mp_wait_check(L, (mp_wait *)ctx);
    return 0;
}

/* sched.yield(...): coroutine.yield as scenario code gets it. In a
 * coroutine of the user's own it is coroutine.yield. At a task's top
 * level the scheduler resumes the task with nothing: a bare call lets the
 * other ready tasks run, and values raise, since nothing would receive
 * them (a generator called directly in a test instead of through
 * coroutine.wrap). */
static int l_yield(lua_State *L)
{
    int n = lua_gettop(L);
    if (n > 0 && mp_task_current(L))
        return mp_raise(L, "usage", "coroutine.yield with values in a test, a hook "
                        "or a task: nothing receives them (a bare coroutine.yield() "
                        "lets the other tasks run; a generator needs a coroutine of "
                        "its own, e.g. coroutine.wrap)");
    return lua_yield(L, n);
}

/* sched.sleep(seconds): yields the task for that long. */
static int l_sleep(lua_State *L)
{
    double seconds = luaL_checknumber(L, 1);
    mp_task_require(L, "mp.sleep");
    mp_wait *w = lua_newuserdatauv(L, sizeof *w, 0);
    memset(w, 0, sizeof *w);
    return mp_wait_yield(L, w, seconds > 0 ? seconds : 0, (lua_KContext)w,
                         sleep_k);
}

static int l_now(lua_State *L)
{
    lua_pushnumber(L, mp_now());
    return 1;
}

static int l_wallclock(lua_State *L)
{
    lua_pushnumber(L, mp_wallclock());
    return 1;
}

/* sched.spawn(fn, ...) -> task */
static int l_spawn(lua_State *L)
{
    spawn(L, lua_gettop(L) - 1);
    return 1;
}

/* sched.run(fn, ...) -> status, results... | status, err, traceback */
static int l_run(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    return mp_sched_run(L, lua_gettop(L) - 1);
}

static int l_current(lua_State *L)
{
    if (!sched.current)
        return 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, sched.current->ref);
    return 1;
}

/* -- tasks -- */

static int join_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    if (mp_wait_check(L, (mp_wait *)ctx) == MP_WAKE_TIMEOUT) {
        lua_pushliteral(L, "timeout");
        return 1;
    }
    return push_outcome(L, 1);
}

/* task:join([timeout]) -> "done", results... | "failed"|"cancelled", err,
 * traceback | "timeout" */
static int l_task_join(lua_State *L)
{
    mp_task *t = check_task(L, 1);
    double timeout = luaL_optnumber(L, 2, -1);
    lua_settop(L, 2);
    if (t->state >= TASK_DONE)
        return push_outcome(L, 1);
    mp_task_require(L, "task:wait");
    if (t == sched.current)
        mp_raise(L, "usage", "a task cannot wait for itself");
    cond_waiter *cw = lua_newuserdatauv(L, sizeof *cw, 0);
    return mp_cond_wait(L, &t->done, cw, timeout, (lua_KContext)cw, join_k);
}

/* task:cancel([reason]): cancelling the running task raises at once. */
static int l_task_cancel(lua_State *L)
{
    mp_task *t = check_task(L, 1);
    const char *reason = luaL_optstring(L, 2, NULL);
    if (t == sched.current) {
        t->cancel_requested = true;
        if (reason)
            snprintf(t->cancel_reason, sizeof t->cancel_reason, "%s", reason);
        return raise_cancelled(L, t);
    }
    cancel(t, reason);
    return 0;
}

static int l_task_status(lua_State *L)
{
    mp_task *t = check_task(L, 1);
    lua_pushstring(L, state_names[t->state]);
    return 1;
}

static int l_task_id(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)check_task(L, 1)->id);
    return 1;
}

/* task:name([name]) -> the name (default "task#<id>") */
static int l_task_name(lua_State *L)
{
    mp_task *t = check_task(L, 1);
    if (!lua_isnoneornil(L, 2)) {
        luaL_checkstring(L, 2);
        lua_pushvalue(L, 2);
        lua_setiuservalue(L, 1, 3);
    }
    if (lua_getiuservalue(L, 1, 3) == LUA_TNIL)
        lua_pushfstring(L, "task#%d", (int)t->id);
    return 1;
}

/* task:set_deadline(at|nil): the monotonic time after which Lua code that
 * does not wait is stopped; tasks spawned later inherit it. */
static int l_task_set_deadline(lua_State *L)
{
    mp_task *t = check_task(L, 1);
    t->deadline = luaL_optnumber(L, 2, 0);
    if (t->deadline > 0)
        watch_cpu_time();
    if (t->deadline_hit && t->co) {
        t->deadline_hit = false;
        t->deadline_at[0] = '\0';
        lua_sethook(t->co, NULL, 0, 0);
    }
    return 0;
}

static int l_task_deadline(lua_State *L)
{
    mp_task *t = check_task(L, 1);
    if (t->deadline <= 0)
        return 0;
    lua_pushnumber(L, t->deadline);
    return 1;
}

/* task:traceback() -> where the unfinished task is (its stack), or nil */
static int l_task_traceback(lua_State *L)
{
    mp_task *t = check_task(L, 1);
    if (!t->co || t->state >= TASK_DONE)
        return 0;
    luaL_traceback(L, t->co, NULL, 0);
    return 1;
}

static int l_task_tostring(lua_State *L)
{
    mp_task *t = check_task(L, 1);
    l_task_name(L);
    lua_pushfstring(L, "%s (%s)", lua_tostring(L, -1), state_names[t->state]);
    return 1;
}

/* -- conds -- */

static int l_cond_new(lua_State *L)
{
    mp_cond *c = lua_newuserdatauv(L, sizeof *c, 0);
    c->head = c->tail = NULL;
    luaL_setmetatable(L, COND_MT);
    return 1;
}

static int cond_wait_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    lua_pushboolean(L, mp_wait_check(L, (mp_wait *)ctx) == MP_WAKE_DONE);
    return 1;
}

/* cond:wait([timeout]) -> true when signalled, false on timeout */
static int l_cond_wait(lua_State *L)
{
    mp_cond *c = luaL_checkudata(L, 1, COND_MT);
    double timeout = luaL_optnumber(L, 2, -1);
    lua_settop(L, 2);
    mp_task_require(L, "cond:wait");
    cond_waiter *cw = lua_newuserdatauv(L, sizeof *cw, 0);
    return mp_cond_wait(L, c, cw, timeout, (lua_KContext)cw, cond_wait_k);
}

static int l_cond_broadcast(lua_State *L)
{
    cond_wake(luaL_checkudata(L, 1, COND_MT), true);
    return 0;
}

static int l_cond_signal(lua_State *L)
{
    cond_wake(luaL_checkudata(L, 1, COND_MT), false);
    return 0;
}

static const luaL_Reg task_methods[] = {
    { "join", l_task_join },
    { "cancel", l_task_cancel },
    { "status", l_task_status },
    { "id", l_task_id },
    { "name", l_task_name },
    { "set_deadline", l_task_set_deadline },
    { "deadline", l_task_deadline },
    { "traceback", l_task_traceback },
    { NULL, NULL }
};

static const luaL_Reg task_meta[] = {
    { "__tostring", l_task_tostring },
    { NULL, NULL }
};

static const luaL_Reg cond_methods[] = {
    { "wait", l_cond_wait },
    { "broadcast", l_cond_broadcast },
    { "signal", l_cond_signal },
    { NULL, NULL }
};

static const luaL_Reg sched_functions[] = {
    { "now", l_now },
    { "wallclock", l_wallclock },
    { "sleep", l_sleep },
    { "yield", l_yield },
    { "spawn", l_spawn },
    { "run", l_run },
    { "current", l_current },
    { "cond", l_cond_new },
    { NULL, NULL }
};

int luaopen_mpod_sched(lua_State *L)
{
    mp_new_class(L, TASK_MT, task_methods, task_meta);
    lua_getfield(L, -1, "__index");        /* Lua adds wait() and friends */
    mp_new_class(L, COND_MT, cond_methods, NULL);
    lua_pop(L, 1);
    luaL_newlib(L, sched_functions);
    lua_insert(L, -3);                      /* sched, Task mt, methods */
    lua_setfield(L, -3, "Task");
    lua_pop(L, 1);
    return 1;
}
