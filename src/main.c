/*
 * main.c: the mpod-lua executable. Process set-up, then the Lua CLI
 * (lua/mpod/runner/cli.lua) runs as the root task with the command-line
 * arguments; its result is the exit code. `--log-pump` is the process backend's log
 * capture helper (logpump.c), which needs no Lua.
 */
#include "child.h"
#include "host.h"
#include "logpump.h"
#include "mpod.h"

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--log-pump") == 0)
        return mp_logpump_main(argc, argv);
    mp_sys_hold_self_exe();
    signal(SIGPIPE, SIG_IGN);
    lua_State *L = mp_host_new();
    if (!L) {
        fprintf(stderr, "mpod-lua: out of memory\n");
        return MP_EXIT_INTERNAL;
    }
    lua_createtable(L, argc, 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i);
    }
    int rc = mp_host_run(L, "mpod.runner.cli", -1);
    lua_close(L);
    mp_child_template_close();
    curl_global_cleanup();     /* a no-op unless http.c set libcurl up */
    return rc;
}
