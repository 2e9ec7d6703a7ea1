-- procs.lua: a small process-backend cluster for the engine's own tests,
-- made of podsvc (tests/fixtures/podsvc.c). Ports and a tag that makes its
-- processes easy to count come from the environment (PORT_A, PORT_B, TAG).
local podsvc = "${ROOT}/../../${BUILD}/fixtures/podsvc"
return {
  name = "selftest-${TAG}",
  backend = "process",
  http = { headers = { Origin = "http://localhost:3000" }, timeout = 5 },
  services = {
    { name = "setup", oneshot = true,
      cmd = { podsvc, "--name", "setup-${TAG}", "--exit", "0", "--after", "50" } },
    { name = "a", group = "web", after = { "setup" },
      cmd = { podsvc, "--name", "a-${TAG}", "--port", "${PORT_A}", "--child" },
      url = "http://127.0.0.1:${PORT_A}", ready = { http = "/health", timeout = 10 } },
    { name = "b", group = "web", after = { "a" },
      cmd = { podsvc, "--name", "b-${TAG}", "--port", "${PORT_B}", "--stop-delay", "100" },
      url = "http://127.0.0.1:${PORT_B}", ready = { tcp = "127.0.0.1:${PORT_B}", timeout = 10 } },
    { name = "worker", group = "jobs", after = { "setup" },
      cmd = { podsvc, "--name", "worker-${TAG}" }, ready = { log = "started" } },
  },
}
