-- docker.lua: the compose-backend twin of procs.lua, over
-- tests/compose/docker-compose.yml (TAG, PORT_A, PORT_B from the environment;
-- TEST_COMPOSE_CLI, when set, is compose.cli).
return {
  name = "dselftest-${TAG}",
  backend = "compose",
  compose = { file = "../compose/docker-compose.yml", project = "mpod-selftest-${TAG}",
              cli = os.getenv("TEST_COMPOSE_CLI") },
  http = { timeout = 5 },
  services = {
    { name = "setup", oneshot = true },
    { name = "a", group = "web", url = "http://127.0.0.1:${PORT_A}", ready = { http = "/health", timeout = 30 } },
    { name = "b", group = "web", url = "http://127.0.0.1:${PORT_B}", ready = { tcp = "127.0.0.1:${PORT_B}", timeout = 30 } },
  },
}
