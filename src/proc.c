/*
 * proc.c: the Lua module mpod.proc: child processes and signals.
 *
 * proc.spawn starts a program (fork + exec) in its own process group with
 * its stdio wired to pipes, files or /dev/null; an exec failure is reported
 * through a close-on-exec pipe, so spawn raises "no such file" instead of
 * returning a process that exits 127. proc.fork_child forks the engine
 * itself to run one scenario file in a fresh Lua state (child.c).
 *
 * Exits are collected by a SIGCHLD handler that only writes to a self-pipe;
 * the loop then calls waitpid for each process this module started (never
 * waitpid(-1), so io.popen and os.execute keep their own children). A
 * process record is plain memory on a list, so a Proc collected while its
 * program still runs is reaped later and freed then.
 */
#include "child.h"
#include "mpod.h"
#include "spawn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROC_MT "mpod.Proc"

extern char **environ;

typedef struct proc_record {
    pid_t pid;
    bool exited;
    bool orphaned;            /* its Proc userdata was collected */
    int wait_status;
    mp_cond exit_cond;
    struct proc_record *next;
} proc_record;

typedef struct {
    proc_record *rec;
} proc_handle;

static int caught_pipe[2] = { -1, -1 };   /* proc.catch_signals */

/* A forked child's copy of its parent's records: never used, only kept so
 * leak checkers see them reachable (a record whose Proc was collected is
 * on no other list). child.c says why a child frees nothing it inherits. */
static proc_record *inherited __attribute__((used));

static struct {
    proc_record *records;
    int sigpipe[2];           /* SIGCHLD self-pipe, -1 until set up */
    bool installed;
} procs = { NULL, { -1, -1 }, false };

/* ---- reaping ---- */

static void on_sigchld(int sig)
{
    (void)sig;
    int saved = errno;
    if (procs.sigpipe[1] >= 0) {
        ssize_t ignored = write(procs.sigpipe[1], "c", 1);
        (void)ignored;
    }
    errno = saved;
}

static void unlink_record(proc_record *dead)
{
    for (proc_record **p = &procs.records; *p; p = &(*p)->next)
        if (*p == dead) {
            *p = dead->next;
            return;
        }
}

static void reap_records(void)
{
    proc_record *r = procs.records;
    while (r) {
        proc_record *next = r->next;
        int status;
        if (!r->exited && waitpid(r->pid, &status, WNOHANG) == r->pid) {
            r->exited = true;
            r->wait_status = status;
            mp_cond_broadcast(&r->exit_cond);
            if (r->orphaned) {
                unlink_record(r);
                free(r);
            }
        }
        r = next;
    }
}

static void on_sigpipe_readable(void *arg, int fd, int revents)
{
    (void)arg;
    (void)revents;
    char buf[64];
    while (read(fd, buf, sizeof buf) > 0)
        ;
    reap_records();
}

/* Install the SIGCHLD handler and watch its pipe (once per process). */
static void install_sigchld(void)
{
    if (procs.installed)
        return;
    if (pipe2(procs.sigpipe, O_CLOEXEC | O_NONBLOCK) < 0)
        abort();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    procs.installed = true;
}

/* The loop forgets its watchers in a forked child, so re-watch on use. */
static void watch_sigpipe(void)
{
    install_sigchld();
    mp_io_watch(procs.sigpipe[0], POLLIN, on_sigpipe_readable, NULL);
}

static proc_record *track(pid_t pid)
{
    proc_record *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->pid = pid;
    r->next = procs.records;
    procs.records = r;
    watch_sigpipe();
    return r;
}

/* In a forked scenario child (mp_fork_child): the parent's records, pipes
 * and SIGCHLD handler are not the child's. */
static void forget_parent(void)
{
    inherited = procs.records;    /* the parent's records are not ours */
    procs.records = NULL;
    if (caught_pipe[0] >= 0) {
        close(caught_pipe[0]);
        close(caught_pipe[1]);
        caught_pipe[0] = caught_pipe[1] = -1;
    }
    if (procs.installed) {
        close(procs.sigpipe[0]);
        close(procs.sigpipe[1]);
        procs.sigpipe[0] = procs.sigpipe[1] = -1;
        signal(SIGCHLD, SIG_DFL);
        procs.installed = false;
    }
}

/* ---- signals by name ---- */

