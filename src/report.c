/*
 * report.c: the Lua module mpod.report: TAP on stdout, JUnit XML, the
 * progress line and the closing line on stderr.
 *
 * One Reporter per run. Each scenario file is a TAP subtest: its lines are
 * buffered per file and written in file order, so with -j N the output is
 * the same as with -j 1, while the file at the head of the order streams
 * live. stdout carries TAP only. A file's top-level point is "not ok" when a
 * test in it failed or the runner reported the file itself failed (crash,
 * timeout, load error); the latter counts as one failure of its own.
 *
 * Every text a method is given passes through mpod.redact's redact_all
 * (kept as the reporter's user value) before it is stored or written, so
 * no secret reaches stdout, the JUnit file or the progress line, whoever
 * calls the reporter.
 */
#include "mpod.h"
#include "text.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define REPORT_MT "mpod.Report"
#define SUBTEST_INDENT 4

typedef struct {
    char *name;
    mp_sbuf tap;            /* the subtest's lines, then its point */
    size_t printed;         /* bytes of tap already on stdout */
    mp_sbuf trailer;        /* comments printed after the file's point */
    mp_sbuf junit_cases;
    mp_sbuf junit_out;      /* file-level notes for <system-out> */
    size_t notes_bytes;     /* of notes kept, up to NOTES_FILE_MAX */
    bool notes_cut;         /* notes were left out past it */
    int j_tests, j_failures, j_errors, j_skipped;   /* the <testcase>s */
    int ntests, passed, failed, skipped, todo;
    bool ended, failed_itself;
    double elapsed;
    char timestamp[32];
} file_report;

typedef struct {
    int tap_version;
    bool progress;
    char *junit_path;
    file_report *files;
    int nfiles, cap, total;
    int head;               /* first file whose output is not all printed */
    bool header_done, bailed, finished;
    char *bail_reason;      /* the first Bail out!'s reason, for JUnit */
    char bail_timestamp[32];
    double t0;
    int passed, failed, skipped, todo, files_failed;
} reporter;

/* ---- output ---- */

static void write_out(const char *s, size_t len)
{
    if (len > 0)
        fwrite(s, 1, len, stdout);
}

static void ensure_header(reporter *r)
{
    if (r->header_done)
        return;
    r->header_done = true;
    printf("TAP version %d\n", r->tap_version);
}

/* Write what can be written: the head file's new lines, and every file
 * after it that has ended. */
static void pump(reporter *r)
{
    if (r->bailed)
        return;
    ensure_header(r);
    while (r->head < r->nfiles) {
        file_report *f = &r->files[r->head];
        write_out(f->tap.data + f->printed, f->tap.len - f->printed);
        f->printed = f->tap.len;
        if (!f->ended)
            break;
        write_out(f->trailer.data, f->trailer.len);
        r->head++;
    }
    fflush(stdout);
}

static void progress(reporter *r, const char *file, const char *test)
{
    if (!r->progress)
        return;
    int done = 0;
    for (int i = 0; i < r->nfiles; i++)
        done += r->files[i].ended;
    fprintf(stderr, "\r\033[K[%d/%d] %d passed, %d failed, %d skipped  %s%s%.60s",
            done, r->total > r->nfiles ? r->total : r->nfiles, r->passed,
            r->failed, r->skipped, file ? file : "", test ? " > " : "",
            test ? test : "");
    fflush(stderr);
}

/* ---- YAML from Lua tables ---- */

/* Bounds: a report stays readable and its size bounded whatever a test
 * raised or printed. Left-out parts are said so in the output. */
#define YAML_MAX_DEPTH 8
#define YAML_MAX_ENTRIES 100        /* keys of a mapping, items of a list */
#define YAML_SCALAR_MAX 16384       /* bytes of one string */
#define YAML_KEY_MAX 256            /* bytes of one key */
#define YAML_BLOCK_MAX 262144       /* bytes of one diagnostics block */
#define NAME_MAX_BYTES 1024         /* bytes of a test name or reason */
#define NOTE_LINE_MAX 16384         /* bytes of one comment line */
#define NOTES_FILE_MAX (1 << 20)    /* bytes of notes per file */

typedef struct {
    lua_State *L;
    mp_sbuf *b;
    size_t limit;           /* past this length, entries are left out */
} yaml_out;

/* A mapping key: its text (anchored in a table on the stack), its rank in
 * the diagnostics order and the slot of the original key. */
typedef struct {
    const char *text;
    size_t len;
    int rank;
    lua_Integer slot;
} yaml_key;

/* Push the text of the value at idx without running any metamethod (no
 * __tostring, __index, __len): the reporter walks tables raw, so a value
 * that would raise is printed like any other. mp.null is "null"; other
 * values as tostring() shows them without a __tostring ("mpod.pg.Conn:
 * 0x..."). Returns the text, anchored by the pushed string. */
