-- docker.lua: the reference cluster on the compose backend, over
-- compose/docker-compose.yml (project mpod-meshd). The compose file has the
-- commands, the serialized first boot and the healthchecks; this file names
-- the services mpod-lua knows, with their URLs, groups and readiness. Same
-- pod names and groups as compose/local.lua, so every scenario runs on
-- either; docs/reference-cluster.md has the details.
--
--   make images                        (cached; `make run BACKEND=compose` does it)
--   build/mpod-lua --up -C compose/docker.lua scenarios/*.lua
--
-- Host ports (all 127.0.0.1, fixed by the compose file): mesh-1..3
-- 13001-13003, postgres 15432 (direct, for the scenarios' queries), nats
-- 14222 and /healthz on 18222, the toxiproxy API 18474.

local BASE_URL = "http://localhost:3000"

return {
  name = "meshd-docker",
  backend = "compose",
  compose = { file = "docker-compose.yml", project = "mpod-meshd" },
  http = { headers = { Origin = BASE_URL }, timeout = 10 },
  postgres = "postgresql://postgres:postgres@127.0.0.1:15432/postgres?sslmode=disable",
  -- the pods reach Postgres and NATS through Toxiproxy (compose/toxiproxy.json
  -- holds the same proxies, so the service is healthy before the runner
  -- reconciles them); c:proxy("postgres") and c:proxy("nats") drive it, and
  -- c:partition() knows that cutting a pod from "nats" means the nats port
  -- of the toxiproxy container
  toxiproxy = { url = "http://127.0.0.1:18474", service = "toxiproxy" },
  proxies = {
    postgres = { listen = "0.0.0.0:25432", upstream = "postgres:5432" },
    nats = { listen = "0.0.0.0:24222", upstream = "nats:4222" },
  },
  services = {
    -- the published port accepts connections as soon as the container runs,
    -- so readiness waits for the server's own word
    { name = "postgres",
      ready = { log = "database system is ready to accept connections", timeout = 120 } },
    { name = "nats", url = "http://127.0.0.1:18222", ready = { http = "/healthz", timeout = 60 } },
    { name = "toxiproxy", url = "http://127.0.0.1:18474",
      ready = { http = "/proxies/nats", timeout = 60 } },
    { name = "migrate", oneshot = true },
    { name = "mesh-1", group = "mesh", url = "http://127.0.0.1:13001",
      ready = { http = "/health/live", timeout = 60 } },
    { name = "mesh-2", group = "mesh", url = "http://127.0.0.1:13002",
      ready = { http = "/health/live", timeout = 60 } },
    { name = "mesh-3", group = "mesh", url = "http://127.0.0.1:13003",
      ready = { http = "/health/live", timeout = 60 } },
  },
}
