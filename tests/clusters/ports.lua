-- ports.lua: a process-backend cluster whose ports mpod-lua chooses
-- (${PORT:name}): two podsvc pods, web-2 with a second port its wrapper
-- gets in its environment. One file brought up several times at once
-- under several names (--name) is how tests/lua/backend_process.lua shows
-- that clusters on one machine do not collide. TAG names its processes.
local podsvc = "${ROOT}/../../${BUILD}/fixtures/podsvc"
return {
  name = "ports-${TAG}",
  backend = "process",
  services = {
    { name = "web-1", group = "web", url = "http://127.0.0.1:${PORT:web-1}",
      cmd = { podsvc, "--name", "web-1-${TAG}", "--port", "${PORT:web-1}" },
      ready = { http = "/health", timeout = 10 } },
    { name = "web-2", group = "web", url = "http://127.0.0.1:${PORT:web-2}/",
      cmd = { podsvc, "--name", "web-2-${TAG}", "--port", "${PORT:web-2}" },
      env = { ADMIN_PORT = "${PORT:web-2-admin}" },
      ready = { tcp = "127.0.0.1:${PORT:web-2}", timeout = 10 } },
  },
}
