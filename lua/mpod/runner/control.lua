-- mpod/runner/control.lua: the runner's side of pod control: it serves the
-- requests scenario children send (kill, stop, logs, heal, ...), remembers
-- which pods each file touched, and heals the cluster after every file.
--
-- Requests run in the runner's own tasks, so a `start` that waits for
-- readiness never holds up events from other files. Healing takes the
-- backend's view of every pod, not only the ones a file touched: a pod that
-- crashed on its own is brought back too.

local errors = require "mpod.error"
local json = require "mpod.json"

local M = {}
local Control = {}
Control.__index = Control

local MUTATING = { kill = true, stop = true, start = true, restart = true,
                   pause = true, unpause = true, isolate = true, rejoin = true }

-- new(backend [, extras]) -> control; extras.proxies handles fault requests
function M.new(backend, extras)
  return setmetatable({ backend = backend, extras = extras or {} }, Control)
end

function Control:handle(msg, file_state)
  if msg.op == "pod" then
    if MUTATING[msg.action] then
      file_state.touched = file_state.touched or {}
      file_state.touched[msg.pod] = msg.action
    end
    local args = {}
    for i, v in ipairs(msg.args or {}) do
      if v ~= json.null then args[i] = v end
    end
    return self.backend:act(msg.pod, msg.action, args)
  elseif msg.op == "heal" then
    return self:heal()
  elseif msg.op == "proxy" and self.extras.proxies then
    file_state.touched_proxies = true
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

-- after_file(file_state) -> comment text or nil; raises when the cluster
-- cannot be healed (the run must stop).
function Control:after_file(_)
  local actions = self:heal()
  if #actions == 0 then return nil end
  return "healed: " .. table.concat(actions, ", ")
end

return M