static const struct { const char *name; int num; } signal_names[] = {
    { "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
    { "ILL", SIGILL }, { "ABRT", SIGABRT }, { "FPE", SIGFPE },
    { "KILL", SIGKILL }, { "SEGV", SIGSEGV }, { "PIPE", SIGPIPE },
    { "ALRM", SIGALRM }, { "TERM", SIGTERM }, { "USR1", SIGUSR1 },
    { "USR2", SIGUSR2 }, { "CHLD", SIGCHLD }, { "CONT", SIGCONT },
    { "STOP", SIGSTOP }, { "TSTP", SIGTSTP }, { "BUS", SIGBUS },
    { "TRAP", SIGTRAP }, { "SYS", SIGSYS }, { "WINCH", SIGWINCH },
    { NULL, 0 }
};

/* "TERM" for SIGTERM, NULL for an unknown number. */
static const char *signal_name(int sig)
{
    for (int i = 0; signal_names[i].name; i++)
        if (signal_names[i].num == sig)
            return signal_names[i].name;
    return NULL;
}

/* Accepts 9, "9", "KILL", "SIGKILL", "kill"; raises otherwise. */
static int check_signal(lua_State *L, int idx, int def)
{
    if (lua_isnoneornil(L, idx))
        return def;
    if (lua_isinteger(L, idx)) {
        lua_Integer n = lua_tointeger(L, idx);
        luaL_argcheck(L, n > 0 && n < 65, idx, "not a signal number");
        return (int)n;
    }
    const char *name = luaL_checkstring(L, idx);
    if (strncasecmp(name, "SIG", 3) == 0)
        name += 3;
    for (int i = 0; signal_names[i].name; i++)
        if (strcasecmp(signal_names[i].name, name) == 0)
            return signal_names[i].num;
    return luaL_argerror(L, idx, lua_pushfstring(L, "unknown signal '%s'",
                                                 lua_tostring(L, idx)));
}

/* ---- process status ---- */

/* Push {code=} or {signal=, signame=} for a wait status. */
static void push_wait_status(lua_State *L, int status)
{
    lua_createtable(L, 0, 2);
    if (WIFEXITED(status)) {
        lua_pushinteger(L, WEXITSTATUS(status));
        lua_setfield(L, -2, "code");
    } else if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        lua_pushinteger(L, sig);
        lua_setfield(L, -2, "signal");
        const char *name = signal_name(sig);
        lua_pushstring(L, name ? name : "?");
        lua_setfield(L, -2, "signame");
        if (WCOREDUMP(status)) {
            lua_pushboolean(L, 1);
            lua_setfield(L, -2, "core");
        }
    }
}

static proc_handle *check_proc(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, PROC_MT);
}

static void push_proc(lua_State *L, pid_t pid)
{
    proc_handle *h = lua_newuserdatauv(L, sizeof *h, 0);
    h->rec = NULL;
    luaL_setmetatable(L, PROC_MT);
    h->rec = track(pid);
}

static int l_proc_gc(lua_State *L)
{
    proc_handle *h = check_proc(L, 1);
    if (!h->rec)
        return 0;
    if (h->rec->exited) {
        unlink_record(h->rec);
        free(h->rec);
    } else {
        h->rec->orphaned = true;
    }
    h->rec = NULL;
    return 0;
}

static int l_proc_pid(lua_State *L)
{
    lua_pushinteger(L, check_proc(L, 1)->rec->pid);
    return 1;
}

/* p:poll() -> nil while running, else the status table */
static int l_proc_poll(lua_State *L)
{
    proc_handle *h = check_proc(L, 1);
    reap_records();
    if (!h->rec->exited)
        return 0;
    push_wait_status(L, h->rec->wait_status);
    return 1;
}

static int wait_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    mp_cond_waiter *cw = (mp_cond_waiter *)ctx;
    if (mp_wait_check(L, &cw->w) == MP_WAKE_TIMEOUT) {
        lua_pushnil(L);
        lua_pushliteral(L, "timeout");
        return 2;
    }
    return l_proc_poll(L);
}

/* p:wait([timeout]) -> {code=}|{signal=, signame=} | nil, "timeout" */
static int l_proc_wait(lua_State *L)
{
    proc_handle *h = check_proc(L, 1);
    double timeout = luaL_optnumber(L, 2, -1);
    lua_settop(L, 2);
    reap_records();
    if (h->rec->exited)
        return l_proc_poll(L);
    mp_task_require(L, "process wait");
    mp_cond_waiter *cw = lua_newuserdatauv(L, sizeof *cw, 0);
    return mp_cond_wait(L, &h->rec->exit_cond, cw, timeout,
                        (lua_KContext)cw, wait_k);
}

