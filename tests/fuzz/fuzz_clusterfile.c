/*
 * fuzz_clusterfile.c: libFuzzer target for cluster-file loading and
 * validation (lua/mpod/runner/clusterfile.lua), driven from C.
 *
 * An input that starts with a byte below 0x80 is Lua source as it is;
 * otherwise its bytes drive a generator that writes a table constructor
 * from the fields and values cluster files use (names of every section,
 * strings that pass or fail the field checks, numbers, booleans, lists,
 * nested tables), so validation is reached past the Lua parser. The text is
 * written as a cluster file and loaded by
 * require("mpod.runner.clusterfile").load(path, run_dir) in a fresh Lua
 * state made as the engine makes its own (mp_host_new: standard libraries, every
 * engine module in package.preload). Loading must either return a table
 * whose name, backend and services validation promised, or raise an mpod
 * error of kind "cluster" whose message names the file. Anything else, a
 * plain Lua error (say a stack overflow from a table that holds itself), an
 * error of another kind, a crash or a hang, is a finding.
 *
 * libFuzzer sees the coverage of C code only, and the loader is Lua: a
 * line hook feeds the lines of the engine's Lua chunks that run into
 * libFuzzer's extra counters, so inputs that reach new validation paths
 * are kept.
 *
 * The state's allocator is capped (MEMORY_CAP), so a file that builds
 * gigabytes fails with "not enough memory" instead of exhausting the
 * fuzzer; that one outcome is accepted whatever raised it. The loader's own
 * CPU limit for a file is lowered (time_limit) so endless loops end fast.
 */
#include "host.h"
#include "mpod.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MEMORY_CAP (64u << 20)
#define TIME_LIMIT 0.2

static char dir[64], path[80];

/* ---- Lua line coverage ---- */

#define LINE_SLOTS 8192
__attribute__((section("__libfuzzer_extra_counters")))
static uint8_t lua_lines[LINE_SLOTS];

