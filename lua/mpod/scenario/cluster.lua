-- mpod/scenario/cluster.lua: mp.cluster() and pod objects, as scenarios
-- see them.
--
-- A pod talks HTTP and SSE straight from the scenario process (mpod.http,
-- with the cluster file's http.headers and http.timeout applied), and asks
-- the runner for everything that controls it (kill, stop, start, pause,
-- logs, ...): pods belong to the long-lived runner, so a pod one file kills
-- can be healed before the next file starts.

local errors = require "mpod.error"
local record = require "mpod.record"
local runtime = require "mpod.scenario.runtime"

local M = {}

local Cluster = {}
Cluster.__index = Cluster

local Pod = {}
Pod.__index = Pod

local CONTROL_TIMEOUT = 600
local CONTEXT_LINES = 15      -- log lines of each touched pod in a failure
local NO_LINES = "(no lines written during this test)\n"
local CONTEXT_PODS = 5
local CONTEXT_TIMEOUT = 5

-- HTTP --------------------------------------------------------------------

-- Header names are case-insensitive: a per-call header replaces a
-- default of the same name in any case. Without per-call headers the
-- defaults table itself is used (mpod.http only reads it, and keeps the
-- header lines it built from it).
local function merged_headers(defaults, extra)
  if extra == nil or next(extra) == nil then return defaults end
  if defaults == nil or next(defaults) == nil then return extra end
  local h = {}
  for k, v in pairs(defaults) do h[k] = v end
  for k, v in pairs(extra) do
    for d in pairs(defaults) do
      if d:lower() == k:lower() then h[d] = nil end
    end
    h[k] = v
  end
  return h
end

local SLASH = string.byte("/")

-- A pod's url without its trailing slashes (most have none: no gsub then).
local function base_url(pod)
  local url = pod.url
  if url:byte(-1) ~= SLASH then return url end
  return (url:gsub("/+$", ""))
end

-- Complete spec, a table of the caller's own, into the request spec
-- mpod.http takes: the url from spec.path (or `path`), the cluster file's
-- headers and timeout, the pod's name.
local function complete_spec(pod, spec, path)
  if not pod.url then
    errors.usage(string.format("pod %s has no url in the cluster file", pod.name))
  end
  path = path or spec.path or "/"
  if path:byte(1) ~= SLASH then path = "/" .. path end
  spec.path = path
  spec.url = base_url(pod) .. path
  local http = pod.cluster.http or {}
  spec.headers = merged_headers(http.headers, spec.headers)
  spec.timeout = spec.timeout or http.timeout
  spec.pod = pod.name
  return spec
end

-- A copy of opts (nil: an empty table), so the caller's table is left alone.
local function copy(opts)
  local t = {}
  if opts then
    for k, v in pairs(opts) do t[k] = v end
  end
  return t
end

-- The request spec mpod.http takes, from a pod and per-call options.
function Pod:http_spec(opts, path)
  return complete_spec(self, copy(opts), path)
end

function Pod:request(opts)
  runtime.touched[self.name] = true
  return require("mpod.http").request(self:http_spec(opts))
end

-- pod:get(path, opts) and friends: one copy of opts, the method and body set.
local function request_with(pod, method, path, opts, body)
  runtime.touched[pod.name] = true
  local spec = copy(opts)
  spec.method = method
  if body ~= nil then spec.json = body end
  return require("mpod.http").request(complete_spec(pod, spec, path))
end

function Pod:get(path, opts) return request_with(self, "GET", path, opts) end
function Pod:delete(path, opts) return request_with(self, "DELETE", path, opts) end
function Pod:post(path, body, opts) return request_with(self, "POST", path, opts, body) end
function Pod:put(path, body, opts) return request_with(self, "PUT", path, opts, body) end
function Pod:patch(path, body, opts) return request_with(self, "PATCH", path, opts, body) end

function Pod:sse(path, opts)
  runtime.touched[self.name] = true
  return require("mpod.http").sse(self:http_spec(opts, path))
end

-- Control -----------------------------------------------------------------

-- The actions the history records (as "pod.<action>", value = the
-- call's arguments); state, info, logs and wait_ready only look.
local RECORDED = { kill = true, stop = true, start = true, restart = true, pause = true,
                   unpause = true, isolate = true, rejoin = true }

-- The call goes to the runner as it was made: the action and its
-- arguments by name (mpod.runner.control); an argument left out is absent.
local function control(pod, action, args)
  runtime.touched[pod.name] = true
  local function call()
    return runtime.request({ op = "pod", pod = pod.name, action = action, args = args },
      CONTROL_TIMEOUT)
  end
  local history = RECORDED[action] and record.history
  if not history then return call() end
  return history:_call("pod." .. action, args or {}, pod.name, call)
end

function Pod:kill(signal) return control(self, "kill", { signal = signal }) end
function Pod:stop(grace) return control(self, "stop", { grace = grace }) end
function Pod:start() return control(self, "start") end
function Pod:restart(grace) return control(self, "restart", { grace = grace }) end
function Pod:pause() return control(self, "pause") end
function Pod:unpause() return control(self, "unpause") end
function Pod:state() return control(self, "state") end
function Pod:isolate() return control(self, "isolate") end
function Pod:rejoin() return control(self, "rejoin") end
function Pod:wait_ready(timeout) return control(self, "wait_ready", { timeout = timeout }) end
function Pod:info() return control(self, "info") end

-- pod:logs([{since=, tail=}]) -> text; `since` is an mp.now() value
function Pod:logs(opts)
  opts = opts or {}
  local sched = require "mpod.sched"
  local since = opts.since and sched.wallclock() - (sched.now() - opts.since)
  return control(self, "logs", { since = since, tail = opts.tail })
end

-- pod:logs_contain(needle [, {since=}]) -> true when a log line holds the
-- plain text needle
function Pod:logs_contain(needle, opts)
  return self:logs(opts):find(needle, 1, true) ~= nil
end

function Pod:__tostring()
  return "pod " .. self.name
end

-- Cluster -----------------------------------------------------------------

function Cluster:pod(name)
  local pod = self.by_name[name]
  if pod then return pod end
  local known = {}
  for _, p in ipairs(self.all) do known[#known + 1] = p.name end
  errors.usage(string.format("no pod named '%s' in cluster %s (known: %s)",
    tostring(name), self.name, table.concat(known, ", ")))
end

-- c:pods([group]) -> pods (of that group), sorted by name; one-shot
-- services (migrations) are not pods
function Cluster:pods(group)
  local list = {}
  for _, p in ipairs(self.all) do
    if not p.oneshot and (group == nil or p.group == group) then list[#list + 1] = p end
  end
  if group and #list == 0 then
    errors.usage(string.format("no pods in group '%s' of cluster %s", group, self.name))
  end
  return list
end

-- Proxies (network faults through Toxiproxy) ------------------------------

local Proxy = {}
Proxy.__index = Proxy

local function proxy_request(proxy, action, args)
  return runtime.request({ op = "proxy", proxy = proxy.name, action = action,
                           args = args or {} }, CONTROL_TIMEOUT)
end

-- A fault the history records as fault.add: value = {kind=, proxy=, and
-- the call's options}.
local function proxy_fault(proxy, kind, opts)
  local history = record.history
  if not history then return proxy_request(proxy, kind, opts) end
  local value = { kind = kind, proxy = proxy.name }
  if type(opts) == "table" then
    for k, v in pairs(opts) do if value[k] == nil then value[k] = v end end
  end
  return history:_fault_add(value, function() return proxy_request(proxy, kind, opts) end)
end

-- Removing the proxy's faults that match, recorded as fault.remove.
local function proxy_removal(proxy, action, match)
  local history = record.history
  local function call() return proxy_request(proxy, action) end
  if not history then return call() end
  return history:_fault_remove(function(v) return v.proxy == proxy.name and match(v) end, call)
end

-- proxy:latency{ms=, jitter=, for_s=}: data from the upstream is delayed
function Proxy:latency(opts) return proxy_fault(self, "latency", opts) end
-- proxy:timeout{ms=, for_s=}: connections hang (closed after ms; 0 = never)
function Proxy:timeout(opts) return proxy_fault(self, "timeout", opts) end
-- proxy:bandwidth{kbps=, for_s=}: data from the upstream is throttled
function Proxy:bandwidth(opts) return proxy_fault(self, "bandwidth", opts) end
-- proxy:reset_peer{ms=, for_s=}: connections are reset (after ms)
function Proxy:reset_peer(opts) return proxy_fault(self, "reset_peer", opts) end
-- proxy:down{for_s=}: refuse connections and cut the open ones
function Proxy:down(opts) return proxy_fault(self, "down", opts) end
function Proxy:up()
  return proxy_removal(self, "up", function(v) return v.kind == "down" end)
end
function Proxy:clear()
  return proxy_removal(self, "clear", function() return true end)
end
function Proxy:info() return proxy_request(self, "info") end

function Proxy:__tostring()
  return "proxy " .. self.name
end

-- c:proxy(name) -> the proxy of that name (see docs/faults.md)
function Cluster:proxy(name)
  if #(self.proxies or {}) == 0 then
    errors.usage(string.format("cluster %s declares no proxies " ..
      "(proxies = {...} in its cluster file, see docs/faults.md)", self.name))
  end
  for _, n in ipairs(self.proxies) do
    if n == name then return setmetatable({ name = name, cluster = self }, Proxy) end
  end
  errors.usage(string.format("no proxy named '%s' in cluster %s (known: %s)",
    tostring(name), self.name, table.concat(self.proxies or {}, ", ")))
end

-- Pod names from a list of pods, names, or a group name.
local function member_names(c, side)
  if type(side) == "string" then
    local ok, pods = pcall(c.pods, c, side)
    if ok then side = pods else side = { side } end
  end
  local names = {}
  for _, p in ipairs(side) do names[#names + 1] = type(p) == "table" and p.name or p end
  return require("mpod.json").array(names)
end

-- c:partition(a, b): cut traffic between two sets of pods (lists of pods
-- or names, or group names); c:heal() restores it
function Cluster:partition(a, b)
  local msg = { op = "partition", a = member_names(self, a), b = member_names(self, b) }
  local function call() return runtime.request(msg, CONTROL_TIMEOUT) end
  local history = record.history
  if not history then return call() end
  local pods = {}
  for _, side in ipairs { msg.a, msg.b } do
    for _, name in ipairs(side) do pods[#pods + 1] = name end
  end
  return history:_fault_add({ kind = "partition", a = msg.a, b = msg.b, pods = pods }, call)
end

-- c:heal(): recorded as pod.heal, and fault.remove for every open fault
function Cluster:heal()
  local function call() return runtime.request({ op = "heal" }, CONTROL_TIMEOUT) end
  local history = record.history
  if not history then return call() end
  return history:_call("pod.heal", {}, nil, function()
    return history:_fault_remove(function() return true end, call)
  end)
end

-- c:port(name) -> the port ${PORT:name} stands for in the cluster file
function Cluster:port(name)
  local port = self.ports[name]
  if port then return port end
  local known = {}
  for n in pairs(self.ports) do known[#known + 1] = n end
  table.sort(known)
  errors.usage(string.format("no port named '%s' in cluster %s (%s)", tostring(name), self.name,
    #known > 0 and "known: " .. table.concat(known, ", ")
      or "its cluster file has no ${PORT:name}"))
end

-- c:db([opts]) -> mp.pg.connect(the cluster's DSN, opts)
function Cluster:db(opts)
  if not self.postgres then
    errors.usage("cluster " .. self.name .. " has no postgres DSN in its cluster file")
  end
  return require("mpod.pg").connect(self.postgres, opts)
end

local function build(desc)
  local c = setmetatable({ name = desc.name, backend = desc.backend, http = desc.http or {},
                           postgres = desc.postgres, proxies = desc.proxies,
                           ports = desc.ports or {}, by_name = {}, all = {} }, Cluster)
  for _, p in ipairs(desc.pods or {}) do
    local pod = setmetatable({ name = p.name, group = p.group, url = p.url, port = p.port,
                               oneshot = p.oneshot, cluster = c }, Pod)
    c.by_name[p.name] = pod
    c.all[#c.all + 1] = pod
  end
  table.sort(c.all, function(a, b) return a.name < b.name end)
  return c
end

-- diag.logs: for each pod a failed test touched, the last log lines it
-- wrote since the test started, or NO_LINES.
local function failure_context(diag)
  local names = {}
  for name in pairs(runtime.touched) do names[#names + 1] = name end
  table.sort(names)
  local logs = {}
  for i = 1, math.min(#names, CONTEXT_PODS) do
    local ok, text = pcall(runtime.request, { op = "pod", pod = names[i], action = "logs",
      args = { tail = CONTEXT_LINES, since = runtime.test_started } }, CONTEXT_TIMEOUT)
    if ok then logs[names[i]] = text ~= "" and text or NO_LINES end
  end
  if next(logs) then diag.logs = logs end
end

local current

-- mp.cluster() -> the run's cluster (raises when the run has none)
function M.get()
  if current then return current end
  if not runtime.cluster then
    errors.usage(runtime.cluster_error or "this run has no cluster")
  end
  current = build(runtime.cluster)
  runtime.failure_context = failure_context
  return current
end

-- For tests of the engine: a cluster from a description, without a runner.
M.build = build
M.Pod = Pod

return M