/* Send sig to pid (group: to its process group); true or nil, error. */
static int push_kill_result(lua_State *L, pid_t target, int sig)
{
    if (kill(target, sig) == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushnil(L);
    lua_pushstring(L, strerror(errno));
    return 2;
}

/* p:kill([sig [, group]]) -> true | nil, error */
static int l_proc_kill(lua_State *L)
{
    proc_handle *h = check_proc(L, 1);
    int sig = check_signal(L, 2, SIGTERM);
    if (h->rec->exited) {
        lua_pushnil(L);
        lua_pushliteral(L, "process already exited");
        return 2;
    }
    return push_kill_result(L, lua_toboolean(L, 3) ? -h->rec->pid
                                                   : h->rec->pid, sig);
}

static const luaL_Reg proc_methods[] = {
    { "pid", l_proc_pid },
    { "poll", l_proc_poll },
    { "wait", l_proc_wait },
    { "kill", l_proc_kill },
    { NULL, NULL }
};

static const luaL_Reg proc_meta[] = {
    { "__gc", l_proc_gc },
    { NULL, NULL }
};

/* ---- module functions ---- */

/* proc.kill(pid, sig [, group]) -> true | nil, error */
static int l_kill(lua_State *L)
{
    lua_Integer pid = luaL_checkinteger(L, 1);
    luaL_argcheck(L, pid > 0, 1, "pid must be positive");
    int sig = check_signal(L, 2, SIGTERM);
    return push_kill_result(L, lua_toboolean(L, 3) ? -(pid_t)pid
                                                   : (pid_t)pid, sig);
}

typedef struct {
    char state;                   /* R, S, D, T, Z, X, ... */
    int pgid;
    unsigned long long start;     /* clock ticks after boot */
} proc_stat;

/* Read /proc/<pid>/stat (by its path); false for a pid that is gone. */
static bool read_stat_at(const char *path, proc_stat *st)
{
    char buf[1024];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');     /* the command may hold spaces */
    if (!p || sscanf(p + 2, "%c %*d %d", &st->state, &st->pgid) != 2)
        return false;
    /* field 22 (starttime): p is at ')', the space after it opens field 3
     * (the state), so the 20th space from p opens field 22 */
    for (int field = 0; field < 20 && p; field++)
        p = strchr(p + 1, ' ');
    return p && sscanf(p + 1, "%llu", &st->start) == 1;
}

static bool read_stat(pid_t pid, proc_stat *st)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    return read_stat_at(path, st);
}

/* A zombie (Z) or a process its parent is reaping (X, x) has ended. */
static bool stat_ended(const proc_stat *st)
{
    return st->state == 'Z' || st->state == 'X' || st->state == 'x';
}

/* proc.info(pid) -> {state=, start=, pgid=} | nil for a pid that is gone */
static int l_info(lua_State *L)
{
    lua_Integer pid = luaL_checkinteger(L, 1);
    proc_stat st;
    if (pid <= 0 || !read_stat((pid_t)pid, &st))
        return 0;
    lua_createtable(L, 0, 3);
    lua_pushlstring(L, &st.state, 1);
    lua_setfield(L, -2, "state");
    lua_pushinteger(L, (lua_Integer)st.start);
    lua_setfield(L, -2, "start");
    lua_pushinteger(L, st.pgid);
    lua_setfield(L, -2, "pgid");
    return 1;
}

/* Calls found(pid, ud) for each running process of group pgid (zombies
 * do not count), until it returns false. */
static void each_group_member(pid_t pgid, bool (*found)(pid_t, void *), void *ud)
{
    if (kill(-pgid, 0) < 0 && errno == ESRCH)
        return;
    DIR *d = opendir("/proc");
    bool more = true;
    for (struct dirent *e; d && more && (e = readdir(d));) {
        char path[300];
        proc_stat st;
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        if (read_stat_at(path, &st) && st.pgid == pgid && !stat_ended(&st))
            more = found((pid_t)atoi(e->d_name), ud);
    }
    if (d)
        closedir(d);
}

static bool note_alive(pid_t pid, void *ud)
{
    (void)pid;
    *(bool *)ud = true;
    return false;
}

static lua_Integer check_pgid(lua_State *L)
{
    lua_Integer pgid = luaL_checkinteger(L, 1);
    luaL_argcheck(L, pgid > 0, 1, "process group must be positive");
    return pgid;
}

