/*
 * spawn.c: starting programs for mpod.proc.spawn.
 *
 * Everything that can fail or allocate happens before fork: the argv and
 * envp arrays live in userdata on the Lua stack (their strings are anchored
 * by the options table), files are opened and pipes made close-on-exec in
 * the parent and recorded in a plan, so a raise closes them and leaks
 * nothing. The child only dups, resets signals and execs; if exec fails it
 * writes errno to a close-on-exec pipe the parent reads, and the parent
 * raises "cannot run <program>: <reason>".
 */
#include "spawn.h"

#include "mpod.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef struct {
    const char **argv;
    char **envp;
    const char *cwd;
    int child_fd[3];      /* what becomes fd 0..2 in the child, -1 inherit */
    int parent_fd[3];     /* the parent's ends of pipes, -1 none */
    bool new_group, new_session, stderr_to_stdout;
    int death_signal;     /* sent to it when this process dies, 0 none */
} spawn_plan;

static void close_plan(spawn_plan *p)
{
    for (int i = 0; i < 3; i++) {
        if (p->child_fd[i] >= 0)
            close(p->child_fd[i]);
        if (p->parent_fd[i] >= 0)
            close(p->parent_fd[i]);
        p->child_fd[i] = p->parent_fd[i] = -1;
    }
}

static int plan_fail(lua_State *L, spawn_plan *p, const char *what,
                     const char *name)
{
    int err = errno;
    close_plan(p);
    return mp_raise(L, "spawn", "%s %s: %s", what, name, strerror(err));
}

/* Set up fd `which` (0 stdin, 1 stdout, 2 stderr) from option `name`. */
static void plan_stdio(lua_State *L, spawn_plan *p, int opts, int which,
                       const char *name, const char *def)
{
    lua_getfield(L, opts, name);
    if (lua_isinteger(L, -1)) {               /* an fd of ours, shared */
        p->child_fd[which] = fcntl((int)lua_tointeger(L, -1),
                                   F_DUPFD_CLOEXEC, 3);
        if (p->child_fd[which] < 0)
            plan_fail(L, p, "dup fd for", name);
        lua_pop(L, 1);
        return;
    }
    const char *mode = luaL_optstring(L, -1, def);
    int fds[2];
    if (strcmp(mode, "inherit") == 0) {
        /* nothing to do */
    } else if (strcmp(mode, "null") == 0) {
        p->child_fd[which] = open("/dev/null", (which ? O_WRONLY : O_RDONLY)
                                  | O_CLOEXEC);
        if (p->child_fd[which] < 0)
            plan_fail(L, p, "open", "/dev/null");
    } else if (strcmp(mode, "pipe") == 0) {
        if (pipe2(fds, O_CLOEXEC) < 0)
            plan_fail(L, p, "pipe for", name);
        p->child_fd[which] = which ? fds[1] : fds[0];
        p->parent_fd[which] = which ? fds[0] : fds[1];
    } else if (which == 2 && strcmp(mode, "stdout") == 0) {
        p->stderr_to_stdout = true;
    } else {
        int flags = which ? O_WRONLY | O_CREAT | O_APPEND : O_RDONLY;
        p->child_fd[which] = open(mode, flags | O_CLOEXEC, 0644);
        if (p->child_fd[which] < 0)
            plan_fail(L, p, "open", mode);
    }
    lua_pop(L, 1);
}

/* Build argv from opts.argv or the options' array part. */
static void plan_argv(lua_State *L, spawn_plan *p, int opts)
{
    int list = opts;
    if (lua_getfield(L, opts, "argv") == LUA_TTABLE)
        list = lua_gettop(L);
    lua_Integer n = luaL_len(L, list);
    if (n < 1)
        mp_raise(L, "usage", "spawn needs a program: argv is empty");
    p->argv = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *p->argv, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, list, i);
        if (!lua_isstring(L, -1))
            mp_raise(L, "usage", "argv[%d] is a %s, not a string", (int)i,
                     luaL_typename(L, -1));
        p->argv[i - 1] = lua_tostring(L, -1);   /* anchored by the table */
        lua_pop(L, 1);
    }
    p->argv[n] = NULL;
    lua_insert(L, opts + 1);      /* keep the array alive below the rest */
    if (list != opts)
        lua_pop(L, 1);
}

static bool env_overridden(lua_State *L, int env, const char *entry)
{
    const char *eq = strchr(entry, '=');
    if (!eq || env == 0)
        return false;
    lua_pushlstring(L, entry, (size_t)(eq - entry));
    bool found = lua_rawget(L, env) != LUA_TNIL;
    lua_pop(L, 1);
    return found;
}

/* Build envp: the current environment (unless env_clear) with opts.env on
 * top. Strings built here are anchored in a table left on the stack. */
