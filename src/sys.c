/*
 * sys.c: the Lua module mpod.sys: the few operating-system services plain
 * Lua lacks and the engine needs: glob, stat, temporary and nested
 * folders, recursive removal, realpath, isatty, hostname, a free port,
 * the descriptors open and their limit, setenv, removing a SysV shared
 * memory segment; and for the C side, the running binary held open and a
 * count of forks.
 *
 * It also holds the engine's version, `sys.version`: MPOD_VERSION, which
 * the Makefile's VERSION defines for every object, its one source.
 *
 * Failures return nil plus a message (like io.open), except programmer
 * mistakes (wrong argument types), which raise.
 */
#include "mpod.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static int push_failure(lua_State *L, const char *what)
{
    int err = errno;
    lua_pushnil(L);
    lua_pushfstring(L, "%s: %s", what, strerror(err));
    return 2;
}

/* sys.glob(pattern) -> sorted list of matches (empty when none) */
static int l_glob(lua_State *L)
{
    const char *pattern = luaL_checkstring(L, 1);
    glob_t g;
    memset(&g, 0, sizeof g);
    int rc = glob(pattern, 0, NULL, &g);
    lua_createtable(L, rc == 0 ? (int)g.gl_pathc : 0, 0);
    for (size_t i = 0; rc == 0 && i < g.gl_pathc; i++) {
        lua_pushstring(L, g.gl_pathv[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    globfree(&g);
    return 1;
}

static const char *file_type(mode_t mode)
{
    if (S_ISREG(mode))
        return "file";
    if (S_ISDIR(mode))
        return "directory";
    if (S_ISLNK(mode))
        return "link";
    if (S_ISSOCK(mode))
        return "socket";
    if (S_ISFIFO(mode))
        return "fifo";
    return "other";
}

/* sys.stat(path) -> {type=, size=, mtime=, mode=} | nil, message */
static int l_stat(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (stat(path, &st) < 0)
        return push_failure(L, path);
    lua_createtable(L, 0, 4);
    lua_pushstring(L, file_type(st.st_mode));
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, (lua_Integer)st.st_size);
    lua_setfield(L, -2, "size");
    lua_pushnumber(L, (double)st.st_mtim.tv_sec +
                      (double)st.st_mtim.tv_nsec / 1e9);
    lua_setfield(L, -2, "mtime");
    lua_pushinteger(L, st.st_mode & 07777);
    lua_setfield(L, -2, "mode");
    return 1;
}

/* The folder temporary files go in: $TMPDIR, else /tmp. */
static const char *temp_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    return tmp && *tmp ? tmp : "/tmp";
}

/* Forks since this process first asked (see mpod.h). The counter is set
 * up at the first call: state recorded with a number came after it, so
 * every fork that could make that state someone else's is counted. */
static unsigned long forks_seen = 1;

static void count_fork(void)
{
    forks_seen++;
}

unsigned long mp_fork_generation(void)
{
    static bool counting;
    if (!counting)
        counting = pthread_atfork(NULL, NULL, count_fork) == 0;
    return forks_seen;
}

/* sys.tmpdir() -> the folder temporary files go in ($TMPDIR, else /tmp) */
static int l_tmpdir(lua_State *L)
{
    lua_pushstring(L, temp_dir());
    return 1;
}

/* sys.mkdtemp([prefix]) -> path of a new private folder under sys.tmpdir() */
static int l_mkdtemp(lua_State *L)
{
    const char *prefix = luaL_optstring(L, 1, "mpod-lua");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.XXXXXX", temp_dir(), prefix);
    if (!mkdtemp(path))
        return push_failure(L, path);
    lua_pushstring(L, path);
    return 1;
}

/* sys.mkdir_p(path [, mode]) -> true | nil, message */
static int l_mkdir_p(lua_State *L)
{
    size_t len;
    const char *path = luaL_checklstring(L, 1, &len);
    mode_t mode = (mode_t)luaL_optinteger(L, 2, 0755);
    char buf[PATH_MAX];
    if (len >= sizeof buf) {
        errno = ENAMETOOLONG;
        return push_failure(L, path);
    }
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; ; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return push_failure(L, buf);
        *p = saved;
        if (saved == '\0')
            break;
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* sys.rmtree(path) -> true | nil, message (a missing path is fine) */
static int l_rmtree(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct stat st;
    if (lstat(path, &st) < 0 && errno == ENOENT) {
        lua_pushboolean(L, 1);
        return 1;
    }
    if (nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS) < 0)
        return push_failure(L, path);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_realpath(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char buf[PATH_MAX];
    if (!realpath(path, buf))
        return push_failure(L, path);
    lua_pushstring(L, buf);
    return 1;
}

/* sys.isatty(fd) -> boolean */
static int l_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
    return 1;
}

/* sys.terminal_size(fd) -> columns, rows | nil, message: the size of the
 * terminal fd is (TIOCGWINSZ); nil when fd is not a terminal or the size
 * is unknown (0) */
static int l_terminal_size(lua_State *L)
{
    struct winsize ws;
    if (ioctl((int)luaL_checkinteger(L, 1), TIOCGWINSZ, &ws) < 0)
        return push_failure(L, "TIOCGWINSZ");
    if (ws.ws_col == 0) {
        lua_pushnil(L);
        lua_pushliteral(L, "the terminal does not say its size");
        return 2;
    }
    lua_pushinteger(L, ws.ws_col);
    lua_pushinteger(L, ws.ws_row);
    return 2;
}

static int l_hostname(lua_State *L)
{
    char buf[256];
    if (gethostname(buf, sizeof buf) < 0)
        return push_failure(L, "gethostname");
    buf[sizeof buf - 1] = '\0';
    lua_pushstring(L, buf);
    return 1;
}

/* sys.getcwd() -> path */
static int l_getcwd(lua_State *L)
{
    char buf[PATH_MAX];
    if (!getcwd(buf, sizeof buf))
        return push_failure(L, "getcwd");
    lua_pushstring(L, buf);
    return 1;
}

/* sys.free_port() -> a TCP port on 127.0.0.1 that was free a moment ago */
static int l_free_port(lua_State *L)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return push_failure(L, "socket");
    struct sockaddr_in addr = { .sin_family = AF_INET,
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof addr;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
        int err = errno;
        close(fd);
        errno = err;
        return push_failure(L, "bind 127.0.0.1:0");
    }
    close(fd);
    lua_pushinteger(L, ntohs(addr.sin_port));
    return 1;
}

