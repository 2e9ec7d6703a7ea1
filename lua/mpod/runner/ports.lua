-- mpod/runner/ports.lua: the ports a cluster file asks for with
-- ${PORT:name}, chosen when the cluster is brought up.
--
-- Each name gets a TCP port of 127.0.0.1 that the kernel handed out as
-- free (bind to port 0), distinct from the others of the cluster and from
-- the ports of every other cluster recorded in the state folder, whose
-- services may be down for a moment (a scenario stopped them) and would
-- want theirs back. A port is free when it is chosen, not reserved: a
-- program may take it before the service binds it. That race shows as a
-- service that fails to listen ("Address already in use" in its log):
-- taken() recognises it, and the session then brings the cluster up
-- again with new ports.

local state = require "mpod.runner.state"
local sys = require "mpod.sys"

local M = {}

local ATTEMPTS = 100            -- kernel choices tried per name

-- in_use() -> set of the ports recorded by the clusters in the state folder
local function in_use()
  local used = {}
  for _, st in ipairs(state.all()) do
    for _, port in pairs(type(st.ports) == "table" and st.ports or {}) do
      if math.type(port) == "integer" then used[port] = true end
    end
  end
  return used
end

-- allocate(names) -> { name = port } for the list of names; raises when
-- the kernel has no port left to give
function M.allocate(names)
  local used, ports = in_use(), {}
  for _, name in ipairs(names) do
    local port
    for _ = 1, ATTEMPTS do
      local p = assert(sys.free_port())
      if not used[p] then port = p; break end
    end
    if not port then error("no free TCP port on 127.0.0.1 for ${PORT:" .. name .. "}", 0) end
    used[port], ports[name] = true, port
  end
  return ports
end

-- taken(err, c) -> the names of the ports of the service err is about,
-- when err (a bring-up failure) shows that service could not bind one
-- of the ports chosen for it; nil otherwise
function M.taken(err, c)
  if type(err) ~= "table" or type(err.log) ~= "string" or not err.service then return nil end
  local names = c.service_ports and c.service_ports[err.service]
  if not names or #names == 0 then return nil end
  local log = err.log:lower()
  if log:find("address already in use", 1, true) or log:find("eaddrinuse", 1, true) then
    return names
  end
end

-- describe(ports) -> "a=41234, b=41235" in name order
function M.describe(ports)
  local names = {}
  for name in pairs(ports or {}) do names[#names + 1] = name end
  table.sort(names)
  for i, name in ipairs(names) do names[i] = name .. "=" .. tostring(ports[name]) end
  return table.concat(names, ", ")
end

return M
