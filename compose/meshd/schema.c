/* schema.c: the schema as one idempotent script. The script runs in one
 * transaction that first takes a transaction-scoped advisory lock, so
 * concurrent migrations queue up instead of racing on CREATE ... IF NOT
 * EXISTS (which is not safe against itself). Ids are uuids (text in JSON),
 * timestamps timestamptz. Columns added after a table first shipped come in
 * with ADD COLUMN IF NOT EXISTS, so the script also upgrades an older
 * schema in place. */
#include "schema.h"

#include "db.h"
#include "log.h"
#include "util.h"

#include <unistd.h>

enum { SCRIPT_TIMEOUT_MS = 30000, RETRY_PAUSE_MS = 500 };

static const char schema_script[] =
    "BEGIN;"
    "SELECT pg_advisory_xact_lock(7164959212410261860);"
    "CREATE TABLE IF NOT EXISTS users ("
    "  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),"
    "  email text NOT NULL UNIQUE,"
    "  name text NOT NULL,"
    "  password_hash text NOT NULL,"
    "  created_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE IF NOT EXISTS sessions ("
    "  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),"
    "  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  token_hash bytea NOT NULL UNIQUE,"
    "  created_by_pod text NOT NULL,"
    "  created_at timestamptz NOT NULL DEFAULT now(),"
    "  expires_at timestamptz NOT NULL);"
    "CREATE TABLE IF NOT EXISTS api_keys ("
    "  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),"
    "  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  name text,"
    "  key_hash bytea NOT NULL UNIQUE,"
    "  created_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE IF NOT EXISTS orgs ("
    "  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),"
    "  name text NOT NULL,"
    "  slug text NOT NULL UNIQUE,"
    "  created_by uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  created_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE IF NOT EXISTS org_members ("
    "  org_id uuid NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,"
    "  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  role text NOT NULL,"
    "  PRIMARY KEY (org_id, user_id));"
    "CREATE TABLE IF NOT EXISTS threads ("
    "  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),"
    "  user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
    "  title text NOT NULL DEFAULT '',"
    "  status text NOT NULL DEFAULT 'idle'"
    "    CHECK (status IN ('idle', 'in_progress', 'completed')),"
    "  message text,"
    "  chunk_total integer,"
    "  chunk_interval_ms integer,"
    "  run_owner_pod text,"
    "  run_owner_instance text,"
    "  run_started_at timestamptz,"
    "  run_claimed_at timestamptz,"
    "  completed_at timestamptz,"
    "  created_at timestamptz NOT NULL DEFAULT now());"
    "CREATE INDEX IF NOT EXISTS threads_by_user ON threads (user_id, created_at);"
    "CREATE INDEX IF NOT EXISTS threads_in_progress ON threads (id)"
    "  WHERE status = 'in_progress';"
    "CREATE TABLE IF NOT EXISTS thread_message_parts ("
    "  thread_id uuid NOT NULL REFERENCES threads(id) ON DELETE CASCADE,"
    "  seq integer NOT NULL CHECK (seq > 0),"
    "  text text NOT NULL,"
    "  pod text NOT NULL,"
    "  created_at timestamptz NOT NULL DEFAULT now(),"
    "  PRIMARY KEY (thread_id, seq));"
    "ALTER TABLE thread_message_parts ADD COLUMN IF NOT EXISTS instance text;"
    "CREATE TABLE IF NOT EXISTS run_claims ("
    "  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    "  thread_id uuid NOT NULL REFERENCES threads(id) ON DELETE CASCADE,"
    "  kind text NOT NULL CHECK (kind IN ('claim', 'takeover')),"
    "  pod text NOT NULL,"
    "  instance text NOT NULL,"
    "  from_pod text,"
    "  from_instance text,"
    "  claimed_at timestamptz NOT NULL);"
    "CREATE INDEX IF NOT EXISTS run_claims_by_thread ON run_claims (thread_id, claimed_at);"
    "CREATE TABLE IF NOT EXISTS pods ("
    "  name text PRIMARY KEY,"
    "  instance text NOT NULL,"
    "  started_at timestamptz NOT NULL DEFAULT now(),"
    "  heartbeat_at timestamptz NOT NULL);"
    "COMMIT;";

int schema_migrate(int wait_ms)
{
    int64_t deadline = now_ms() + wait_ms;
    for (;;) {
        enum db_status st = db_run_script(schema_script, SCRIPT_TIMEOUT_MS);
        if (st == DB_OK) {
            log_plain("migrated");
            return 0;
        }
        if (st != DB_UNAVAILABLE || now_ms() >= deadline) {
            log_plain("migrate_failed");
            return -1;
        }
        usleep(RETRY_PAUSE_MS * 1000);
    }
}