static int self_exe_fd = -1;
static unsigned long self_exe_generation;   /* the process that opened it */

/* A scenario child closes the fds it inherits (child.c), this one too: a
 * forked process opens the binary again, through /proc/self/exe, which
 * still leads to it when the file is gone. */
void mp_sys_hold_self_exe(void)
{
    if (self_exe_fd >= 0 && self_exe_generation == mp_fork_generation())
        return;
    self_exe_fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    self_exe_generation = mp_fork_generation();
}

/* sys.self_exe() -> the path of the running mpod-lua binary to start it
 * again (log pumps, the watchdog). When the file was replaced or deleted
 * since the start (a rebuild during a long run), the kernel names it
 * "PATH (deleted)"; the binary held open at the start is then started
 * through /proc/self/fd/N, which a spawned child still has open (close-
 * on-exec) when it execs. */
static int l_self_exe(lua_State *L)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n < 0)
        return push_failure(L, "/proc/self/exe");
    static const char deleted[] = " (deleted)";
    size_t tail = sizeof deleted - 1;
    bool gone = (size_t)n > tail && memcmp(buf + n - tail, deleted, tail) == 0;
    if (gone)
        mp_sys_hold_self_exe();
    if (gone && self_exe_fd >= 0)
        lua_pushfstring(L, "/proc/self/fd/%d", self_exe_fd);
    else
        lua_pushlstring(L, buf, (size_t)n);
    return 1;
}

/* sys.getuid() -> the real user id */
static int l_getuid(lua_State *L)
{
    lua_pushinteger(L, getuid());
    return 1;
}

/* sys.fd_usage() -> descriptors open in this process, the soft limit on
 * them (RLIMIT_NOFILE; math.huge when unlimited) | nil, message */
static int l_fd_usage(lua_State *L)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return push_failure(L, "getrlimit");
    DIR *dir = opendir("/proc/self/fd");
    if (!dir)
        return push_failure(L, "/proc/self/fd");
    lua_Integer open = -1;              /* dir's own descriptor is listed */
    struct dirent *e;
    while ((e = readdir(dir)))
        if (e->d_name[0] != '.')
            open++;
    closedir(dir);
    lua_pushinteger(L, open);
    if (rl.rlim_cur == RLIM_INFINITY)
        lua_pushnumber(L, HUGE_VAL);
    else
        lua_pushinteger(L, (lua_Integer)rl.rlim_cur);
    return 2;
}

/* sys.setenv(name, value): set a variable of this process's environment,
 * which every program it starts from then on inherits */
static int l_setenv(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const char *value = luaL_checkstring(L, 2);
    luaL_argcheck(L, *name && !strchr(name, '='), 1, "not a variable name");
    if (setenv(name, value, 1) < 0)
        return push_failure(L, "setenv");
    lua_pushboolean(L, 1);
    return 1;
}

/* sys.shm_remove(id) -> true | nil, message: mark the SysV shared memory
 * segment id for removal (shmctl IPC_RMID; it goes once nobody is
 * attached) */
static int l_shm_remove(lua_State *L)
{
    int id = (int)luaL_checkinteger(L, 1);
    if (shmctl(id, IPC_RMID, NULL) < 0)
        return push_failure(L, "shmctl");
    lua_pushboolean(L, 1);
    return 1;
}

static const luaL_Reg sys_functions[] = {
    { "setenv", l_setenv },
    { "shm_remove", l_shm_remove },
    { "fd_usage", l_fd_usage },
    { "getuid", l_getuid },
    { "self_exe", l_self_exe },
    { "free_port", l_free_port },
    { "glob", l_glob },
    { "stat", l_stat },
    { "tmpdir", l_tmpdir },
    { "mkdtemp", l_mkdtemp },
    { "mkdir_p", l_mkdir_p },
    { "rmtree", l_rmtree },
    { "realpath", l_realpath },
    { "isatty", l_isatty },
    { "terminal_size", l_terminal_size },
    { "hostname", l_hostname },
    { "getcwd", l_getcwd },
    { NULL, NULL }
};

int luaopen_mpod_sys(lua_State *L)
{
    luaL_newlib(L, sys_functions);
    lua_pushliteral(L, MPOD_VERSION);
    lua_setfield(L, -2, "version");
    return 1;
}