static const char *push_plain_text(lua_State *L, int idx, size_t *len)
{
    idx = lua_absindex(L, idx);
    int type = lua_type(L, idx);
    if (type == LUA_TSTRING || type == LUA_TNUMBER) {
        lua_pushvalue(L, idx);                /* converts the copy only */
    } else if (type == LUA_TBOOLEAN || type == LUA_TNIL) {
        lua_pushstring(L, type == LUA_TNIL ? "nil"
                          : lua_toboolean(L, idx) ? "true" : "false");
    } else if (mp_is_null(L, idx)) {
        lua_pushliteral(L, "null");
    } else {
        int name = luaL_getmetafield(L, idx, "__name");          /* raw */
        lua_pushfstring(L, "%s: %p", name == LUA_TSTRING
                        ? lua_tostring(L, -1) : luaL_typename(L, idx),
                        lua_topointer(L, idx));
        if (name != LUA_TNIL)
            lua_remove(L, -2);
    }
    return lua_tolstring(L, -1, len);
}

/* Push t[name] of the table at t, read raw; returns its type. */
static int raw_field(lua_State *L, int t, const char *name)
{
    t = lua_absindex(L, t);
    lua_pushstring(L, name);
    return lua_rawget(L, t);
}

static void yaml_value(yaml_out *y, int idx, int indent, int depth);
static bool print_as_structure(lua_State *L, int idx, int depth);
static bool table_is_empty(lua_State *L, int idx);
static void yaml_mapping(yaml_out *y, int idx, int indent, int depth,
                         bool first_inline);

static int key_rank(const char *key, size_t len)
{
    static const char *const first[] = { "message", "kind", "at", "got",
                                         "expected", "diff", NULL };
    static const char *const last[] = { "log", "logs", "stack", NULL };
    for (int i = 0; first[i]; i++)
        if (strlen(first[i]) == len && memcmp(key, first[i], len) == 0)
            return i;
    for (int i = 0; last[i]; i++)
        if (strlen(last[i]) == len && memcmp(key, last[i], len) == 0)
            return 100 + i;
    return 50;
}

static int compare_keys(const void *a, const void *b)
{
    const yaml_key *ka = a, *kb = b;
    if (ka->rank != kb->rank)
        return ka->rank - kb->rank;
    int c = memcmp(ka->text, kb->text, ka->len < kb->len ? ka->len : kb->len);
    if (c)
        return c;
    return ka->len < kb->len ? -1 : ka->len > kb->len;
}

static bool is_sequence(lua_State *L, int idx)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    if (n == 0)
        return false;
    lua_pushnil(L);
    lua_Integer count = 0;
    while (lua_next(L, idx)) {
        count++;
        lua_pop(L, 1);
    }
    return count == n;
}

/* A string as a scalar, cut to YAML_SCALAR_MAX bytes with a note of what
 * was left out. */
static void yaml_string(yaml_out *y, const char *s, size_t len, int indent)
{
    size_t n = mp_utf8_prefix(s, len, YAML_SCALAR_MAX);
    if (n == len) {
        mp_yaml_scalar(y->b, s, len, indent);
        return;
    }
    mp_sbuf cut = { 0 };
    mp_sbuf_add(&cut, s, n);
    mp_sbuf_addf(&cut, " ... (%zu more bytes)", len - n);
    mp_yaml_scalar(y->b, cut.data, cut.len, indent);
    mp_sbuf_free(&cut);
}

/* Keys print plain when every YAML reader takes them as that string:
 * a word of letters, digits, '_', '.', '-' starting with a letter or '_',
 * and not a word YAML 1.1 reads as a boolean or null. */
static bool plain_key(const char *s, size_t len)
{
    static const char *const special[] = { "true", "false", "yes", "no",
        "on", "off", "y", "n", "null", NULL };
    if (len == 0 || len > 64 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!isalnum(c) && c != '_' && c != '.' && c != '-')
            return false;
    }
    for (int i = 0; special[i]; i++)
        if (strlen(special[i]) == len && strncasecmp(s, special[i], len) == 0)
            return false;
    return true;
}

static void yaml_key_text(mp_sbuf *b, const char *s, size_t len)
{
    if (plain_key(s, len)) {
        mp_sbuf_add(b, s, len);
        return;
    }
    size_t n = mp_utf8_prefix(s, len, YAML_KEY_MAX);
    if (n == len) {
        mp_yaml_quoted(b, s, len);
        return;
    }
    mp_sbuf cut = { 0 };
    mp_sbuf_add(&cut, s, n);
    mp_sbuf_adds(&cut, "...");
    mp_yaml_quoted(b, cut.data, cut.len);
    mp_sbuf_free(&cut);
}

/* Collect every key of the table at idx, sorted; keys that are not strings
 * show as "[text]" (the numbers of a sparse list: "[1]"). Pushes a table holding
 * the keys and their texts, and the yaml_key array (a userdata, so nothing
 * leaks if a __tostring raises); returns how many. */
