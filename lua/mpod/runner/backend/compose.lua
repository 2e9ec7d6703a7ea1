-- mpod/runner/backend/compose.lua: pods that are containers of a Docker Compose
-- project.
--
-- `up` and `down` run the compose CLI: the command MPOD_COMPOSE names,
-- else the cluster file's compose.cli, else v2 `docker compose` when
-- `docker compose version` answers, else v1 `docker-compose`. `up -d
-- --build` (never --wait, which misreads a one-shot migrate service), then
-- the cluster file's readiness checks; `down -v`. Everything else goes straight to the Docker Engine API
-- (mpod.runner.docker): a pod's container is found by the compose labels of the
-- project and service, which v1 and v2 both set, so container naming
-- schemes do not matter. The id found is remembered until the engine no
-- longer knows it (the container was recreated or removed: the next call
-- that names it gets a 404, and the service is looked up again once), so
-- a kill costs the kill and the wait for its end. isolate() disconnects a
-- container from every network it is on and remembers them (in the state
-- file too), so rejoin() and healing can connect it back with the same
-- aliases.

local common = require "mpod.runner.backend.common"
local docker = require "mpod.runner.docker"
local errors = require "mpod.error"
local proc = require "mpod.proc"
local ready = require "mpod.runner.ready"
local sched = require "mpod.sched"
local state = require "mpod.runner.state"

local M = {}
local Backend = {}
Backend.__index = Backend

local UP_TIMEOUT = 1800
local DOWN_TIMEOUT = 300
local TAKE_DOWN_TIME = 60      -- removing what `down` left
local KILL_WAIT = 10
local DEFAULT_STOP = 10
local ONESHOT_TIMEOUT = 300