static void line_hook(lua_State *L, lua_Debug *ar)
{
    if (!lua_getinfo(L, "S", ar) || ar->source[0] != '=')
        return;                 /* engine chunks only, not the file */
    uint32_t h = 2166136261u;
    for (const char *p = ar->source; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    h = (h ^ (uint32_t)ar->currentline) * 16777619u;
    uint8_t *c = &lua_lines[h % LINE_SLOTS];
    if (*c < 255)
        (*c)++;
}

/* ---- the generator ---- */

typedef struct {
    const uint8_t *data;
    size_t size, pos;
    FILE *out;
} gen;

static unsigned next(gen *g)
{
    return g->pos < g->size ? g->data[g->pos++] : 0;
}

/* The shapes of a cluster file's values; each field names the shape
 * validation expects, and the generator mostly follows it. */
typedef enum {
    S_STRING, S_NUMBER, S_BOOL, S_STRLIST, S_STRMAP, S_TOP, S_SERVICES,
    S_SERVICE, S_READY, S_HTTP, S_COMPOSE, S_TOXI, S_PROXIES, S_PROXY
} shape;

typedef struct {
    const char *name;
    shape shape;
} field;

#define FIELDS(...) (const field[]){ __VA_ARGS__, { NULL, 0 } }

static const field *const shape_fields[] = {
    [S_TOP] = FIELDS({ "name", S_STRING }, { "backend", S_STRING },
        { "compose", S_COMPOSE }, { "http", S_HTTP }, { "postgres", S_STRING },
        { "services", S_SERVICES }, { "proxies", S_PROXIES },
        { "toxiproxy", S_TOXI }, { "ready_timeout", S_NUMBER },
        { "log_limit", S_NUMBER }, { "servces", S_SERVICES }),
    [S_SERVICE] = FIELDS({ "name", S_STRING }, { "group", S_STRING },
        { "cmd", S_STRLIST }, { "env", S_STRMAP }, { "url", S_STRING },
        { "ready", S_READY }, { "after", S_STRLIST }, { "oneshot", S_BOOL },
        { "cwd", S_STRING }, { "stop_signal", S_STRING },
        { "stop_timeout", S_NUMBER }, { "service", S_STRING }),
    [S_READY] = FIELDS({ "http", S_STRING }, { "tcp", S_STRING },
        { "log", S_STRING }, { "cmd", S_STRLIST }, { "status", S_NUMBER },
        { "timeout", S_NUMBER }, { "interval", S_NUMBER }),
    [S_HTTP] = FIELDS({ "headers", S_STRMAP }, { "timeout", S_NUMBER }),
    [S_COMPOSE] = FIELDS({ "file", S_STRING }, { "project", S_STRING }),
    [S_TOXI] = FIELDS({ "url", S_STRING }, { "service", S_STRING }),
    [S_PROXY] = FIELDS({ "listen", S_STRING }, { "upstream", S_STRING }),
};

static const char *const strings[] = {
    "a", "b", "web-1", "", "process", "compose", "kubernetes", "127.0.0.1:1",
    "127.0.0.1", "http://127.0.0.1:1", "https://h", "ftp://x", "/health",
    "${NAME}", "${ROOT}/x", "${RUN_DIR}", "${NOT_SET_ANYWHERE}", "INT", "SIGNOPE",
    "ready%.", "c.yml", "bad name!", "a\\0b", "\\xff\\xfe", "${", "%s%d",
};

static const char *const numbers[] = {
    "0", "1", "-1", "0.5", "1e309", "-1e309", "0/0", "2^53", "math.maxinteger",
};

#define PICK(list) list[next(g) % (sizeof list / sizeof *list)]

static void gen_shape(gen *g, shape sh, int depth);

/* A table of up to 4 entries: fields of the shape, or list items of it. */
static void gen_entries(gen *g, shape sh, int depth)
{
    unsigned n = next(g) % 5;
    const field *fs = sh < sizeof shape_fields / sizeof *shape_fields
                    ? shape_fields[sh] : NULL;
    size_t nf = 0;
    while (fs && fs[nf].name)
        nf++;
    fputc('{', g->out);
    if (sh == S_TOP && !(next(g) & 0x10))
        fputs("name = \"x\", ", g->out);
    for (unsigned i = 0; i < n; i++) {
        if (nf) {
            const field *f = &fs[next(g) % nf];
            fprintf(g->out, "%s = ", f->name);
            gen_shape(g, f->shape, depth + 1);
        } else if (sh == S_STRMAP || sh == S_PROXIES) {
            fprintf(g->out, "[\"%s\"] = ", PICK(strings));
            gen_shape(g, sh == S_PROXIES ? S_PROXY : S_STRING, depth + 1);
        } else {
            gen_shape(g, sh == S_SERVICES ? S_SERVICE : S_STRING, depth + 1);
        }
        fputs(", ", g->out);
    }
    fputc('}', g->out);
}

/* A value of the shape, or now and then of any other. */
static void gen_shape(gen *g, shape sh, int depth)
{
    unsigned b = next(g);
    if (b % 8 == 0)
        sh = (shape)(next(g) % (S_PROXY + 1));
    if (depth > 6 && sh > S_BOOL)
        sh = S_STRING;
    switch (sh) {
    case S_STRING:
        fprintf(g->out, "\"%s\"", PICK(strings));
        break;
    case S_NUMBER:
        fputs(PICK(numbers), g->out);
        break;
    case S_BOOL:
        fputs(b & 0x10 ? "true" : "false", g->out);
        break;
    default:
        gen_entries(g, sh, depth);
        break;
    }
}

/* The cluster file's text for the input: itself, or generated. */
static void write_input(FILE *f, const uint8_t *data, size_t size)
{
    if (size == 0 || data[0] < 0x80) {
        if (fwrite(data, 1, size, f) != size)
            abort();
        return;
    }
    gen g = { data + 1, size - 1, 0, f };
    fputs("return ", f);
    gen_shape(&g, S_TOP, 0);
    fputc('\n', f);
}

typedef struct {
    lua_Alloc real;
    void *real_ud;
    size_t used;
    bool hit;
} capped;

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    capped *c = ud;
    size_t old = ptr ? osize : 0;
    if (nsize > old && c->used - old + nsize > MEMORY_CAP) {
        c->hit = true;
        return NULL;
    }
    void *p = c->real(c->real_ud, ptr, osize, nsize);
    if (p || nsize == 0)
        c->used = (c->used > old ? c->used - old : 0) + nsize;
    return p;
}

