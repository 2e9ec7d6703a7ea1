/*
 * pgvalue.h: Postgres values in their text format to Lua values and back,
 * with no libpq in sight, so the conversion can be unit-tested and fuzzed
 * on its own (tests/c/test_pgvalue.c, tests/fuzz/fuzz_pgvalue.c).
 *
 * Reading: a value of a known type OID becomes a typed Lua value (see
 * docs/postgres.md for the table); text that does not parse as its type
 * claims (which a real server never sends) comes back as the text itself,
 * so reading never fails except for json, whose decoder raises. Writing:
 * a Lua query parameter becomes the text Postgres parses for it.
 */
#ifndef MPOD_PGVALUE_H
#define MPOD_PGVALUE_H

#include <lua.h>
#include <stddef.h>

/* Type OIDs (stable since Postgres 7; pg_type.dat). */
enum {
    PGV_BOOL = 16, PGV_BYTEA = 17, PGV_INT8 = 20, PGV_INT2 = 21,
    PGV_INT4 = 23, PGV_OID = 26, PGV_JSON = 114, PGV_FLOAT4 = 700,
    PGV_FLOAT8 = 701, PGV_NUMERIC = 1700, PGV_JSONB = 3802,
    PGV_TEXT = 25, PGV_TEXT_ARRAY = 1009, PGV_INT4_ARRAY = 1007
};

/* Arrays nest at most this deep (Postgres's MAXDIM). */
#define PGV_MAX_DEPTH 6

/* Push the Lua value of the text-format value s[0..len) of type `oid`.
 * Postgres NULL is the caller's business (mp_push_null). Raises only for
 * invalid json/jsonb text and out of memory. */
void mp_pgv_push(lua_State *L, unsigned int oid, const char *s, size_t len);

/* How a parameter goes to the server. */
typedef enum { PGV_PARAM_NULL, PGV_PARAM_TEXT, PGV_PARAM_BINARY } pgv_param;

/* Convert the Lua value at idx into a query parameter. For TEXT and BINARY
 * it pushes the string that holds the bytes (the caller keeps it on the
 * stack while the pointer is used) and sets *s and *len; for NULL (nil and
 * mp.null) it pushes nothing. A string holding a NUL byte goes as BINARY
 * (raw bytes: right for bytea). Raises a "usage" error naming $n for a
 * value no parameter can hold (function, userdata, thread) and a "json"
 * error for a table JSON cannot hold. */
pgv_param mp_pgv_param(lua_State *L, int idx, int n, const char **s,
                       size_t *len);

#endif