static lua_Integer sorted_keys(lua_State *L, int idx)
{
    lua_Integer n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        n++;
    }
    lua_createtable(L, (int)(n < 100000 ? 2 * n : 0), 0);
    int anchor = lua_gettop(L);
    yaml_key *keys = lua_newuserdatauv(L, (size_t)(n ? n : 1) * sizeof *keys, 0);
    lua_Integer i = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (i == n) {               /* the table grew: ignore the rest */
            lua_pop(L, 1);
            break;
        }
        lua_pushvalue(L, -1);
        lua_rawseti(L, anchor, 2 * i + 1);                /* the key */
        bool is_string = lua_type(L, -1) == LUA_TSTRING;
        size_t len;
        const char *text;
        if (is_string) {
            text = lua_tolstring(L, -1, &len);            /* anchored above */
        } else {                                          /* "[1]", "[true]" */
            lua_pushliteral(L, "[");
            push_plain_text(L, -2, NULL);
            lua_pushliteral(L, "]");
            lua_concat(L, 3);
            text = lua_tolstring(L, -1, &len);
            lua_rawseti(L, anchor, 2 * i + 2);            /* anchor its text */
        }
        keys[i] = (yaml_key){ text, len, is_string ? key_rank(text, len) : 50,
                              2 * i + 1 };
        i++;
    }
    qsort(keys, (size_t)i, sizeof *keys, compare_keys);
    return i;
}

/* Whether there is room for one more entry; if not, say what is left out. */
static bool room_for(yaml_out *y, lua_Integer shown, lua_Integer total,
                     int indent, bool item, const char *what)
{
    if (shown < YAML_MAX_ENTRIES && y->b->len <= y->limit)
        return true;
    mp_sbuf_addf(y->b, "\n%*s%s\"(%lld more %s%s)\"%s", indent, "",
                 item ? "- " : "", (long long)(total - shown), what,
                 y->b->len > y->limit ? ", output limit reached" : "",
                 item ? "" : ": ~");
    return false;
}

static void yaml_sequence(yaml_out *y, int idx, int indent, int depth)
{
    lua_State *L = y->L;
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
    for (lua_Integer i = 1; i <= n; i++) {
        if (!room_for(y, i - 1, n, indent, true, "items"))
            break;
        mp_sbuf_addf(y->b, "\n%*s- ", indent, "");
        lua_rawgeti(L, idx, i);
        int item = lua_gettop(L);
        /* a mapping item starts on the dash's line: "- key: value" */
        if (print_as_structure(L, item, depth + 1) && !is_sequence(L, item)
            && !table_is_empty(L, item))
            yaml_mapping(y, item, indent + 2, depth + 1, true);
        else
            yaml_value(y, item, indent + 2, depth + 1);
        lua_pop(L, 1);
    }
}

