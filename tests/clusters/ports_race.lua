-- ports_race.lua: a port chosen for a service is taken before the service
-- binds it. The first time (no file at $MARK), `squatter` listens on the
-- port chosen for `web`, so web fails with "Address already in use"; the
-- cluster is then brought up again with new ports, and squatter, seeing
-- $MARK, keeps to a port of its own. squatter answers 503 (--ready-delay),
-- so web's readiness check cannot pass on squatter's word. TAG names the
-- processes.
local podsvc = "${ROOT}/../../${BUILD}/fixtures/podsvc"
return {
  name = "race-${TAG}",
  backend = "process",
  services = {
    { name = "squatter",
      cmd = { "/bin/sh", "-c", "if [ -e \"$MARK\" ]; then p=${PORT:squatter}; " ..
              "else touch \"$MARK\"; p=${PORT:web}; fi; exec \"$0\" --name squatter-${TAG} --port $p " ..
              "--ready-delay 600000",
              podsvc },
      ready = { log = "started", timeout = 10 } },
    { name = "web", after = { "squatter" }, url = "http://127.0.0.1:${PORT:web}",
      cmd = { podsvc, "--name", "web-${TAG}", "--port", "${PORT:web}" },
      ready = { http = "/health", timeout = 10 } },
  },
}
