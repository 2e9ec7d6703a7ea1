-- pgchaos.lua: the cluster of tests/lua/chaos_postgres.lua: Postgres
-- started as the reference cluster starts it (compose/local/postgres.sh:
-- initdb when PGDATA is empty, as another user through setpriv when run
-- as root, then postgres), a one-shot psql against it, and a pod after
-- that. TAG, PGDATA, PORT_A, PORT_B and BUILD come from the environment.
local podsvc = "${ROOT}/../../${BUILD}/fixtures/podsvc"
return {
  name = "pgchaos-${TAG}",
  backend = "process",
  services = {
    { name = "postgres", stop_signal = "INT",
      cmd = { "${ROOT}/../../compose/local/postgres.sh", "${PGDATA}", "${PORT_A}" },
      ready = { log = "database system is ready to accept connections", timeout = 60 } },
    { name = "migrate", oneshot = true, after = { "postgres" },
      cmd = { "psql", "-X", "-q", "-h", "127.0.0.1", "-p", "${PORT_A}", "-U", "postgres",
              "-c", "CREATE TABLE IF NOT EXISTS t (id int)" } },
    { name = "app", after = { "migrate" },
      cmd = { podsvc, "--name", "app-${TAG}", "--port", "${PORT_B}" },
      ready = { tcp = "127.0.0.1:${PORT_B}", timeout = 10 } },
  },
}