-- words(text) -> the whitespace-separated words of a command line
function M.words(text)
  local argv = {}
  for word in tostring(text):gmatch("%S+") do argv[#argv + 1] = word end
  return argv
end

-- The CLI found on this machine: {"docker", "compose"} when `docker compose
-- version` answers, else {"docker-compose"}.
local detected
local function detect()
  if detected then return detected end
  local ok, r = pcall(require("mpod.exec").exec, { "docker", "compose", "version" }, { timeout = 20 })
  detected = (ok and r.code == 0) and { "docker", "compose" } or { "docker-compose" }
  return detected
end

-- cli(compose) -> the compose command line (argv list) for the state's
-- compose table, and where it came from: "MPOD_COMPOSE", "compose.cli"
-- (the cluster file's, kept in the state for a teardown by the watchdog or
-- the reaper) or "detected".
function M.cli(compose)
  local env = os.getenv("MPOD_COMPOSE")
  if env and env:find("%S") then return M.words(env), "MPOD_COMPOSE" end
  if compose.cli then return compose.cli, "compose.cli" end
  return detect(), "detected"
end

local function project_args(compose)
  local argv = {}
  for _, a in ipairs(M.cli(compose)) do argv[#argv + 1] = a end
  for _, a in ipairs { "-p", compose.project, "-f", compose.file } do argv[#argv + 1] = a end
  return argv
end

-- Run the compose CLI for the state st with its output on our stderr
-- (stdout is TAP's). It carries the run's MPOD_RUN_ID, so a teardown after
-- the runner was killed finds an `up` still creating containers, and dies
-- with the runner of a single run.
local function run_compose(st, args, timeout)
  local argv = project_args(st.compose)
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local ok, p = pcall(proc.spawn, { argv = argv, stdout = 2, stderr = "inherit",
    env = { MPOD_RUN_ID = st.run_id }, die_with_parent = not st.persistent })
  if not ok then
    local _, from = M.cli(st.compose)
    errors.raise("compose", string.format("cannot run %s (the compose CLI, %s): %s", argv[1],
      from == "detected" and "found neither `docker compose` nor docker-compose; set MPOD_COMPOSE"
        or "from " .. from, tostring(p.message or p)))
  end
  local status = p:wait(timeout)
  if not status then
    proc.kill(p:pid(), "KILL", true)
    errors.raise("compose", table.concat(argv, " ") .. " did not finish within " .. timeout .. " s")
  end
  if status.code ~= 0 then
    errors.raise("compose", table.concat(argv, " ") .. " failed (" ..
      (status.code and ("exit code " .. status.code) or ("SIG" .. status.signame)) .. ")")
  end
end

-- project_objects(engine, project, remove) -> how many containers,
-- networks and volumes of the project the engine has; with remove, each is
-- force-removed first (what `down` could not take)
local function project_objects(engine, project, remove)
  local filters = require("mpod.json").encode { label = { "com.docker.compose.project=" .. project } }
  local n = 0
  for _, kind in ipairs { "containers", "networks", "volumes" } do
    local query = { filters = filters, all = kind == "containers" and "1" or nil }
    local ok, res = pcall(engine.call, engine, "GET", "/" .. kind .. (kind == "containers" and "/json" or ""),
      { query = query })
    local list = ok and res.json or {}
    if kind == "volumes" then list = list.Volumes or {} end
    for _, o in ipairs(list) do
      n = n + 1
      if remove then
        pcall(engine.call, engine, "DELETE", "/" .. kind .. "/" .. (o.Id or o.Name),
          { query = kind == "containers" and { force = "1", v = "1" } or nil })
      end
    end
  end
  return n
end

-- take_down(st, engine): `down` the project, and make sure it is gone. A
-- compose `up` of the run may still be running (the runner was killed, or
-- interrupted during the bring-up): it is stopped first. The engine may
-- still finish a request that `up` sent, and a loaded engine makes `down`
-- fail against it ("removal already in progress"), so whatever is left
-- afterwards is removed through the Engine API until nothing is (found by
-- the runner-chaos test: a kill during the bring-up left two containers).
local function take_down(st, engine)
  state.sweep(st.run_id)
  local ok, err = pcall(run_compose, st, { "down", "-v", "--remove-orphans" }, DOWN_TIMEOUT)
  local deadline = sched.now() + TAKE_DOWN_TIME
  local left = project_objects(engine, st.compose.project)
  while left > 0 and sched.now() < deadline do
    sched.sleep(1)
    left = project_objects(engine, st.compose.project, true)
  end
  if left > 0 then
    errors.raise("compose", string.format("project %s still has %d containers, networks or " ..
      "volumes after down%s", st.compose.project, left, ok and "" or (": " .. tostring(err))))
  end
end

function M.down_from_state(st)
  local ok, engine = pcall(docker.connect)
  if not ok then return end                       -- no engine, nothing to take down
  take_down(st, engine)
end

function M.new(cluster, st)
  local compose = cluster.compose or {}
  local file = compose.file or "docker-compose.yml"
  if file:sub(1, 1) ~= "/" then file = cluster.root .. "/" .. file end
  st.compose = { file = file, project = compose.project or ("mpod-" .. cluster.name),
                 cli = compose.cli and M.words(compose.cli) or nil }
  st.isolated = st.isolated or {}
  return setmetatable({ cluster = cluster, st = st, ids = {} }, Backend)
end

function Backend:engine()
  self.client = self.client or docker.connect()
  return self.client
end

function Backend:service(name)
  return common.service(self, name)
end

function Backend:manages()
  return true
end

-- The container of a service: looked up by the compose labels, then
-- remembered.
function Backend:container(name)
  if self.ids[name] then return self.ids[name] end
  local svc = self:service(name)
  local list = self:engine():containers {
    "com.docker.compose.project=" .. self.st.compose.project,
    "com.docker.compose.service=" .. (svc.service or name),
  }
  if #list == 0 then
    errors.raise("state", string.format("pod %s has no container in compose project %s " ..
      "(is the cluster up?)", name, self.st.compose.project))
  end
  self.ids[name] = list[1].Id
  return list[1].Id
end

-- with_container(name, fn) -> what fn(id) returns, id the service's
-- container. When the engine answers 404 for a remembered id, the
-- container is gone: fn runs once more on a fresh lookup.
function Backend:with_container(name, fn)
  local remembered = self.ids[name]
  local r = table.pack(pcall(fn, self:container(name)))
  if r[1] then return table.unpack(r, 2, r.n) end
  local err = r[2]
  if not (remembered and errors.is(err, "docker") and err.status == 404) then error(err, 0) end
  self.ids[name] = nil
  return fn(self:container(name))
end

-- post(name, action [, query [, timeout]]) -> the container's id, once
-- POST /containers/{id}/{action} succeeded
function Backend:post(name, action, query, timeout)
  return self:with_container(name, function(id)
    self:engine():post("/containers/" .. id .. "/" .. action, query, nil, timeout)
    return id
  end)
end

function Backend:inspect(name)
  return self:with_container(name, function(id) return self:engine():inspect(id) end)
end

-- State -------------------------------------------------------------------

function Backend:state(name)
  local ok, info = pcall(self.inspect, self, name)
  if not ok then
    if errors.is(info, "state") then return "missing" end
    error(info, 0)
  end
  return info.State.Status
end

function Backend:exit_text(name)
  local info = self:inspect(name)
  if info.State.OOMKilled then return "killed: out of memory" end
  return "exit code " .. tostring(info.State.ExitCode)
end

local function parse_time(text)
  local y, mo, d, h, mi, s, frac = tostring(text):match("^(%d+)%-(%d+)%-(%d+)T(%d+):(%d+):(%d+)(%.?%d*)")
  if not y then return 0 end
  y, mo = tonumber(y), tonumber(mo)
  if mo <= 2 then y, mo = y - 1, mo + 12 end
  local days = 365 * y + y // 4 - y // 100 + y // 400 + (153 * (mo - 3) + 2) // 5 + tonumber(d) - 719469
  return days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s) + (tonumber("0" .. frac) or 0)
end
M.parse_time = parse_time

function Backend:started_at(name)
  return parse_time(self:inspect(name).State.StartedAt)
end

-- logs(name, {since=, until=, tail=, stamps=}) -> text
function Backend:logs(name, opts)
  opts = opts or {}
  local query = { since = common.log_time(opts.since), ["until"] = common.log_time(opts["until"]),
                  tail = opts.tail, timestamps = opts.stamps }
  return self:with_container(name, function(id) return self:engine():logs(id, query) end)
end

-- Control -----------------------------------------------------------------

local function signal_name(signal)
  return "SIG" .. (proc.signame(proc.signum(signal or "KILL")) or "KILL")
end

-- kill(name [, signal]): KILL (the default) returns once the container
-- has stopped (the engine's wait endpoint), so state() says "exited".
function Backend:kill(name, signal)
  local sig = signal_name(signal)
  local id = self:post(name, "kill", { signal = sig })
  if sig == "SIGKILL" then
    self:engine():post("/containers/" .. id .. "/wait", { condition = "not-running" },
      nil, KILL_WAIT)
  end
  return true
end

function Backend:stop(name, grace)
  grace = grace or self:service(name).stop_timeout or DEFAULT_STOP
  self:post(name, "stop", { t = tostring(math.ceil(grace)) }, grace + 30)
  return true
end

function Backend:start(name)
  self:post(name, "start")
  return true
end

function Backend:restart(name, grace)
  grace = grace or self:service(name).stop_timeout or DEFAULT_STOP
  self:post(name, "restart", { t = tostring(math.ceil(grace)) }, grace + 30)
  return true
end

function Backend:pause(name)
  self:post(name, "pause")
  return true
end

function Backend:unpause(name)
  self:post(name, "unpause")
  return true
end

-- isolate(name): disconnect from every network, remembering them
function Backend:isolate(name)
  if self.st.isolated[name] then return true end
  local info = self:inspect(name)
  local id = info.Id
  local networks = {}
  for net, cfg in pairs(info.NetworkSettings.Networks or {}) do
    local aliases = {}
    for _, a in ipairs(cfg.Aliases or {}) do
      if not id:find(a, 1, true) then aliases[#aliases + 1] = a end
    end
    networks[#networks + 1] = { name = net, aliases = aliases }
  end
  self.st.isolated[name] = networks
  state.save(self.st)
  for _, n in ipairs(networks) do
    self:engine():post("/networks/" .. n.name .. "/disconnect", nil, { Container = id, Force = true })
  end
  return true
end

-- rejoin(name): connect back to the networks isolate() remembered (the
-- container's id from inspect: a remembered one that went stale would make
-- the network's 404 ambiguous)
function Backend:rejoin(name)
  local networks = self.st.isolated[name]
  if not networks then return true end
  local id = self:inspect(name).Id
  for _, n in ipairs(networks) do
    self:engine():post("/networks/" .. n.name .. "/connect", nil, {
      Container = id, EndpointConfig = { Aliases = require("mpod.json").array(n.aliases) } })
  end
  self.st.isolated[name] = nil
  state.save(self.st)
  return true
end

-- Partitions ---------------------------------------------------------------
--
-- c:partition(a, b) drops the packets between the containers of side a and
-- those of side b with iptables inside each container, run through the
-- Engine API as an exec (the images need sh and iptables, and the services
-- cap_add: [NET_ADMIN]; the reference cluster's have both). Rules live in a chain of their own, MPOD-PARTITION, so
-- healing flushes it and touches nothing else. When a side holds a service
-- that pods reach through a Toxiproxy proxy (its upstream host), the other
-- side also loses that proxy's port on the Toxiproxy container: pods
-- partitioned from NATS stay connected to Postgres through the same proxy.

local CHAIN = "MPOD-PARTITION"

-- exec(name, argv) -> exit code, output
function Backend:exec(name, argv)
  local engine = self:engine()
  local created = self:with_container(name, function(id)
    return engine:post("/containers/" .. id .. "/exec", nil, {
      AttachStdout = true, AttachStderr = true, Cmd = require("mpod.json").array(argv) }).json
  end)
  local res = engine:post("/exec/" .. created.Id .. "/start", nil, { Detach = false, Tty = false }, 60)
  local output = require("mpod.dockerlog").merge(res.body)
  local info = engine:call("GET", "/exec/" .. created.Id .. "/json").json
  return info.ExitCode, output
end

function Backend:addresses(name)
  local ips = {}
  local nets = self:inspect(name).NetworkSettings.Networks or {}
  for _, n in pairs(nets) do
    if n.IPAddress and n.IPAddress ~= "" then ips[#ips + 1] = n.IPAddress end
  end
  return ips
end

function Backend:run_rules(name, rules)
  local script = table.concat({
    "set -e",
    string.format("iptables -N %s 2>/dev/null || true", CHAIN),
    string.format("iptables -C INPUT -j %s 2>/dev/null || iptables -I INPUT -j %s", CHAIN, CHAIN),
    string.format("iptables -C OUTPUT -j %s 2>/dev/null || iptables -I OUTPUT -j %s", CHAIN, CHAIN),
  }, "\n")
  for _, r in ipairs(rules) do script = script .. "\niptables -A " .. CHAIN .. " " .. r .. " -j DROP" end
  local code, out = self:exec(name, { "sh", "-c", script })
  if code == 0 then return end
  local hint = ""
  if out:find("ermission denied") or out:find("not permitted") then
    hint = " (give the service cap_add: [NET_ADMIN] in the compose file)"
  elseif code == 127 or out:find("not found") or out:find("no such file") then
    hint = " (its image needs sh and iptables)"
  end
  errors.raise("partition", string.format("cannot set iptables rules in pod %s%s: exit %s: %s",
    name, hint, tostring(code), (out:sub(1, 300):gsub("%s+$", ""))))
end

-- Rules that cut `name` from every address of `others`, and from the proxy
-- ports through which it reaches services among them.
function Backend:rules_against(others, proxies)
  local rules = {}
  for _, other in ipairs(others) do
    for _, ip in ipairs(self:addresses(other)) do
      rules[#rules + 1] = "-s " .. ip
      rules[#rules + 1] = "-d " .. ip
    end
  end
  local via = self.cluster.toxiproxy and self.cluster.toxiproxy.service
  if not (proxies and via) then return rules end
  local behind = {}
  for _, other in ipairs(others) do behind[other] = true end
  for _, p in pairs(self.cluster.proxies or {}) do
    local host = p.upstream:match("^([^:]+):")
    local port = p.listen:match(":(%d+)$")
    if behind[host] then
      for _, ip in ipairs(self:addresses(via)) do
        rules[#rules + 1] = string.format("-d %s -p tcp --dport %s", ip, port)
        rules[#rules + 1] = string.format("-s %s -p tcp --sport %s", ip, port)
      end
    end
  end
  return rules
end

-- partition(a, b [, proxies]) -> true
function Backend:partition(a, b, proxies)
  for _, side in ipairs { a, b } do
    if #side == 0 then errors.usage("c:partition(a, b) needs pods on both sides") end
    for _, name in ipairs(side) do self:service(name) end
  end
  self.st.partitioned = self.st.partitioned or {}
  for _, pair in ipairs { { a, b }, { b, a } } do
    for _, name in ipairs(pair[1]) do
      -- a container that is not running has no traffic to cut (and no
      -- address for the other side's rules); healing starts it unhindered
      if self:state(name) == "running" then
        self:run_rules(name, self:rules_against(pair[2], proxies))
        self.st.partitioned[name] = true
        state.save(self.st)
      end
    end
  end
  return true
end

-- heal_partitions() -> list of what was done
function Backend:heal_partitions()
  local healed = {}
  for name in pairs(self.st.partitioned or {}) do
    if self:state(name) == "running" then
      self:exec(name, { "sh", "-c", "iptables -F " .. CHAIN .. " 2>/dev/null || true" })
    end
    healed[#healed + 1] = name
  end
  self.st.partitioned = nil
  if #healed == 0 then return {} end
  table.sort(healed)
  state.save(self.st)
  return { "partition lifted (" .. table.concat(healed, ", ") .. ")" }
end

-- Bringing up and down ----------------------------------------------------

function Backend:wait_oneshot(svc)
  local deadline = sched.now() + ((svc.ready and svc.ready.timeout) or ONESHOT_TIMEOUT)
  while sched.now() < deadline do
    local s = self:state(svc.name)
    if s == "exited" then
      local code = self:inspect(svc.name).State.ExitCode
      if code == 0 then return end
      errors.raise("ready", string.format("%s (oneshot) failed: exit code %d", svc.name, code),
        { log = self:logs(svc.name, { tail = 20 }) })
    end
    sched.sleep(0.2)
  end
  errors.raise("ready", svc.name .. " (oneshot) did not finish in time",
    { log = self:logs(svc.name, { tail = 20 }) })
end

function Backend:up()
  self:engine()
  self.ids = {}                        -- `up` may recreate containers
  run_compose(self.st, { "up", "-d", "--build" }, UP_TIMEOUT)
  for _, svc in ipairs(self.cluster.services) do
    if svc.oneshot then self:wait_oneshot(svc) else ready.wait(svc, self) end
  end
end

function Backend:down()
  self.st.isolated = {}
  self.ids = {}
  -- without an engine there is nothing to take down (and the compose CLI
  -- would only print its own traceback)
  local ok, engine = pcall(self.engine, self)
  if not ok then return 0 end
  take_down(self.st, engine)
  return 0
end

-- heal() -> list of what was done
function Backend:heal()
  local actions = {}
  for _, svc in ipairs(self.cluster.services) do
    if not svc.oneshot and self.st.isolated[svc.name] then
      self:rejoin(svc.name)
      actions[#actions + 1] = svc.name .. " (rejoined)"
    end
  end
  for _, a in ipairs(self:heal_partitions()) do actions[#actions + 1] = a end
  for _, a in ipairs(common.restore(self, { running = true, restarting = true })) do
    actions[#actions + 1] = a
  end
  return actions
end

function Backend:info(name)
  local i = self:inspect(name)
  return { state = i.State.Status, pid = i.State.Pid, container = i.Id, image = i.Config.Image,
           health = i.State.Health and i.State.Health.Status or nil,
           exit = i.State.Status == "exited" and ("exit code " .. tostring(i.State.ExitCode)) or nil,
           isolated = self.st.isolated[name] ~= nil, started_at = parse_time(i.State.StartedAt) }
end

function Backend:status()
  return common.status(self, function(svc, s)
    if s ~= "running" then return nil end
    local info = self:inspect(svc.name)
    local health = info.State.Health and info.State.Health.Status
      or (ready.check(svc, self) and "ready" or "not ready")
    if self.st.isolated[svc.name] then health = health .. ", isolated" end
    return health
  end)
end

return M