static void yaml_mapping(yaml_out *y, int idx, int indent, int depth,
                         bool first_inline)
{
    lua_State *L = y->L;
    luaL_checkstack(L, 8, "report");
    lua_Integer n = sorted_keys(L, idx);
    int anchor = lua_gettop(L) - 1;
    yaml_key *keys = lua_touserdata(L, -1);
    int again = 1;          /* keys that print the same get " (2)", ... */
    for (lua_Integer i = 0; i < n; i++) {
        if (i > 0 && !room_for(y, i, n, indent, false, "keys"))
            break;
        if (i > 0 || !first_inline)
            mp_sbuf_addf(y->b, "\n%*s", indent, "");
        again = i > 0 && keys[i].len == keys[i - 1].len
                && memcmp(keys[i].text, keys[i - 1].text, keys[i].len) == 0
              ? again + 1 : 1;
        if (again > 1) {
            lua_pushlstring(L, keys[i].text, keys[i].len);
            lua_pushfstring(L, " (%d)", again);
            lua_concat(L, 2);
            size_t len;
            const char *text = lua_tolstring(L, -1, &len);
            yaml_key_text(y->b, text, len);
            lua_pop(L, 1);
        } else {
            yaml_key_text(y->b, keys[i].text, keys[i].len);
        }
        lua_rawgeti(L, anchor, keys[i].slot);
        lua_rawget(L, idx);
        int value = lua_gettop(L);
        bool nested = print_as_structure(L, value, depth + 1) &&
                      !table_is_empty(L, value);
        mp_sbuf_adds(y->b, nested ? ":" : ": ");
        yaml_value(y, value, indent + 2, depth + 1);
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
}

static void yaml_number(lua_State *L, mp_sbuf *b, int idx)
{
    if (lua_isinteger(L, idx)) {
        mp_sbuf_addf(b, "%lld", (long long)lua_tointeger(L, idx));
        return;
    }
    double d = lua_tonumber(L, idx);
    if (isfinite(d))
        mp_sbuf_addf(b, "%.14g", d);
    else
        mp_sbuf_adds(b, isnan(d) ? ".nan" : d > 0 ? ".inf" : "-.inf");
}

static bool table_is_empty(lua_State *L, int idx)
{
    lua_pushnil(L);
    if (!lua_next(L, idx))
        return true;
    lua_pop(L, 2);
    return false;
}

/* Tables print as YAML structure (read raw, whatever their metatable)
 * unless they nest too deep. */
static bool print_as_structure(lua_State *L, int idx, int depth)
{
    return lua_type(L, idx) == LUA_TTABLE && depth < YAML_MAX_DEPTH;
}

static void yaml_value(yaml_out *y, int idx, int indent, int depth)
{
    lua_State *L = y->L;
    int type = lua_type(L, idx);
    if (type == LUA_TNUMBER) {
        yaml_number(L, y->b, idx);
    } else if (type == LUA_TBOOLEAN) {
        mp_sbuf_adds(y->b, lua_toboolean(L, idx) ? "true" : "false");
    } else if (type == LUA_TNIL) {
        mp_sbuf_adds(y->b, "~");
    } else if (print_as_structure(L, idx, depth)) {
        if (is_sequence(L, idx))
            yaml_sequence(y, idx, indent, depth);
        else if (table_is_empty(L, idx))
            mp_sbuf_adds(y->b, "{}");
        else
            yaml_mapping(y, idx, indent, depth, false);
    } else {
        size_t len;
        const char *s = push_plain_text(L, idx, &len);
        yaml_string(y, s, len, indent);
        lua_pop(L, 1);
    }
}

/* Append a YAML diagnostics block for the table at idx. */
static void yaml_block(lua_State *L, mp_sbuf *b, int idx, int indent)
{
    yaml_out y = { L, b, b->len + YAML_BLOCK_MAX };
    mp_sbuf_addf(b, "%*s---\n%*s", indent, "", indent, "");
    yaml_mapping(&y, lua_absindex(L, idx), indent, 0, true);
    mp_sbuf_addf(b, "\n%*s...\n", indent, "");
}

/* ---- reporter state ---- */

static reporter *check_reporter(lua_State *L)
{
    return luaL_checkudata(L, 1, REPORT_MT);
}

/* Replace argument idx by redact_all(argument). Raises only before the
 * method has allocated anything. */
static void redact_arg(lua_State *L, int idx)
{
    luaL_checkany(L, idx);
    lua_getiuservalue(L, 1, 1);
    lua_pushvalue(L, idx);
    lua_call(L, 1, 1);
    lua_replace(L, idx);
}

static file_report *check_file(lua_State *L, reporter *r, int idx)
{
    lua_Integer i = luaL_checkinteger(L, idx);
    luaL_argcheck(L, i >= 1 && i <= r->nfiles, idx, "no such file index");
    return &r->files[i - 1];
}

static const char *opt_field(lua_State *L, int t, const char *name,
                             size_t *len)
{
    raw_field(L, t, name);
    const char *s = lua_tolstring(L, -1, len);
    lua_pop(L, 1);                 /* still anchored by the table */
    return s;
}

static void append_directive(mp_sbuf *b, const char *directive,
                             const char *reason, size_t reason_len)
{
    if (!directive)
        return;
    mp_sbuf_addf(b, " # %s", directive);
    if (reason && reason_len) {
        mp_sbuf_adds(b, " ");
        mp_tap_escape_cut(b, reason, reason_len, NAME_MAX_BYTES);
    }
}

/* Append "ok N - name # DIRECTIVE reason" and, if given, the diagnostics. */
static void append_point(lua_State *L, mp_sbuf *b, int t, int indent,
                         int number, bool ok)
{
    size_t name_len = 0, reason_len = 0;
    const char *name = opt_field(L, t, "name", &name_len);
    const char *directive = opt_field(L, t, "directive", NULL);
    const char *reason = opt_field(L, t, "reason", &reason_len);
    mp_sbuf_addf(b, "%*s%sok %d - ", indent, "", ok ? "" : "not ", number);
    mp_tap_escape_cut(b, name ? name : "", name_len, NAME_MAX_BYTES);
    append_directive(b, directive, reason, reason_len);
    mp_sbuf_adds(b, "\n");
    if (raw_field(L, t, "diag") == LUA_TTABLE)
        yaml_block(L, b, lua_gettop(L), indent + 2);
    lua_pop(L, 1);
}

/* ---- JUnit ---- */

/* Append <tag message="diag.message">YAML of diag</tag> for the table at
 * t's field "diag". */
static void junit_problem(lua_State *L, mp_sbuf *b, int t, const char *tag)
{
    mp_sbuf diag = { 0 };
    const char *msg = NULL;
    size_t msg_len = 0;
    if (raw_field(L, t, "diag") == LUA_TTABLE) {
        yaml_block(L, &diag, lua_gettop(L), 0);
        msg = opt_field(L, lua_gettop(L), "message", &msg_len);
    }
    mp_sbuf_addf(b, "      <%s message=\"", tag);
    if (msg)
        msg_len = mp_utf8_prefix(msg, msg_len, YAML_SCALAR_MAX);
    mp_xml_escape(b, msg ? msg : "failed", msg ? msg_len : 6);
    mp_sbuf_adds(b, "\">");
    mp_xml_escape(b, diag.data ? diag.data : "", diag.len);
    mp_sbuf_addf(b, "</%s>\n", tag);
    lua_pop(L, 1);
    mp_sbuf_free(&diag);
}

static void junit_open_case(mp_sbuf *b, const file_report *f, const char *name,
                            size_t len, double elapsed)
{
    mp_sbuf_adds(b, "    <testcase name=\"");
    mp_xml_escape(b, name, mp_utf8_prefix(name, len, NAME_MAX_BYTES));
    mp_sbuf_adds(b, "\" classname=\"");
    mp_xml_escape(b, f->name, strlen(f->name));
    mp_sbuf_addf(b, "\" time=\"%.3f\">\n", elapsed);
}

/* One <testcase> per test point: SKIP and TODO are <skipped> (a TODO is
 * not a failure in TAP either), a failure is <failure> with the YAML. */
static void junit_case(lua_State *L, file_report *f, int t, bool ok)
{
    mp_sbuf *b = &f->junit_cases;
    size_t len = 0, reason_len = 0;
    const char *name = opt_field(L, t, "name", &len);
    const char *directive = opt_field(L, t, "directive", NULL);
    const char *reason = opt_field(L, t, "reason", &reason_len);
    raw_field(L, t, "elapsed");
    junit_open_case(b, f, name ? name : "", len, lua_tonumber(L, -1));
    lua_pop(L, 1);
    f->j_tests++;
    if (directive) {
        mp_sbuf_adds(b, "      <skipped message=\"");
        if (strcmp(directive, "TODO") == 0)
            mp_sbuf_adds(b, "TODO: ");
        if (reason)
            reason_len = mp_utf8_prefix(reason, reason_len, NAME_MAX_BYTES);
        mp_xml_escape(b, reason ? reason : "", reason ? reason_len : 0);
        mp_sbuf_adds(b, "\"/>\n");
        f->j_skipped++;
    } else if (!ok) {
        junit_problem(L, b, t, "failure");
        f->j_failures++;
    }
    const char *out = opt_field(L, t, "output", &len);
    if (out && len) {
        mp_sbuf_adds(b, "      <system-out>");
        mp_xml_escape(b, out, mp_utf8_prefix(out, len, NOTES_FILE_MAX));
        mp_sbuf_adds(b, "</system-out>\n");
    }
    mp_sbuf_adds(b, "    </testcase>\n");
}

/* A file that failed as a whole (crash, timeout, load error): an <error>
 * testcase of its own, so the reason shows in JUnit too. */
static void junit_file_error(lua_State *L, file_report *f, int t)
{
    mp_sbuf *b = &f->junit_cases;
    static const char name[] = "the file as a whole";
    junit_open_case(b, f, name, sizeof name - 1, f->elapsed);
    junit_problem(L, b, t, "error");
    mp_sbuf_adds(b, "    </testcase>\n");
    f->j_tests++;
    f->j_errors++;
}

static void junit_suite(FILE *out, const file_report *f)
{
    mp_sbuf b = { 0 };
    mp_sbuf_adds(&b, "  <testsuite name=\"");
    mp_xml_escape(&b, f->name, strlen(f->name));
    mp_sbuf_addf(&b, "\" tests=\"%d\" failures=\"%d\" errors=\"%d\" "
                 "skipped=\"%d\" time=\"%.3f\" timestamp=\"%s\">\n",
                 f->j_tests, f->j_failures, f->j_errors, f->j_skipped,
                 f->elapsed, f->timestamp);
    fwrite(b.data, 1, b.len, out);
    if (f->junit_cases.len)
        fwrite(f->junit_cases.data, 1, f->junit_cases.len, out);
    if (f->junit_out.len) {
        fputs("    <system-out>", out);
        fwrite(f->junit_out.data, 1, f->junit_out.len, out);
        fputs("</system-out>\n", out);
    }
    fputs("  </testsuite>\n", out);
    mp_sbuf_free(&b);
}

/* A run that bailed out says so in the JUnit file too: a testsuite named
 * "Bail out!" whose one testcase is an error with the reason (read alone,
 * the XML would otherwise show a run with nothing wrong). */
static void junit_bail(FILE *out, const reporter *r)
{
    mp_sbuf b = { 0 };
    size_t len = strlen(r->bail_reason);
    mp_sbuf_addf(&b, "  <testsuite name=\"Bail out!\" tests=\"1\" failures=\"0\" "
                 "errors=\"1\" skipped=\"0\" time=\"0.000\" timestamp=\"%s\">\n"
                 "    <testcase name=\"Bail out!\" classname=\"mpod-lua\" "
                 "time=\"0.000\">\n      <error message=\"", r->bail_timestamp);
    mp_xml_escape(&b, r->bail_reason, len);
    mp_sbuf_adds(&b, "\">");
    mp_xml_escape(&b, r->bail_reason, len);
    mp_sbuf_adds(&b, "</error>\n    </testcase>\n  </testsuite>\n");
    fwrite(b.data, 1, b.len, out);
    mp_sbuf_free(&b);
}

/* Write the JUnit file; returns NULL or an error message. */
static const char *write_junit(reporter *r, double elapsed)
{
    FILE *out = fopen(r->junit_path, "w");
    if (!out)
        return "cannot open";
    int tests = 0, failures = 0, errors = 0, skipped = 0;
    for (int i = 0; i < r->nfiles; i++) {
        tests += r->files[i].j_tests;
        failures += r->files[i].j_failures;
        errors += r->files[i].j_errors;
        skipped += r->files[i].j_skipped;
    }
    if (r->bail_reason) {
        tests++;
        errors++;
    }
    fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<testsuites name=\"mpod-lua\" tests=\"%d\" failures=\"%d\" "
            "errors=\"%d\" skipped=\"%d\" time=\"%.3f\">\n",
            tests, failures, errors, skipped, elapsed);
    for (int i = 0; i < r->nfiles; i++)
        junit_suite(out, &r->files[i]);
    if (r->bail_reason)
        junit_bail(out, r);
    fputs("</testsuites>\n", out);
    return fclose(out) == 0 ? NULL : "cannot write";
}