/* proc.group_alive(pgid) -> true while a process of the group runs; its
 * zombies do not count (kill(-pgid, 0) would: a group whose processes
 * were left to an init that does not reap them would never end) */
static int l_group_alive(lua_State *L)
{
    bool alive = false;
    each_group_member((pid_t)check_pgid(L), note_alive, &alive);
    lua_pushboolean(L, alive);
    return 1;
}

static bool append_pid(pid_t pid, void *ud)
{
    lua_State *L = ud;
    lua_pushinteger(L, pid);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    return true;
}

/* proc.group_pids(pgid) -> list of the pids of the group's running
 * processes (no zombies) */
static int l_group_pids(lua_State *L)
{
    pid_t pgid = (pid_t)check_pgid(L);
    lua_newtable(L);
    each_group_member(pgid, append_pid, L);
    return 1;
}

static int l_signum(lua_State *L)
{
    lua_pushinteger(L, check_signal(L, 1, 0));
    return 1;
}

static int l_signame(lua_State *L)
{
    const char *name = signal_name((int)luaL_checkinteger(L, 1));
    if (!name)
        return 0;
    lua_pushstring(L, name);
    return 1;
}

static int l_getpid(lua_State *L)
{
    lua_pushinteger(L, getpid());
    return 1;
}

/* proc.spawn{...} -> Proc, stdin, stdout, stderr (streams or nil) */
static int l_spawn(lua_State *L)
{
    watch_sigpipe();          /* before fork: an early exit is not missed */
    pid_t pid = mp_spawn_from_table(L, 1);
    push_proc(L, pid);
    lua_insert(L, -4);
    return 4;
}

/* proc.fork_child(payload) -> Proc, Stream (the parent's channel end) */
static int l_fork_child(lua_State *L)
{
    size_t len;
    const char *payload = luaL_checklstring(L, 1, &len);
    int channel = -1;
    watch_sigpipe();
    pid_t pid = mp_fork_child(payload, len, &channel, forget_parent);
    if (pid < 0)
        mp_raise(L, "os", "fork: %s", strerror(errno));
    push_proc(L, pid);
    mp_push_stream(L, channel);
    return 2;
}

/* ---- catching signals ---- */

static void on_caught(int sig)
{
    int saved = errno;
    unsigned char byte = (unsigned char)sig;
    ssize_t ignored = write(caught_pipe[1], &byte, 1);
    (void)ignored;
    errno = saved;
}

/* proc.catch_signals{"INT", "TERM", ...} -> fd: from now on these signals
 * only write their number (one byte each) to the pipe whose read end is
 * returned; wrap it with mpod.stream to wait for them. */
static int l_catch_signals(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    if (caught_pipe[0] < 0 && pipe2(caught_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        mp_raise(L, "os", "pipe: %s", strerror(errno));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_caught;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    lua_Integer n = luaL_len(L, 1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, 1, i);
        sigaction(check_signal(L, -1, 0), &sa, NULL);
        lua_pop(L, 1);
    }
    lua_pushinteger(L, fcntl(caught_pipe[0], F_DUPFD_CLOEXEC, 3));
    return 1;
}

/* proc.set_pdeathsig(sig): this process gets sig when its parent dies. */
static int l_set_pdeathsig(lua_State *L)
{
    int sig = check_signal(L, 1, SIGKILL);
    lua_pushboolean(L, prctl(PR_SET_PDEATHSIG, sig) == 0);
    return 1;
}

/* proc.exit_now(code): end this process at once (no atexit handlers: a
 * forked child must not run the parent's), its Lua states left open. */
static int l_exit_now(lua_State *L)
{
    int code = (int)luaL_optinteger(L, 1, 0);
    fflush(stdout);
    fflush(stderr);
    _exit(code);
}

static const luaL_Reg proc_functions[] = {
    { "exit_now", l_exit_now },
    { "spawn", l_spawn },
    { "fork_child", l_fork_child },
    { "kill", l_kill },
    { "info", l_info },
    { "group_alive", l_group_alive },
    { "group_pids", l_group_pids },
    { "signum", l_signum },
    { "signame", l_signame },
    { "getpid", l_getpid },
    { "set_pdeathsig", l_set_pdeathsig },
    { "catch_signals", l_catch_signals },
    { NULL, NULL }
};

int luaopen_mpod_proc(lua_State *L)
{
    mp_new_class(L, PROC_MT, proc_methods, proc_meta);
    lua_pop(L, 1);
    luaL_newlib(L, proc_functions);
    return 1;
}
