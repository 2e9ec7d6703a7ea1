-- chaos.lua: the runner-chaos test's process cluster (tests/lua/chaos.lua):
-- procs.lua's services (a one-shot, a pod with a child, a slow stopper, a
-- worker) behind a proxy of a Toxiproxy that is not part of the cluster
-- (PORT_T, started by the test), so faults set on it outlive a killed
-- runner unless the teardown clears them. PORT_A, PORT_B, PORT_P and TAG
-- come from the environment.
local podsvc = "${ROOT}/../../${BUILD}/fixtures/podsvc"
return {
  name = "chaos-${TAG}",
  backend = "process",
  http = { timeout = 5 },
  toxiproxy = { url = "http://127.0.0.1:${PORT_T}" },
  proxies = { web = { listen = "127.0.0.1:${PORT_P}", upstream = "127.0.0.1:${PORT_A}" } },
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