/* ---- Lua API ---- */

/* report.new{tap_version=13|14, junit=path, progress=bool, total=n}; the
 * reporter keeps require("mpod.redact").redact_all for its methods */
static int l_new(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    reporter *r = lua_newuserdatauv(L, sizeof *r, 1);
    memset(r, 0, sizeof *r);
    luaL_setmetatable(L, REPORT_MT);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "mpod.redact");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "redact_all");
    lua_setiuservalue(L, -3, 1);
    lua_pop(L, 1);
    lua_getfield(L, 1, "tap_version");
    r->tap_version = (int)luaL_optinteger(L, -1, 13);
    luaL_argcheck(L, r->tap_version == 13 || r->tap_version == 14, 1,
                  "tap_version must be 13 or 14");
    lua_getfield(L, 1, "progress");
    r->progress = lua_toboolean(L, -1);
    lua_getfield(L, 1, "total");
    r->total = (int)luaL_optinteger(L, -1, 0);
    const char *junit = opt_field(L, 1, "junit", NULL);
    r->junit_path = junit ? strdup(junit) : NULL;
    lua_pop(L, 3);
    r->t0 = mp_now();
    return 1;
}

/* r:file_begin(name) -> index */
static int l_file_begin(lua_State *L)
{
    reporter *r = check_reporter(L);
    redact_arg(L, 2);
    const char *name = luaL_checkstring(L, 2);
    if (r->nfiles == r->cap) {
        int cap = r->cap ? r->cap * 2 : 16;
        file_report *files = realloc(r->files, (size_t)cap * sizeof *files);
        if (!files)
            return luaL_error(L, "out of memory");
        r->files = files;
        r->cap = cap;
    }
    file_report *f = &r->files[r->nfiles++];
    memset(f, 0, sizeof *f);
    f->name = strdup(name);
    f->elapsed = mp_now();                  /* start time until file_end */
    time_t now = time(NULL);
    strftime(f->timestamp, sizeof f->timestamp, "%Y-%m-%dT%H:%M:%S",
             gmtime(&now));
    mp_sbuf_adds(&f->tap, "# Subtest: ");
    mp_tap_escape_name(&f->tap, name, strlen(name));
    mp_sbuf_adds(&f->tap, "\n");
    pump(r);
    progress(r, name, NULL);
    lua_pushinteger(L, r->nfiles);
    return 1;
}

