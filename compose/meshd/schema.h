/* schema.h: meshd's tables, applied idempotently under an advisory lock. */
#ifndef MESHD_SCHEMA_H
#define MESHD_SCHEMA_H

/* Applies the schema, retrying while Postgres is unreachable for up to
 * wait_ms. Safe when several processes run it at once. Returns 0 or -1. */
int schema_migrate(int wait_ms);

#endif
