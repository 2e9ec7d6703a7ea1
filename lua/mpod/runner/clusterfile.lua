-- mpod/runner/clusterfile.lua: loading and validating a cluster file.
--
-- A cluster file is Lua returning a table (docs/cluster-file.md). It runs
-- in a sandbox with the safe standard functions and os.getenv (copies of
-- the libraries, so a file cannot change the engine's), in a coroutine of
-- its own bounded in CPU time and memory. Strings expand ${ROOT} (the
-- file's folder), ${RUN_DIR} (the run folder), ${NAME} (the service, inside
-- a service), ${PORT:name} (a port chosen at bring-up, mpod.runner.ports;
-- the same name is the same port anywhere in the file) and ${VAR} from the
-- environment. Loading without ports (opts.ports nil) reads ${PORT:name}
-- as 0 and lists the names it met (c.port_names), which is how the
-- session learns what to allocate; c.service_ports lists each service's.
-- Every error names the file,
-- the service and the field, and unknown fields are errors (a typo must not
-- silently disable a readiness check), as are holes in lists. Names that
-- become file names or URLs are restricted to a safe set (check_name).
-- Whatever the file does, loading it returns or raises an error of kind
-- "cluster".

local errors = require "mpod.error"
local ready_checks = require "mpod.runner.ready"
local sched = require "mpod.sched"
local sys = require "mpod.sys"

local M = {}

M.time_limit = 5               -- seconds a cluster file may run
local MEMORY_LIMIT = 256       -- MiB it may allocate
local MAX_DEPTH = 16           -- nesting of its tables
local NAME_MAX = 64            -- bytes in a cluster, service or proxy name

local TOP_FIELDS = {
  name = "string", backend = "string", compose = "table", http = "table",
  postgres = "string", services = "table", proxies = "table",
  toxiproxy = "table", ready_timeout = "number", log_limit = "number",
}

local SERVICE_FIELDS = {
  name = "string", group = "string", cmd = "table", env = "table",
  url = "string", ready = "table", after = "table", oneshot = "boolean",
  cwd = "string", stop_signal = "string", stop_timeout = "number",
  service = "string",
}

local READY_FIELDS = {
  http = "string", tcp = "string", log = "string", cmd = "table",
  status = "number", timeout = "number", interval = "number",
}

local BACKENDS = { process = true, compose = true }

local function fail(path, message)
  errors.raise("cluster", path .. ": " .. message)
end

local function sorted_names(t)
  local names = {}
  for k in pairs(t) do names[#names + 1] = tostring(k) end
  table.sort(names)
  return table.concat(names, ", ")
end

local function check_fields(tbl, allowed, path)
  for k, v in pairs(tbl) do
    local want = allowed[k]
    if type(k) ~= "string" or not want then
      fail(path, string.format("unknown field '%s' (known: %s)", tostring(k), sorted_names(allowed)))
    end
    if type(v) ~= want then
      fail(path .. "." .. k, string.format("must be a %s, not a %s", want, type(v)))
    end
  end
end

-- check_list(list, path [, what]): keys 1..n and nothing else. A hole
-- ({ a, nil, b }: a misspelled variable is nil) would make ipairs stop
-- there and silently drop what follows it.
local function check_list(list, path, what)
  local n = 0
  for k in pairs(list) do
    if math.type(k) ~= "integer" or k < 1 then fail(path, "must be a list" .. (what or "")) end
    n = math.max(n, k)
  end
  for i = 1, n do
    if list[i] == nil then
      fail(string.format("%s[%d]", path, i),
        "is nil, a hole in the list (a misspelled variable?); the entries after it would be lost")
    end
  end
end

local function check_string_list(list, path)
  check_list(list, path)
  for i, v in ipairs(list) do
    if type(v) ~= "string" and type(v) ~= "number" then
      fail(string.format("%s[%d]", path, i), "must be a string")
    end
    list[i] = tostring(v)
  end
end

-- quoted(s) -> s in double quotes, escaped, on one line
local function quoted(s)
  return (string.format("%q", s):gsub("\\\n", "\\n"))
end

-- check_name(name, path): a name that becomes part of a file name (the
-- state file, the run folder, a log file) or of a URL (a Toxiproxy proxy)
local function check_name(name, path)
  if #name > NAME_MAX or not name:match("^[%w][%w_.%-]*$") then
    fail(path, string.format("must be 1 to %d letters, digits, '.', '_' or '-', " ..
      "starting with a letter or digit, not %s", NAME_MAX, quoted(name)))
  end
end

-- check_positive(t, field, path [, zero_ok]): t[field], when set, is a
-- finite number above zero (or zero itself when zero_ok)
local function check_positive(t, field, path, zero_ok)
  local v = t[field]
  if v == nil then return end
  if type(v) ~= "number" or v ~= v or v == math.huge or v < 0 or (v == 0 and not zero_ok) then
    fail(path .. "." .. field, string.format("must be a %s number of seconds, not %s",
      zero_ok and "finite, non-negative" or "finite, positive", tostring(v)))
  end
end

-- check_string_map(t, path): names to strings (numbers become strings)
local function check_string_map(t, path, what)
  for k, v in pairs(t) do
    if type(k) ~= "string" or (type(v) ~= "string" and type(v) ~= "number") then
      fail(path, "must map " .. what .. " to strings")
    end
    t[k] = tostring(v)
  end
end

-- Expansion -----------------------------------------------------------------

-- port_value(name, ctx, path) -> the port ${PORT:name} stands for, as
-- text; records the name as used (ctx.used, and ctx.service_used inside
-- a service)
local function port_value(name, ctx, path)
  check_name(name, path .. ": ${PORT:" .. name .. "}: the name")
  ctx.used[name] = true
  if ctx.service_used then ctx.service_used[name] = true end
  if not ctx.ports then return "0" end
  local port = ctx.ports[name]
  if port == nil then
    fail(path, "${PORT:" .. name .. "} has no port: none was chosen under this name when " ..
      "the cluster was brought up (the cluster file, or the environment it reads, changed " ..
      "since?); take it down and up again")
  end
  return tostring(math.tointeger(port) or port)
end

-- ${PORT:name} first: what the environment gives is not expanded again
local function expand_string(s, ctx, path)
  s = s:gsub("%${PORT:([^}]*)}", function(name) return port_value(name, ctx, path) end)
  return (s:gsub("%${([%w_]+)}", function(name)
    local v = ctx.vars[name] or os.getenv(name)
    if v == nil then fail(path, "unknown variable ${" .. name .. "}") end
    return v
  end))
end

local function expand(value, ctx, path, outer)
  if type(value) == "string" then return expand_string(value, ctx, path) end
  if type(value) ~= "table" then return value end
  outer = outer or {}                 -- the tables this one is inside
  if outer[value] then fail(path, "a table that holds itself") end
  if #outer >= MAX_DEPTH then fail(path, "tables nest more than " .. MAX_DEPTH .. " deep") end
  outer[value] = true
  outer[#outer + 1] = value
  local out = {}
  for k, v in pairs(value) do out[k] = expand(v, ctx, path .. "." .. tostring(k), outer) end
  outer[value] = nil
  outer[#outer] = nil
  return out
end

-- Services ------------------------------------------------------------------

local function check_ready(ready, path)
  check_fields(ready, READY_FIELDS, path)
  local kinds = 0
  for _, k in ipairs { "http", "tcp", "log", "cmd" } do
    if ready[k] ~= nil then kinds = kinds + 1 end
  end
  if kinds ~= 1 then fail(path, "needs exactly one of http, tcp, log, cmd") end
  if ready.tcp and not ready.tcp:match("^[^:]+:%d+$") then
    fail(path .. ".tcp", "must be host:port, not '" .. ready.tcp .. "'")
  end
  if ready.cmd then check_string_list(ready.cmd, path .. ".cmd") end
  local bad_pattern = ready.log and ready_checks.pattern_error(ready.log)
  if bad_pattern then
    fail(path .. ".log", "not a valid Lua pattern: " .. bad_pattern .. " in " .. quoted(ready.log))
  end
  if ready.cmd and #ready.cmd == 0 then fail(path .. ".cmd", "must name a program") end
  check_positive(ready, "timeout", path)
  check_positive(ready, "interval", path)
  if ready.status and (math.type(ready.status) ~= "integer" or ready.status < 100
                       or ready.status > 599) then
    fail(path .. ".status", "must be an HTTP status, 100 to 599")
  end
end

local function check_service(svc, i, backend, path)
  local spath = string.format("%s.services[%d]", path, i)
  if type(svc) ~= "table" then fail(spath, "must be a table") end
  if type(svc.name) ~= "string" or svc.name == "" then fail(spath, "needs a name") end
  check_name(svc.name, spath .. ".name")
  spath = string.format("%s.services[%d] (%s)", path, i, svc.name)
  check_fields(svc, SERVICE_FIELDS, spath)
  if svc.cmd then check_string_list(svc.cmd, spath .. ".cmd") end
  if svc.cmd and #svc.cmd == 0 then fail(spath .. ".cmd", "must name a program") end
  if svc.env then check_string_map(svc.env, spath .. ".env", "variable names") end
  check_positive(svc, "stop_timeout", spath, true)
  if svc.after then check_string_list(svc.after, spath .. ".after") end
  if svc.ready then check_ready(svc.ready, spath .. ".ready") end
  if svc.url and not svc.url:match("^https?://[^/]+") then
    fail(spath .. ".url", "must start with http:// or https://")
  end
  if svc.ready and svc.ready.http and not svc.url then
    fail(spath .. ".ready.http", "an http check needs the service's url")
  end
  if svc.stop_signal then
    local ok = pcall(require("mpod.proc").signum, svc.stop_signal)
    if not ok then fail(spath .. ".stop_signal", "unknown signal " .. svc.stop_signal) end
  end
  if backend == "compose" and svc.cmd then
    fail(spath .. ".cmd", "the compose backend takes commands from the compose file")
  end
end

local function check_order(services, path)
  local by_name = {}
  for _, s in ipairs(services) do
    if by_name[s.name] then fail(path, "two services are named '" .. s.name .. "'") end
    by_name[s.name] = s
  end
  local state = {}
  local function visit(s, trail)
    if state[s.name] == "done" then return end
    if state[s.name] == "visiting" then
      fail(path, "services depend on each other in a cycle: " .. trail:sub(5) .. " -> " .. s.name)
    end
    state[s.name] = "visiting"
    for _, dep in ipairs(s.after or {}) do
      if not by_name[dep] then
        fail(string.format("%s.services (%s).after", path, s.name),
          "no service named '" .. dep .. "'")
      end
      visit(by_name[dep], trail .. " -> " .. s.name)
    end
    state[s.name] = "done"
  end
  for _, s in ipairs(services) do visit(s, "") end
  return by_name
end

local function check_http(http, path)
  for k in pairs(http) do
    if k ~= "headers" and k ~= "timeout" then
      fail(path .. ".http", "unknown field '" .. tostring(k) .. "' (known: headers, timeout)")
    end
  end
  check_positive(http, "timeout", path .. ".http")
  if http.headers ~= nil and type(http.headers) ~= "table" then
    fail(path .. ".http.headers", "must map header names to strings")
  end
  for name, value in pairs(http.headers or {}) do
    if type(name) ~= "string" or type(value) ~= "string" then
      fail(path .. ".http.headers", "must map header names to strings")
    end
  end
end

local COMPOSE_FIELDS = { file = "string", project = "string", cli = "string" }

-- check_project(c, path): the compose project is a name compose itself
-- accepts (docker compose refuses others; docker-compose v1 rewrites them,
-- and its containers then carry a project label nobody looks for)
local function check_project(c, path)
  local project = c.compose.project
  if (project or "mpod-" .. c.name):match("^[a-z0-9][a-z0-9_-]*$") then return end
  if project then
    fail(path .. ".compose.project", "must be lowercase letters, digits, '_' and '-', " ..
      "starting with a letter or digit, not " .. quoted(project))
  end
  fail(path .. ".compose.project", "the default project, mpod-" .. c.name .. ", is not " ..
    "a compose project name (lowercase letters, digits, '_' and '-'): set compose.project")
end

local TOXIPROXY_FIELDS = { url = "string", service = "string" }

local function check_proxies(c, path)
  if c.toxiproxy then check_fields(c.toxiproxy, TOXIPROXY_FIELDS, path .. ".toxiproxy") end
  if c.proxies == nil then return end
  local url = c.toxiproxy and c.toxiproxy.url
  if type(url) ~= "string" or not url:match("^https?://[^/]+") then
    fail(path .. ".toxiproxy", "proxies need toxiproxy = { url = \"http://host:port\" } (its API)")
  end
  for name, p in pairs(c.proxies) do
    local ppath = path .. ".proxies." .. tostring(name)
    if type(name) ~= "string" or type(p) ~= "table" then
      fail(path .. ".proxies", "must map proxy names to { listen =, upstream = }")
    end
    check_name(name, ppath)
    for _, field in ipairs { "listen", "upstream" } do
      if type(p[field]) ~= "string" or not p[field]:match("^[^:]+:%d+$") then
        fail(ppath .. "." .. field, "must be host:port")
      end
    end
    for k in pairs(p) do
      if k ~= "listen" and k ~= "upstream" then
        fail(ppath, "unknown field '" .. tostring(k) .. "' (known: listen, upstream)")
      end
    end
  end
end

local function validate(c, path)
  if type(c) ~= "table" then fail(path, "must return a table, not a " .. type(c)) end
  check_fields(c, TOP_FIELDS, path)
  if not c.name or c.name == "" then fail(path, "needs a name") end
  check_name(c.name, path .. ".name")
  c.backend = c.backend or "process"
  if not BACKENDS[c.backend] then
    fail(path .. ".backend", "must be 'process' or 'compose', not '" .. c.backend .. "'")
  end
  if c.http then check_http(c.http, path) end
  check_proxies(c, path)
  check_positive(c, "ready_timeout", path)
  if c.log_limit ~= nil and (c.log_limit ~= c.log_limit or c.log_limit < 1
                             or c.log_limit == math.huge) then
    fail(path .. ".log_limit", "must be a positive number of bytes")
  end
  if c.compose then check_fields(c.compose, COMPOSE_FIELDS, path .. ".compose") end
  if c.compose and c.compose.cli and not c.compose.cli:find("%S") then
    fail(path .. ".compose.cli", "must be a command such as \"docker compose\" or \"docker-compose\", " ..
      "not " .. quoted(c.compose.cli))
  end
  if c.backend == "compose" and not (c.compose and c.compose.file) then
    fail(path .. ".compose", "the compose backend needs compose = { file = ... }")
  end
  if c.backend == "compose" then check_project(c, path) end
  c.services = c.services or {}
  check_list(c.services, path .. ".services", " of services")
  for i, svc in ipairs(c.services) do check_service(svc, i, c.backend, path) end
  c.by_name = check_order(c.services, path)
end

-- Loading -------------------------------------------------------------------

local function sandbox()
  local env = {}
  for _, name in ipairs { "assert", "error", "ipairs", "next", "pairs", "pcall",
    "select", "tonumber", "tostring", "type" } do
    env[name] = _G[name]
  end
  for _, lib in ipairs { "math", "string", "table", "utf8" } do
    env[lib] = {}
    for k, v in pairs(_G[lib]) do env[lib][k] = v end
  end
  env.os = { getenv = os.getenv, time = os.time }
  return env
end

-- run(chunk, path) -> the chunk's result. The chunk runs in a coroutine
-- whose count hook stops it past time_limit or MEMORY_LIMIT and then
-- raises on every instruction, so a pcall in the file cannot swallow it.
local function run(chunk, path)
  local co = coroutine.create(chunk)
  local deadline = sched.now() + M.time_limit
  local base = collectgarbage("count")
  local stop
  local function hook()
    if not stop then
      if sched.now() > deadline then
        stop = string.format("did not finish within %g s (an endless loop?)", M.time_limit)
      elseif collectgarbage("count") - base > MEMORY_LIMIT * 1024 then
        stop = string.format("allocated more than %d MiB", MEMORY_LIMIT)
      else
        return
      end
      debug.sethook(co, hook, "", 1)
    end
    error(stop, 0)
  end
  debug.sethook(co, hook, "", 1000)
  local ok, c = coroutine.resume(co)
  if stop then fail(path, stop) end
  if not ok then
    local text = type(c) == "table" and require("mpod.inspect").inspect(c, 200) or tostring(c)
    fail(path, "raised an error: " .. text)
  end
  return c
end

local function dirname(path)
  return path:match("^(.*)/[^/]*$") or "."
end

local function sorted_keys(set)
  local list = {}
  for k in pairs(set) do list[#list + 1] = k end
  table.sort(list)
  return list
end

-- expand_all(c, ctx, path) -> { service = its port names }: every string
-- of c expanded in place
local function expand_all(c, ctx, path)
  if type(c.name) == "string" and c.name:find("${PORT:", 1, true) then
    fail(path .. ".name", "cannot hold a ${PORT:...}: the name is how a cluster that is up is found")
  end
  for k, v in pairs(c) do
    if k ~= "services" then c[k] = expand(v, ctx, path .. "." .. tostring(k)) end
  end
  local service_ports = {}
  if type(c.services) ~= "table" then return service_ports end
  for i, svc in ipairs(c.services) do
    if type(svc) == "table" then
      local name = type(svc.name) == "string" and svc.name or ""
      ctx.vars.NAME, ctx.service_used = name, {}
      c.services[i] = expand(svc, ctx, string.format("%s.services[%d]", path, i))
      service_ports[name] = sorted_keys(ctx.service_used)
    end
  end
  ctx.service_used = nil
  return service_ports
end

-- check_ports(c, path): ${PORT:name} only where mpod-lua starts services
local function check_ports(c, path)
  local first = c.port_names[1]
  if not first then return end
  if c.backend == "compose" then
    fail(path, "${PORT:" .. first .. "}: ports are chosen for the process backend only; " ..
      "the compose file fixes the host ports of a compose cluster")
  end
  for _, svc in ipairs(c.services) do
    if svc.cmd then return end
  end
  fail(path, "${PORT:" .. first .. "}: ports are chosen when mpod-lua starts the cluster's " ..
    "services, and this file starts none (no service has a cmd)")
end

-- load(path, run_dir [, opts]) -> the validated cluster table (strings
-- expanded); raises an error of kind "cluster" naming what is wrong.
-- opts.ports: { name = port } for ${PORT:name} (nil: read as 0);
-- opts.name: a name that replaces the file's own (--name).
function M.load(path, run_dir, opts)
  opts = opts or {}
  local chunk, err = loadfile(path, "t", sandbox())
  if not chunk then
    if not sys.stat(path) then fail(path, "no such cluster file") end
    fail(path, "cannot load: " .. err)
  end
  local c = run(chunk, path)
  if type(c) ~= "table" then fail(path, "must return a table, not a " .. type(c)) end
  if opts.name then
    check_name(opts.name, "--name")
    c.name = opts.name
  end
  local root = sys.realpath(dirname(path)) or dirname(path)
  local ctx = { vars = { ROOT = root, RUN_DIR = run_dir or "" }, ports = opts.ports, used = {} }
  local service_ports = expand_all(c, ctx, path)
  validate(c, path)
  c.service_ports, c.port_names, c.ports = service_ports, sorted_keys(ctx.used), opts.ports
  check_ports(c, path)
  c.root, c.path, c.run_dir = root, path, run_dir
  return c
end

-- url_port(url) -> the port a url names (nil: none, or no url)
local function url_port(url)
  local authority = url and url:match("^%a+://([^/?#]*)")
  return authority and math.tointeger(tonumber(authority:match(":(%d+)$")))
end

-- describe(c) -> the plain description a scenario child gets
function M.describe(c)
  local pods = {}
  for _, s in ipairs(c.services) do
    pods[#pods + 1] = { name = s.name, group = s.group, url = s.url,
                        port = url_port(s.url),
                        oneshot = s.oneshot or false }
  end
  local proxies = {}
  for name in pairs(c.proxies or {}) do proxies[#proxies + 1] = name end
  table.sort(proxies)
  return {
    name = c.name, backend = c.backend, http = c.http or {},
    postgres = c.postgres, pods = pods, proxies = proxies, ports = c.ports or {},
  }
end

return M
