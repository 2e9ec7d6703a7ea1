-- mpod/runner/control.lua: the runner's side of pod control: it serves the
-- requests scenario children send (kill, stop, logs, heal, ...) and heals
-- the cluster after every file.
--
-- A pod request carries the call as the scenario made it: {op="pod",
-- pod=, action=, args={named arguments}}; POD_ACTIONS turns it into the
-- backend's method call. Requests run in the runner's own tasks, so a
-- `start` that waits for readiness never holds up events from other files.
-- Healing takes the backend's view of every pod, not only the ones a file
-- touched: a pod that crashed on its own is brought back too.

local errors = require "mpod.error"
local ready = require "mpod.runner.ready"

local M = {}
local Control = {}
Control.__index = Control

-- action -> function(backend, pod name, args) -> the call's result
local POD_ACTIONS = {
  kill = function(b, name, a) return b:kill(name, a.signal) end,
  stop = function(b, name, a) return b:stop(name, a.grace) end,
  start = function(b, name) return b:start(name) end,
  restart = function(b, name, a) return b:restart(name, a.grace) end,
  pause = function(b, name) return b:pause(name) end,
  unpause = function(b, name) return b:unpause(name) end,
  isolate = function(b, name) return b:isolate(name) end,
  rejoin = function(b, name) return b:rejoin(name) end,
  state = function(b, name) return b:state(name) end,
  info = function(b, name) return b:info(name) end,
  logs = function(b, name, a)
    return b:logs(name, { since = a.since, tail = a.tail, stamps = a.stamps == true })
  end,
  wait_ready = function(b, name, a) return ready.wait(b:service(name), b, a.timeout) end,
}

-- new(backend [, extras]) -> control; extras.proxies handles fault requests
function M.new(backend, extras)
  return setmetatable({ backend = backend, extras = extras or {} }, Control)
end

local function pod_request(backend, msg)
  backend:service(msg.pod)                -- raises naming the known pods
  local act = POD_ACTIONS[msg.action]
  if not act then errors.usage("unknown pod action '" .. tostring(msg.action) .. "'") end
  return act(backend, msg.pod, msg.args or {})
end

-- handle(msg) -> the request's result; raises what the backend raised
function Control:handle(msg)
  if msg.op == "pod" then
    return pod_request(self.backend, msg)
  elseif msg.op == "heal" then
    return self:heal()
  elseif msg.op == "proxy" and self.extras.proxies then
    return self.extras.proxies:handle(msg)
  elseif msg.op == "partition" then
    if not self.backend.partition then
      errors.raise("unsupported", "c:partition() is not supported by the " ..
        (self.backend.name or "process") .. " backend (its pods share the host's network); " ..
        "use the compose backend")
    end
    return self.backend:partition(msg.a, msg.b, self.extras.proxies)
  elseif msg.op == "proxy" then
    errors.usage("this cluster declares no proxies (proxies = {...} in its cluster file)")
  end
  errors.usage("unknown request '" .. tostring(msg.op) .. "'")
end

-- heal() -> list of what was done
function Control:heal()
  local actions = {}
  if self.extras.proxies then
    for _, a in ipairs(self.extras.proxies:heal()) do actions[#actions + 1] = a end
  end
  for _, a in ipairs(self.backend:heal()) do actions[#actions + 1] = a end
  return actions
end

-- after_file() -> comment text or nil; raises when the cluster cannot be
-- healed (the run must stop).
function Control:after_file()
  local actions = self:heal()
  if #actions == 0 then return nil end
  return "healed: " .. table.concat(actions, ", ")
end

return M