static void count_test(reporter *r, file_report *f, bool ok,
                       const char *directive)
{
    int *file_counter, *run_counter;
    if (directive && strcmp(directive, "SKIP") == 0) {
        file_counter = &f->skipped;
        run_counter = &r->skipped;
    } else if (directive && strcmp(directive, "TODO") == 0) {
        file_counter = &f->todo;
        run_counter = &r->todo;
    } else if (ok) {
        file_counter = &f->passed;
        run_counter = &r->passed;
    } else {
        file_counter = &f->failed;
        run_counter = &r->failed;
    }
    (*file_counter)++;
    (*run_counter)++;
}

/* r:test(index, {name=, ok=, directive=, reason=, diag=, elapsed=, output=}) */
static int l_test(lua_State *L)
{
    reporter *r = check_reporter(L);
    file_report *f = check_file(L, r, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    luaL_argcheck(L, !f->ended, 2, "file already ended");
    redact_arg(L, 3);
    raw_field(L, 3, "ok");
    bool ok = lua_toboolean(L, -1);
    lua_pop(L, 1);
    const char *directive = opt_field(L, 3, "directive", NULL);
    f->ntests++;
    count_test(r, f, ok, directive);
    append_point(L, &f->tap, 3, SUBTEST_INDENT, f->ntests, ok);
    junit_case(L, f, 3, ok);
    pump(r);
    progress(r, f->name, opt_field(L, 3, "name", NULL));
    return 0;
}

/* Append text as comment lines ("# ...") at the given indentation, each
 * line cut to NOTE_LINE_MAX bytes. */
static void append_comment(mp_sbuf *b, const char *text, size_t len,
                           int indent)
{
    if (len > 0 && text[len - 1] == '\n')
        len--;                     /* a final newline ends the last line */
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && text[i] != '\n')
            continue;
        mp_sbuf_addf(b, "%*s# ", indent, "");
        mp_tap_escape_cut(b, text + start, i - start, NOTE_LINE_MAX);
        mp_sbuf_adds(b, "\n");
        start = i + 1;
    }
}

