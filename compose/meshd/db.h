/* db.h: meshd's Postgres access: a small pool of libpq connections, each
 * statement bounded by a deadline so nothing waits forever. A connection that
 * fails, times out or looks dead is dropped and reconnected on next use.
 * Transitions between reachable and unreachable are logged as
 * event=postgres_up / event=postgres_down. */
#ifndef MESHD_DB_H
#define MESHD_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

enum db_status {
    DB_OK,
    DB_UNAVAILABLE, /* cannot connect, connection lost, timed out */
    DB_CONFLICT,    /* unique violation */
    DB_FAILED,      /* any other SQL error (logged) */
};

/* Creates the pool (cfg.db_pool_size slots, connected lazily). */
int db_init(void);
/* Closes the idle pooled connections, after waiting a moment for busy
 * ones to come back; no slot is lent afterwards. */
void db_shutdown(void);

/* Runs one parameterised statement on a pooled connection. On DB_OK *out is
 * the result, which the caller PQclear()s; otherwise *out is NULL. */
enum db_status db_query(PGresult **out, const char *sql, int nparams,
                        const char *const *params);

/* Runs a multi-statement script on a fresh connection of its own, within
 * timeout_ms including the connect. */
enum db_status db_run_script(const char *script, int timeout_ms);

/* True when Postgres answers SELECT 1 within budget_ms. */
bool db_ping(int budget_ms);

/* The value at (row, col), or NULL for SQL NULL. */
const char *db_text(const PGresult *res, int row, int col);

#endif