static void plan_env(lua_State *L, spawn_plan *p, int opts)
{
    int env = lua_getfield(L, opts, "env") == LUA_TTABLE ? lua_gettop(L) : 0;
    bool clear = (lua_getfield(L, opts, "env_clear"), lua_toboolean(L, -1));
    lua_pop(L, 1);
    lua_newtable(L);                       /* anchors the built strings */
    int keep = lua_gettop(L);
    int n = 0;
    for (char **e = environ; !clear && *e; e++)
        if (!env_overridden(L, env, *e)) {
            lua_pushstring(L, *e);
            lua_rawseti(L, keep, ++n);
        }
    for (lua_pushnil(L); env && lua_next(L, env); lua_pop(L, 1)) {
        if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1))
            mp_raise(L, "usage", "env entries must be name = string");
        lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
        lua_rawseti(L, keep, ++n);
    }
    p->envp = lua_newuserdatauv(L, (size_t)(n + 1) * sizeof *p->envp, 0);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, keep, i);
        p->envp[i - 1] = (char *)lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    p->envp[n] = NULL;
}

void mp_reset_for_exec(void)
{
    static const int sigs[] = { SIGPIPE, SIGCHLD, SIGINT, SIGTERM, SIGHUP,
                                SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
}

static void child_exec(const spawn_plan *p, int errfd, pid_t parent)
{
    if (p->new_session)
        setsid();
    else if (p->new_group)
        setpgid(0, 0);
    if (p->death_signal) {
        prctl(PR_SET_PDEATHSIG, p->death_signal);
        if (getppid() != parent)
            _exit(127);
    }
    for (int i = 0; i < 3; i++)
        if (p->child_fd[i] >= 0)
            dup2(p->child_fd[i], i);
    if (p->stderr_to_stdout)
        dup2(1, 2);
    mp_reset_for_exec();
    if (p->cwd && chdir(p->cwd) < 0)
        goto fail;
    execvpe(p->argv[0], (char *const *)p->argv, p->envp);
fail:;
    int err = errno;
    ssize_t ignored = write(errfd, &err, sizeof err);
    (void)ignored;
    _exit(127);
}

/* opts.die_with_parent: true (SIGKILL) or the number of the signal the
 * program gets when the process that started it dies */
static void read_death_signal(lua_State *L, spawn_plan *p, int opts)
{
    lua_getfield(L, opts, "die_with_parent");
    if (lua_isinteger(L, -1)) {
        lua_Integer sig = lua_tointeger(L, -1);
        if (sig < 1 || sig > 64)
            mp_raise(L, "usage", "die_with_parent: %d is not a signal", (int)sig);
        p->death_signal = (int)sig;
    } else {
        p->death_signal = lua_toboolean(L, -1) ? SIGKILL : 0;
    }
    lua_pop(L, 1);
}

static void read_plan(lua_State *L, spawn_plan *p, int opts)
{
    plan_argv(L, p, opts);
    plan_env(L, p, opts);
    lua_getfield(L, opts, "cwd");
    p->cwd = lua_tostring(L, -1);          /* anchored by opts */
    lua_getfield(L, opts, "group");
    p->new_group = lua_isnil(L, -1) || lua_toboolean(L, -1);
    lua_getfield(L, opts, "session");
    p->new_session = lua_toboolean(L, -1);
    lua_pop(L, 3);
    read_death_signal(L, p, opts);
    plan_stdio(L, p, opts, 0, "stdin", "null");
    plan_stdio(L, p, opts, 1, "stdout", "inherit");
    plan_stdio(L, p, opts, 2, "stderr", "inherit");
}

/* Push the parent's end of stdio fd i as a stream, or nil. */
static void push_parent_end(lua_State *L, int fd)
{
    if (fd < 0)
        lua_pushnil(L);
    else
        mp_push_stream(L, fd);
}

/* Wait for the exec report: 0 when exec succeeded, else the child's errno
 * (the failed child is reaped here). */
static int exec_result(pid_t pid, int errfd)
{
    int err = 0;
    ssize_t n;
    do
        n = read(errfd, &err, sizeof err);
    while (n < 0 && errno == EINTR);
    close(errfd);
    if (n == (ssize_t)sizeof err) {
        waitpid(pid, NULL, 0);
        return err ? err : EIO;
    }
    return 0;
}

pid_t mp_spawn_from_table(lua_State *L, int idx)
{
    int opts = lua_absindex(L, idx);
    luaL_checktype(L, opts, LUA_TTABLE);
    spawn_plan p = { .child_fd = { -1, -1, -1 }, .parent_fd = { -1, -1, -1 } };
    read_plan(L, &p, opts);
    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) < 0)
        plan_fail(L, &p, "pipe for", "exec report");
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        child_exec(&p, errpipe[1], parent);
    close(errpipe[1]);
    if (pid < 0) {
        close(errpipe[0]);
        plan_fail(L, &p, "fork for", p.argv[0]);
    }
    if (p.new_group && !p.new_session)
        setpgid(pid, pid);
    int err = exec_result(pid, errpipe[0]);
    if (err) {
        errno = err;
        plan_fail(L, &p, "cannot run", p.argv[0]);
    }
    for (int i = 0; i < 3; i++) {
        if (p.child_fd[i] >= 0)
            close(p.child_fd[i]);
        push_parent_end(L, p.parent_fd[i]);
    }
    return pid;
}
