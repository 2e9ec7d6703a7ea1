/*
 * child.c: the forked child that runs one scenario file.
 *
 * The runner forks the engine itself (libraries stay loaded), and the child
 * leaves the parent's world behind before touching Lua: its own process
 * group (so a file timeout kills everything it started), death with the
 * runner (PR_SET_PDEATHSIG), default signal
 * handling, stdout pointed at stderr (stdout belongs to the runner's TAP),
 * every inherited fd closed but the channel to the runner, and the loop,
 * scheduler and process table forgotten. It then runs mpod.scenario.child's
 * main with {channel = fd, payload = text}.
 *
 * The Lua state a child runs in is the template: a state the runner built
 * once, with mpod.scenario.child and the scenario API's modules already
 * loaded, and never runs anything in. Every child gets its own copy of it through
 * fork, pristine, so files stay isolated while none pays for building a
 * state and loading the engine's modules again.
 *
 * What else the child inherits (the runner's Lua state, libcurl's multi,
 * process records, libpq connections and cancel threads) it leaves as it
 * is until _exit, never running or freeing it. Closing it would run
 * finalizers written for the runner in the wrong process: close the
 * runner's fd numbers, which may be the child's own files by then, stop
 * curl transfers and join resolver or cancel threads that a fork does
 * not copy (the join would never return), say goodbye on the runner's
 * Postgres connections, run a cluster file's own __gc. Nothing needs that
 * memory back: its pages stay shared with the runner until written, and
 * _exit returns them. So it stays reachable instead, for leak checkers to
 * tell from the child's own leaks: `inherited` in http.c and proc.c keeps
 * their C-side records; the runner's Lua state is on this process's stack,
 * and tests/valgrind.supp says why valgrind counts its blocks "possibly
 * lost" (LeakSanitizer follows the same pointers and finds them).
 */
#include "child.h"

#include "host.h"
#include "mpod.h"
#include "spawn.h"

#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* LeakSanitizer checks a process in an atexit handler, which _exit skips;
 * a sanitized child asks for the check itself. */
#if defined(__SANITIZE_ADDRESS__)
#define LEAK_CHECKED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define LEAK_CHECKED 1
#endif
#endif
#ifdef LEAK_CHECKED
#include <sanitizer/lsan_interface.h>
#endif
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define UNDER_VALGRIND() RUNNING_ON_VALGRIND
#endif
#endif
#ifndef UNDER_VALGRIND
#define UNDER_VALGRIND() 0
#endif

static void leave_parent_world(int channel, pid_t parent,
                               void (*forget)(void))
{
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);     /* never outlive the runner */
    if (getppid() != parent)
        _exit(MP_EXIT_INTERNAL);
    mp_reset_for_exec();          /* signals to default, fds marked cloexec */
    signal(SIGPIPE, SIG_IGN);
    if (channel > 3)
        close_range(3, (unsigned)channel - 1, 0);
    close_range((unsigned)channel + 1, ~0U, 0);
    dup2(2, 1);
    mp_loop_forget();
    mp_sched_forget();
    if (forget)
        forget();
}

static lua_State *template_state;

/* The modules the template loads: the child's main, and the scenario API
 * every file requires, so no child loads them again. (mpod loads the rest
 * of the API on first use: mp.http, mp.pg, mp.cluster, mp.exec. Loading
 * those here too made every child's fork and exit dearer by more than
 * loading them in the files that use them.) */
static const char *const template_modules[] = { "mpod.scenario.child", "mpod", NULL };

/* The template state, built on first use; NULL if it cannot be (children
 * then build their own). */
static lua_State *child_template(void)
{
    if (template_state)
        return template_state;
    lua_State *L = mp_host_new();
    if (!L)
        return NULL;
    for (const char *const *m = template_modules; *m; m++) {
        lua_getglobal(L, "require");
        lua_pushstring(L, *m);
        if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
            lua_close(L);
            return NULL;
        }
    }
    template_state = L;
    return L;
}

void mp_child_template_close(void)
{
    if (template_state)
        lua_close(template_state);
    template_state = NULL;
}

/* Close the child's state: its to-be-closed variables and finalizers run
 * (a file left open is flushed, Postgres is told goodbye). Unless a leak
 * checker watches, no block is freed: the process ends next, and freeing
 * the blocks it inherited from the runner would first copy each of their
 * pages (copy-on-write). For 200 trivial files that was 6.2k of 49k page
 * faults (bench/README.md, "core"). */
static void close_child_state(lua_State *L)
{
#ifndef LEAK_CHECKED
    if (!UNDER_VALGRIND())
        mp_host_skip_frees();
#endif
    lua_close(L);
}

static void child_main(int channel, pid_t parent, const char *payload,
                       size_t len, void (*forget)(void))
{
    leave_parent_world(channel, parent, forget);
    lua_State *L = template_state ? template_state : mp_host_new();
    if (!L)
        _exit(MP_EXIT_INTERNAL);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, channel);
    lua_setfield(L, -2, "channel");
    lua_pushlstring(L, payload, len);
    lua_setfield(L, -2, "payload");
    int rc = mp_host_run(L, "mpod.scenario.child", -1);
    close_child_state(L);
    fflush(stderr);
#ifdef LEAK_CHECKED
    __lsan_do_leak_check();
#endif
    _exit(rc);
}

pid_t mp_fork_child(const char *payload, size_t len, int *channel,
                    void (*forget)(void))
{
    int sv[2];
    child_template();
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        child_main(sv[1], parent, payload, len, forget);
    }
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        return -1;
    }
    setpgid(pid, pid);
    *channel = sv[0];
    return pid;
}
