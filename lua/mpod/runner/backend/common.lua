-- mpod/runner/backend/common.lua: what every backend does the same way:
-- finding a service by name, bringing stopped and paused pods back, and
-- the rows of `mpod-lua status`.
--
-- A backend provides service-level methods: state, kill, stop, start,
-- restart, pause, unpause, isolate, rejoin, info, logs (and may raise
-- "unsupported" from any of them), which mpod.runner.control calls for a
-- scenario's requests; these helpers do the rest.

local errors = require "mpod.error"
local ready = require "mpod.runner.ready"

local M = {}

-- service(backend, name) -> the cluster file's entry; raises listing the
-- known names
function M.service(b, name)
  local svc = b.cluster.by_name[name]
  if svc then return svc end
  local names = {}
  for _, s in ipairs(b.cluster.services) do names[#names + 1] = s.name end
  errors.usage(string.format("no pod named '%s' (known: %s)", tostring(name),
    table.concat(names, ", ")))
end

-- log_time(t) -> wall-clock seconds t rounded down to the millisecond (nil
-- stays nil): the resolution of log stamps (the process backend's pump
-- truncates to it; Docker gets since and until with it). Both ends of a
-- logs window go through it, so a line of the millisecond `since` falls in
-- counts, and consecutive windows [a, b), [b, c) never share a line.
function M.log_time(t)
  return t and math.floor(t * 1000) / 1000
end

-- restore(backend, running_states) -> list of "name (started|unpaused)":
-- every pod (not one-shot, managed by the backend) that is paused is
-- unpaused, any other that is not in a running state is started; then
-- every pod's readiness is awaited.
function M.restore(b, running_states)
  local actions = {}
  for _, svc in ipairs(b.cluster.services) do
    if not svc.oneshot and b:manages(svc) then
      local s = b:state(svc.name)
      if s == "paused" then
        b:unpause(svc.name)
        actions[#actions + 1] = svc.name .. " (unpaused)"
      elseif not running_states[s] then
        b:start(svc.name)
        actions[#actions + 1] = svc.name .. " (started)"
      end
    end
  end
  for _, svc in ipairs(b.cluster.services) do
    if not svc.oneshot then ready.wait(svc, b) end
  end
  return actions
end

-- status(backend, health) -> rows {name, state, health, url} in file order;
-- health(svc, state) says how a running pod is
function M.status(b, health)
  local rows = {}
  for _, svc in ipairs(b.cluster.services) do
    local s = b:state(svc.name)
    rows[#rows + 1] = { name = svc.name, state = s, health = health(svc, s) or "-",
                        url = svc.url or "" }
  end
  return rows
end

function M.unsupported(backend_name, what, why)
  errors.raise("unsupported", string.format("%s is not supported by the %s backend (%s)",
    what, backend_name, why))
end

return M
