/*
 * gen_bundle.c: a build-time tool (not part of mpod-lua) that turns the Lua
 * half of the engine into C: `gen_bundle OUT.c lua/a.lua lua/b/c.lua ...`
 * compiles each file and writes a table of {module name, chunk name,
 * bytecode, length}. The module name is the path below lua/ with "/" as
 * "." and without ".lua" (a trailing ".init" is dropped); the chunk name is
 * "=" plus the path below lua/, so error messages and stacks read
 * "mpod/http.lua:12: ...".
 *
 * A file that does not end in ".lua" is an asset (the report's JavaScript
 * and CSS): it becomes a chunk that returns the file's bytes as a string,
 * under the module name of its path with the extension kept
 * ("lua/mpod/runner/report/report.js" -> "mpod.runner.report.report.js"),
 * so the binary carries it and `require` hands it over; nothing is read
 * from the source tree at run time.
 *
 * The chunks are precompiled so that starting mpod-lua loads bytecode
 * instead of parsing every module (undumping is several times faster).
 * The bytecode keeps its debug information (line numbers, local names),
 * and it is made by the same liblua5.4 the binary links, so its format is
 * the one the binary reads; a syntax error in lua/ fails the build.
 */
#include <lauxlib.h>
#include <lualib.h>
#include <lua.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_lua(const char *path)
{
    size_t n = strlen(path);
    return n > 4 && strcmp(path + n - 4, ".lua") == 0;
}

static void module_name(const char *rel, char *out, size_t cap)
{
    snprintf(out, cap, "%s", rel);
    size_t n = strlen(out);
    if (is_lua(out))
        out[n - 4] = '\0';
    for (char *p = out; *p; p++)
        if (*p == '/')
            *p = '.';
    n = strlen(out);
    if (n > 5 && strcmp(out + n - 5, ".init") == 0)
        out[n - 5] = '\0';
}

/* The bytes of a compiled chunk, as lua_dump hands them over. */
typedef struct {
    FILE *out;
    long written;
} byte_sink;

static int write_bytes(lua_State *L, const void *p, size_t size, void *ud)
{
    (void)L;
    byte_sink *sink = ud;
    const unsigned char *bytes = p;
    for (size_t i = 0; i < size; i++, sink->written++)
        fprintf(sink->out, "%s%u,", sink->written % 20 ? "" : "\n", bytes[i]);
    return 0;
}

/* The whole file at path, in a malloc'd buffer; NULL on failure. */
static char *read_file(const char *path, size_t *len)
{
    FILE *in = fopen(path, "rb");
    if (!in)
        return NULL;
    size_t cap = 1 << 16;
    char *text = malloc(cap);
    *len = 0;
    size_t n;
    while (text && (n = fread(text + *len, 1, cap - *len, in)) > 0) {
        *len += n;
        if (*len == cap) {
            char *bigger = realloc(text, cap *= 2);
            if (!bigger)
                free(text);
            text = bigger;
        }
    }
    if (ferror(in)) {
        free(text);
        text = NULL;
    }
    fclose(in);
    return text;
}

/* chunk_INDEX[]: the bytecode of the file at path, compiled under
 * chunkname; -1 with the reason on stderr when it does not compile. */
static int emit_file(lua_State *L, FILE *out, int index, const char *path,
                     const char *chunkname)
{
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        perror(path);
        return -1;
    }
    int status;
    if (is_lua(path)) {
        status = luaL_loadbufferx(L, text, len, chunkname, "t");
    } else {                  /* an asset: `return "<its bytes>"` */
        lua_getglobal(L, "string");
        lua_getfield(L, -1, "format");
        lua_pushliteral(L, "return %q");
        lua_pushlstring(L, text, len);
        lua_call(L, 2, 1);
        size_t slen;
        const char *source = lua_tolstring(L, -1, &slen);
        status = luaL_loadbufferx(L, source, slen, chunkname, "t");
        lua_remove(L, -2);    /* the source */
        lua_remove(L, -2);    /* string */
    }
    free(text);
    if (status != LUA_OK) {
        fprintf(stderr, "gen_bundle: %s\n", lua_tostring(L, -1));
        return -1;
    }
    fprintf(out, "static const unsigned char chunk_%d[] = {", index);
    byte_sink sink = { out, 0 };
    lua_dump(L, write_bytes, &sink, 0);
    fprintf(out, "0};\n");
    lua_pop(L, 1);
    return 0;
}

/* The chunk name of a file: "=" and its path below lua/. */
static void chunk_name(const char *path, char *out, size_t cap)
{
    snprintf(out, cap, "=%s", strncmp(path, "lua/", 4) == 0 ? path + 4 : path);
}

/* The table: module name, chunk name, bytecode and length of each file. */
static void emit_table(FILE *out, int argc, char **argv)
{
    fprintf(out, "const mp_bundled_chunk mp_bundle[] = {\n");
    for (int i = 2; i < argc; i++) {
        char chunkname[300], name[300];
        chunk_name(argv[i], chunkname, sizeof chunkname);
        module_name(chunkname + 1, name, sizeof name);
        fprintf(out, "  { \"%s\", \"%s\", chunk_%d, sizeof chunk_%d - 1 },\n",
                name, chunkname, i, i);
    }
    fprintf(out, "  { 0, 0, 0, 0 }\n};\n");
}

/* Every file's bytecode, then the table; false when a file does not
 * compile or cannot be read (said on stderr). */
static bool emit_bundle(lua_State *L, FILE *out, int argc, char **argv)
{
    fprintf(out, "/* Generated by gen_bundle from lua/: do not edit. */\n"
                 "#include \"bundle.h\"\n");
    for (int i = 2; i < argc; i++) {
        char chunkname[300];
        chunk_name(argv[i], chunkname, sizeof chunkname);
        if (emit_file(L, out, i, argv[i], chunkname) < 0)
            return false;
    }
    emit_table(out, argc, argv);
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: gen_bundle OUT.c FILE.lua...\n");
        return 2;
    }
    FILE *out = fopen(argv[1], "w");
    lua_State *L = luaL_newstate();
    if (L)
        luaL_openlibs(L);     /* string.format, for the assets */
    if (!out || !L) {
        perror(argv[1]);
        return 1;
    }
    bool ok = emit_bundle(L, out, argc, argv);
    lua_close(L);
    if (fclose(out) != 0)
        ok = false;
    if (!ok)
        remove(argv[1]);       /* no half-written table for make to trust */
    return ok ? 0 : 1;
}
