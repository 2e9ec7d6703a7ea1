-- local.lua: the reference cluster on the process backend (no Docker):
-- Postgres (a fresh initdb in the run folder), nats-server with JetStream,
-- Toxiproxy between the pods and Postgres/NATS, a one-shot migrate and
-- three meshd pods. Same pod names and groups as compose/docker.lua, so
-- every scenario runs on either; docs/reference-cluster.md has the details.
--
--   make BUILD=build toxiproxy          (once; `make run` does it)
--   build/mpod-lua --up -C compose/local.lua scenarios/*.lua
--
-- Ports: mpod-lua chooses free ones when the cluster comes up
-- (${PORT:name}, kept in the state so `status` and later runs see the
-- same numbers), so clusters of two people or two CI jobs on one machine
-- never collide; `mpod-lua status` lists them. MESHD_PORT_OFFSET=N fixes
-- them instead, at the compose cluster's plus 10000 plus N, and names the
-- cluster meshd-local-N, for those who want to know them in advance:
--
--   mesh-1..3   23001-23003        postgres      25432 (direct)
--   nats        24222, /healthz on 28222
--   toxiproxy   API 28474; proxies postgres 25433 -> 25432, nats 24223 -> 24222
--
-- Binaries come from $BUILD (default build): $BUILD/meshd, and
-- $BUILD/toxiproxy/toxiproxy-server from `make toxiproxy`. MESHD_BIN names
-- another meshd for the pods and the migration, e.g. a planted-bug variant
-- (MESHD_BIN=build/meshd-bug-ack_before_commit; relative to the repository,
-- like BUILD). Without Go,
-- MESHD_TOXIPROXY=off leaves Toxiproxy out and the pods talk to Postgres
-- and NATS directly (proxy-based scenarios then cannot run).

local offset_text = os.getenv("MESHD_PORT_OFFSET")
local offset = offset_text and math.tointeger(tonumber(offset_text))
if offset_text and not offset then
  error("MESHD_PORT_OFFSET must be a whole number, not '" .. offset_text .. "'", 0)
end
local build = os.getenv("BUILD") or "build"
if build:sub(1, 1) ~= "/" then build = "${ROOT}/../" .. build end
local with_proxy = os.getenv("MESHD_TOXIPROXY") ~= "off"
local meshd_bin = os.getenv("MESHD_BIN")
if not meshd_bin or meshd_bin == "" then
  meshd_bin = build .. "/meshd"
elseif meshd_bin:sub(1, 1) ~= "/" then
  meshd_bin = "${ROOT}/../" .. meshd_bin
end

-- port(fixed, name): the fixed port moved by MESHD_PORT_OFFSET, else the
-- one mpod-lua chooses under name
local function port(fixed, name)
  if offset then return tostring(fixed + offset) end
  return "${PORT:" .. name .. "}"
end

local PG, PG_PROXY = port(25432, "postgres"), port(25433, "postgres-proxy")
local NATS, NATS_PROXY, NATS_MON = port(24222, "nats"), port(24223, "nats-proxy"),
  port(28222, "nats-monitor")
local TOXI_API = port(28474, "toxiproxy")
local BASE_URL = "http://localhost:3000"

-- trust auth (postgres.sh), so no password: nothing for reports to redact
local function dsn(p)
  return "postgresql://postgres@127.0.0.1:" .. p .. "/postgres?sslmode=disable"
end

local services = {
  { name = "postgres", stop_signal = "INT",
    cmd = { "${ROOT}/local/postgres.sh", "${RUN_DIR}/postgres/data", PG },
    ready = { log = "database system is ready to accept connections", timeout = 60 } },
  { name = "nats", url = "http://127.0.0.1:" .. NATS_MON,
    cmd = { "nats-server", "-js", "-a", "127.0.0.1", "-p", NATS, "-m", NATS_MON,
            "-sd", "${RUN_DIR}/nats" },
    ready = { http = "/healthz", timeout = 30 } },
}

local pod_after, pg_url, nats_url = { "migrate", "nats" }, dsn(PG), "nats://127.0.0.1:" .. NATS
if with_proxy then
  services[#services + 1] = {
    name = "toxiproxy", url = "http://127.0.0.1:" .. TOXI_API,
    cmd = { "${ROOT}/local/toxiproxy.sh", build .. "/toxiproxy/toxiproxy-server", TOXI_API,
            "${RUN_DIR}/toxiproxy.json",
            "postgres=127.0.0.1:" .. PG_PROXY .. "=127.0.0.1:" .. PG,
            "nats=127.0.0.1:" .. NATS_PROXY .. "=127.0.0.1:" .. NATS },
    -- proxies are created before the API listens; nats is the last one
    ready = { http = "/proxies/nats", timeout = 30 },
  }
  pod_after = { "migrate", "nats", "toxiproxy" }
  pg_url, nats_url = dsn(PG_PROXY), "nats://127.0.0.1:" .. NATS_PROXY
end

services[#services + 1] = {
  name = "migrate", oneshot = true, after = { "postgres" },
  cmd = { meshd_bin, "--migrate" },
  env = { DATABASE_URL = dsn(PG), POD_NAME = "migrate" },
}

-- Serialized first boot, as in the compose file: mesh-2 after mesh-1 is
-- live, mesh-3 after mesh-2.
for i = 1, 3 do
  local name = "mesh-" .. i
  services[#services + 1] = {
    name = name, group = "mesh",
    cmd = { meshd_bin, "--skip-migrations" },
    env = { PORT = port(23000 + i, name), POD_NAME = "${NAME}", BASE_URL = BASE_URL,
            DATABASE_URL = pg_url, NATS_URL = nats_url },
    url = "http://127.0.0.1:" .. port(23000 + i, name),
    ready = { http = "/health/live", timeout = 30 },
    after = i == 1 and pod_after or { "mesh-" .. (i - 1) },
  }
end

-- c:proxy("postgres") and c:proxy("nats") drive the proxies the pods use
local toxiproxy, proxies
if with_proxy then
  toxiproxy = { url = "http://127.0.0.1:" .. TOXI_API, service = "toxiproxy" }
  proxies = {
    postgres = { listen = "127.0.0.1:" .. PG_PROXY, upstream = "127.0.0.1:" .. PG },
    nats = { listen = "127.0.0.1:" .. NATS_PROXY, upstream = "127.0.0.1:" .. NATS },
  }
end

return {
  name = offset and ("meshd-local-" .. offset) or "meshd-local",
  backend = "process",
  http = { headers = { Origin = BASE_URL }, timeout = 10 },
  postgres = dsn(PG),
  toxiproxy = toxiproxy,
  proxies = proxies,
  services = services,
}