static void fail(lua_State *L, const char *what)
{
    const char *msg = luaL_tolstring(L, -1, NULL);
    fprintf(stderr, "fuzz_clusterfile: %s\n%s\n", what, msg);
    abort();
}

static void cleanup(void)
{
    unlink(path);
    rmdir(dir);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/fuzz-clusterfile-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(path, sizeof path, "%s/cluster.lua", dir);
    atexit(cleanup);
    /* the variables the committed cluster files expand */
    setenv("TAG", "fz", 1);
    setenv("BUILD", "build", 1);
    setenv("PORT_A", "18001", 1);
    setenv("PORT_B", "18002", 1);
    setenv("PORT_P", "18003", 1);
    setenv("PORT_T", "18004", 1);
    setenv("READY_LOG", "started", 1);
}

/* load(path) in protected mode; leaves the result or the error on top */
static int load(lua_State *L)
{
    lua_getglobal(L, "require");
    lua_pushstring(L, "mpod.runner.clusterfile");
    lua_call(L, 1, 1);
    lua_pushnumber(L, TIME_LIMIT);
    lua_setfield(L, -2, "time_limit");
    lua_getfield(L, -1, "load");
    lua_pushstring(L, path);
    lua_pushstring(L, "/tmp/fuzz-run");
    lua_call(L, 2, 1);
    return 1;
}

static bool is_string_field(lua_State *L, int t, const char *name)
{
    bool ok = lua_getfield(L, t, name) == LUA_TSTRING;
    lua_pop(L, 1);
    return ok;
}

static void check_success(lua_State *L)
{
    int c = lua_gettop(L);
    if (!lua_istable(L, c) || !is_string_field(L, c, "name")
        || !is_string_field(L, c, "backend"))
        fail(L, "a loaded cluster lacks its name or backend");
    if (lua_getfield(L, c, "services") != LUA_TTABLE)
        fail(L, "a loaded cluster has no service list");
    lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
        if (lua_geti(L, -1, i) != LUA_TTABLE || !is_string_field(L, -1, "name"))
            fail(L, "a loaded service has no name");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

static void check_error(lua_State *L, bool memory_hit)
{
    int e = lua_gettop(L);
    if (memory_hit)
        return;             /* the cap, not the loader, decided */
    if (!lua_istable(L, e))
        fail(L, "loading raised a plain Lua error");
    if (lua_getfield(L, e, "kind") != LUA_TSTRING
        || strcmp(lua_tostring(L, -1), "cluster") != 0)
        fail(L, "loading raised an error of another kind than cluster");
    lua_pop(L, 1);
    if (lua_getfield(L, e, "message") != LUA_TSTRING
        || !strstr(lua_tostring(L, -1), path))
        fail(L, "a cluster error does not name the file");
    lua_pop(L, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0])
        setup();
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    write_input(f, data, size);
    if (fclose(f) != 0)
        abort();
    lua_State *L = mp_host_new();
    if (!L)
        abort();
    capped cap = { 0 };
    cap.real = lua_getallocf(L, &cap.real_ud);
    cap.used = (size_t)lua_gc(L, LUA_GCCOUNT) * 1024 + (size_t)lua_gc(L, LUA_GCCOUNTB);
    lua_setallocf(L, capped_alloc, &cap);
    lua_sethook(L, line_hook, LUA_MASKLINE, 0);
    lua_pushcfunction(L, load);
    if (lua_pcall(L, 0, 1, 0) == LUA_OK)
        check_success(L);
    else
        check_error(L, cap.hit);
    lua_close(L);
    return 0;
}