/* r:note(index, text): a comment inside the file's subtest; past
 * NOTES_FILE_MAX bytes of notes in a file, one line says the rest is left
 * out */
static int l_note(lua_State *L)
{
    reporter *r = check_reporter(L);
    file_report *f = check_file(L, r, 2);
    redact_arg(L, 3);
    size_t len;
    const char *text = luaL_checklstring(L, 3, &len);
    size_t keep = mp_utf8_prefix(text, len, NOTES_FILE_MAX - f->notes_bytes);
    f->notes_bytes += keep;
    if (keep > 0 && !f->ended)
        append_comment(&f->tap, text, keep, SUBTEST_INDENT);
    if (keep > 0) {
        mp_xml_escape(&f->junit_out, text, keep);
        mp_sbuf_adds(&f->junit_out, "\n");
    }
    if (keep < len && !f->notes_cut) {
        static const char cut[] = "(notes past 1 MiB in this file are left out)";
        f->notes_cut = true;
        if (!f->ended)
            append_comment(&f->tap, cut, sizeof cut - 1, SUBTEST_INDENT);
        mp_sbuf_adds(&f->junit_out, cut);
        mp_sbuf_adds(&f->junit_out, "\n");
    }
    pump(r);
    return 0;
}

/* r:comment(text [, index]): a top-level comment, after file `index`'s
 * point when given (or after the latest file), else at once. */
static int l_comment(lua_State *L)
{
    reporter *r = check_reporter(L);
    redact_arg(L, 2);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    if (r->nfiles == 0 || r->head >= r->nfiles) {
        mp_sbuf b = { 0 };
        append_comment(&b, text, len, 0);
        ensure_header(r);
        if (!r->bailed)
            write_out(b.data, b.len);
        mp_sbuf_free(&b);
        fflush(stdout);
        return 0;
    }
    file_report *f = lua_isnoneornil(L, 3) ? &r->files[r->nfiles - 1]
                                           : check_file(L, r, 3);
    append_comment(&f->trailer, text, len, 0);
    pump(r);
    return 0;
}

