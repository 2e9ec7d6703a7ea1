-- mpod/runner/proxies.lua: network faults through Toxiproxy, on the
-- runner's side.
--
-- The cluster file declares the Toxiproxy API (`toxiproxy = { url = ... }`)
-- and the proxies (`proxies = { postgres = { listen =, upstream = } }`);
-- after bring-up the runner makes Toxiproxy hold exactly those (POST
-- /populate). Scenarios ask the runner to add faults (c:proxy(name):
-- latency, timeout, bandwidth, reset_peer, down, up, clear); a fault given
-- `for_s` is removed by the runner on its own when the time is up, even if
-- the scenario process died meanwhile. Healing after every file resets
-- Toxiproxy (every toxic removed, every proxy enabled), and so does
-- attaching to a cluster that is up, so a runner killed mid-fault leaves
-- no fault behind for the next run.

local errors = require "mpod.error"
local http = require "mpod.http"
local json = require "mpod.json"
local sched = require "mpod.sched"

local M = {}
local Proxies = {}
Proxies.__index = Proxies

local TIMEOUT = 10

-- new(cluster) -> proxies object, or nil when the cluster declares none
function M.new(cluster)
  if not cluster.proxies or next(cluster.proxies) == nil then return nil end
  local url = cluster.toxiproxy and cluster.toxiproxy.url
  return setmetatable({ url = url:gsub("/+$", ""), proxies = cluster.proxies,
                        dirty = false, timers = {} }, Proxies)
end

function Proxies:call(method, path, body)
  local ok, res = pcall(http.request, { url = self.url .. path, method = method,
                                       json = body, timeout = TIMEOUT })
  if not ok then
    errors.raise("toxiproxy", string.format("cannot reach Toxiproxy at %s: %s", self.url,
      tostring(res)))
  end
  if res.status >= 300 and res.status ~= 404 then
    errors.raise("toxiproxy", string.format("Toxiproxy %s %s: %d %s", method, path, res.status,
      http.excerpt(res.body)))
  end
  return res
end

-- setup(): make Toxiproxy hold the declared proxies (create or update)
function Proxies:setup()
  local list = {}
  for name, p in pairs(self.proxies) do
    list[#list + 1] = { name = name, listen = p.listen, upstream = p.upstream, enabled = true }
  end
  table.sort(list, function(a, b) return a.name < b.name end)
  self:call("POST", "/populate", json.array(list))
end

function Proxies:check_name(name)
  if self.proxies[name] then return end
  local names = {}
  for n in pairs(self.proxies) do names[#names + 1] = n end
  table.sort(names)
  errors.usage(string.format("no proxy named '%s' (known: %s)", tostring(name), table.concat(names, ", ")))
end

local function number(args, key, default)
  local v = args[key]
  if v == nil then return default end
  if type(v) ~= "number" or v < 0 then
    errors.usage(string.format("%s must be a non-negative number, not %s", key, tostring(v)))
  end
  return v
end

-- The toxics each fault adds: {type, stream, attributes}.
local FAULTS = {
  latency = function(a)
    return { type = "latency", stream = "downstream",
             attributes = { latency = math.floor(number(a, "ms", 1000)), jitter = math.floor(number(a, "jitter", 0)) } }
  end,
  timeout = function(a)
    return { type = "timeout", stream = "upstream", attributes = { timeout = math.floor(number(a, "ms", 0)) } }
  end,
  bandwidth = function(a)
    return { type = "bandwidth", stream = "downstream", attributes = { rate = math.floor(number(a, "kbps", 100)) } }
  end,
  reset_peer = function(a)
    return { type = "reset_peer", stream = "upstream", attributes = { timeout = math.floor(number(a, "ms", 0)) } }
  end,
}

-- Undo one fault later: the runner's own task, so it happens even when
-- the scenario process is gone.
function Proxies:revert_after(seconds, key, undo)
  if self.timers[key] then self.timers[key]:cancel("replaced") end
  self.timers[key] = sched.spawn(function()
    sched.sleep(seconds)
    self.timers[key] = nil
    pcall(undo)
  end)
  self.timers[key]:name("revert " .. key)
end

function Proxies:add_toxic(proxy, kind, args)
  local toxic = FAULTS[kind](args)
  toxic.name = "mpod_" .. kind
  toxic.toxicity = 1.0
  local path = "/proxies/" .. proxy .. "/toxics"
  self:call("DELETE", path .. "/" .. toxic.name)
  self:call("POST", path, toxic)
  self.dirty = true
  if args.for_s then
    self:revert_after(number(args, "for_s"), proxy .. "/" .. kind, function()
      self:call("DELETE", path .. "/" .. toxic.name)
    end)
  end
  return true
end

function Proxies:set_enabled(proxy, enabled, args)
  local p = self.proxies[proxy]
  self:call("POST", "/proxies/" .. proxy, { enabled = enabled, listen = p.listen, upstream = p.upstream })
  self.dirty = true
  if not enabled and args and args.for_s then
    self:revert_after(number(args, "for_s"), proxy .. "/down", function()
      self:set_enabled(proxy, true)
    end)
  end
  return true
end

function Proxies:clear(proxy)
  local res = self:call("GET", "/proxies/" .. proxy .. "/toxics")
  for _, t in ipairs(res.json or {}) do
    self:call("DELETE", "/proxies/" .. proxy .. "/toxics/" .. t.name)
  end
  return self:set_enabled(proxy, true)
end

-- handle({proxy=, action=, args=}) -> result of a scenario's request
function Proxies:handle(msg)
  self:check_name(msg.proxy)
  local args = msg.args or {}
  if FAULTS[msg.action] then return self:add_toxic(msg.proxy, msg.action, args) end
  if msg.action == "down" then return self:set_enabled(msg.proxy, false, args) end
  if msg.action == "up" then return self:set_enabled(msg.proxy, true) end
  if msg.action == "clear" then return self:clear(msg.proxy) end
  if msg.action == "info" then return self:call("GET", "/proxies/" .. msg.proxy).json end
  errors.usage("unknown proxy action '" .. tostring(msg.action) .. "'")
end

-- heal() -> list of what was done: every toxic removed, every proxy on
function Proxies:heal()
  for key, t in pairs(self.timers) do
    t:cancel("healing")
    self.timers[key] = nil
  end
  self:call("POST", "/reset")
  local was = self.dirty
  self.dirty = false
  return was and { "proxy faults cleared" } or {}
end

-- From a state record (the watchdog, down): reset if Toxiproxy answers.
function M.reset_from_state(st)
  local url = st.proxies_state and st.proxies_state.url
  if url then pcall(http.request, { url = url .. "/reset", method = "POST", timeout = 5 }) end
end

return M