/* r:file_end(index, {ok=, directive=, reason=, diag=}) -> ok */
static int l_file_end(lua_State *L)
{
    reporter *r = check_reporter(L);
    file_report *f = check_file(L, r, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    luaL_argcheck(L, !f->ended, 2, "file already ended");
    redact_arg(L, 3);
    raw_field(L, 3, "ok");
    f->failed_itself = !lua_isnil(L, -1) && !lua_toboolean(L, -1);
    lua_pop(L, 1);
    bool ok = !f->failed_itself && f->failed == 0;
    if (f->failed_itself)
        r->failed++;
    if (!ok)
        r->files_failed++;
    f->elapsed = mp_now() - f->elapsed;
    if (f->failed_itself)
        junit_file_error(L, f, 3);
    mp_sbuf_addf(&f->tap, "%*s1..%d", SUBTEST_INDENT, "", f->ntests);
    const char *directive = opt_field(L, 3, "directive", NULL);
    size_t reason_len = 0;
    const char *reason = opt_field(L, 3, "reason", &reason_len);
    if (f->ntests == 0 && directive && strcmp(directive, "SKIP") == 0)
        append_directive(&f->tap, "SKIP", reason, reason_len);
    mp_sbuf_adds(&f->tap, "\n");
    lua_pushstring(L, f->name);
    lua_setfield(L, 3, "name");
    append_point(L, &f->tap, 3, 0, (int)(f - r->files) + 1, ok);
    f->ended = true;
    pump(r);
    progress(r, NULL, NULL);
    lua_pushboolean(L, ok);
    return 1;
}

/* r:bail(reason): "Bail out!" and no more TAP */
static int l_bail(lua_State *L)
{
    reporter *r = check_reporter(L);
    redact_arg(L, 2);
    size_t len;
    const char *reason = luaL_checklstring(L, 2, &len);
    pump(r);
    mp_sbuf b = { 0 };
    mp_sbuf_adds(&b, "Bail out! ");
    mp_tap_escape_name(&b, reason, len);
    mp_sbuf_adds(&b, "\n");
    write_out(b.data, b.len);
    fflush(stdout);
    mp_sbuf_free(&b);
    if (!r->bail_reason) {
        r->bail_reason = strndup(reason, mp_utf8_prefix(reason, len, YAML_SCALAR_MAX));
        time_t now = time(NULL);
        strftime(r->bail_timestamp, sizeof r->bail_timestamp,
                 "%Y-%m-%dT%H:%M:%S", gmtime(&now));
    }
    r->bailed = true;
    return 0;
}

static void push_totals(lua_State *L, reporter *r, double elapsed)
{
    lua_createtable(L, 0, 7);
    lua_pushinteger(L, r->passed);
    lua_setfield(L, -2, "passed");
    lua_pushinteger(L, r->failed);
    lua_setfield(L, -2, "failed");
    lua_pushinteger(L, r->skipped);
    lua_setfield(L, -2, "skipped");
    lua_pushinteger(L, r->todo);
    lua_setfield(L, -2, "todo");
    lua_pushinteger(L, r->nfiles);
    lua_setfield(L, -2, "files");
    lua_pushinteger(L, r->files_failed);
    lua_setfield(L, -2, "files_failed");
    lua_pushnumber(L, elapsed);
    lua_setfield(L, -2, "elapsed");
}

/* r:finish() -> totals; prints the plan, writes JUnit, the closing line */
static int l_finish(lua_State *L)
{
    reporter *r = check_reporter(L);
    luaL_argcheck(L, !r->finished, 1, "already finished");
    r->finished = true;
    double elapsed = mp_now() - r->t0;
    pump(r);
    if (!r->bailed) {
        printf("1..%d\n", r->nfiles);
        fflush(stdout);
    }
    if (r->progress)
        fputs("\r\033[K", stderr);
    fprintf(stderr, "mpod-lua: %d passed, %d failed, %d skipped", r->passed,
            r->failed, r->skipped);
    if (r->todo)
        fprintf(stderr, ", %d todo", r->todo);
    fprintf(stderr, " (%.1f s)\n", elapsed);
    push_totals(L, r, elapsed);
    if (r->junit_path) {
        const char *err = write_junit(r, elapsed);
        if (err) {
            lua_pushfstring(L, "%s %s", err, r->junit_path);
            lua_setfield(L, -2, "junit_error");
        }
    }
    return 1;
}

static int l_gc(lua_State *L)
{
    reporter *r = check_reporter(L);
    for (int i = 0; i < r->nfiles; i++) {
        file_report *f = &r->files[i];
        free(f->name);
        mp_sbuf_free(&f->tap);
        mp_sbuf_free(&f->trailer);
        mp_sbuf_free(&f->junit_cases);
        mp_sbuf_free(&f->junit_out);
    }
    free(r->files);
    free(r->junit_path);
    free(r->bail_reason);
    memset(r, 0, sizeof *r);
    return 0;
}

/* report.escape_name(s), report.yaml(t) -> text: the formatting rules, for
 * tests and for other reports. */
static int l_escape_name(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    mp_sbuf b = { 0 };
    mp_tap_escape_name(&b, s, len);
    lua_pushlstring(L, b.data ? b.data : "", b.len);
    mp_sbuf_free(&b);
    return 1;
}

static int l_yaml(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    int indent = (int)luaL_optinteger(L, 2, 0);
    luaL_Buffer lb;
    mp_sbuf b = { 0 };
    yaml_block(L, &b, 1, indent);
    luaL_buffinit(L, &lb);
    luaL_addlstring(&lb, b.data, b.len);
    mp_sbuf_free(&b);
    luaL_pushresult(&lb);
    return 1;
}

static const luaL_Reg report_methods[] = {
    { "file_begin", l_file_begin },
    { "test", l_test },
    { "note", l_note },
    { "comment", l_comment },
    { "file_end", l_file_end },
    { "bail", l_bail },
    { "finish", l_finish },
    { NULL, NULL }
};

static const luaL_Reg report_meta[] = {
    { "__gc", l_gc },
    { NULL, NULL }
};

static const luaL_Reg report_functions[] = {
    { "new", l_new },
    { "escape_name", l_escape_name },
    { "yaml", l_yaml },
    { NULL, NULL }
};

int luaopen_mpod_report(lua_State *L)
{
    mp_new_class(L, REPORT_MT, report_methods, report_meta);
    lua_pop(L, 1);
    luaL_newlib(L, report_functions);
    lua_pushboolean(L, isatty(STDERR_FILENO));
    lua_setfield(L, -2, "stderr_is_tty");
    return 1;
}
