-- mpod/session.lua: the cluster side of a run: finding and loading the
-- cluster file, and what the runner needs from it (the description each
-- scenario child gets, and the control object that serves pod requests).

local clusterfile = require "mpod.clusterfile"
local errors = require "mpod.error"
local sys = require "mpod.sys"

local M = {}

-- open(path, explicit, opts) -> session | nil, exit code
function M.open(path, explicit, opts)
  local s = {}
  if not sys.stat(path) then
    if explicit then
      io.stderr:write("mpod-lua: " .. path .. ": no such cluster file\n")
      return nil, 2
    end
    s.cluster_error = "no cluster file: " .. path ..
      " does not exist (choose one with -C FILE or MPOD_CLUSTER)"
    return s
  end
  local ok, c = pcall(clusterfile.load, path, nil)
  if not ok then
    io.stderr:write("mpod-lua: " .. (errors.is(c) and tostring(c.message) or tostring(c)) .. "\n")
    return nil, 2
  end
  s.cluster = c
  s.description = clusterfile.describe(c)
  return s
end

-- close(session, totals) -> exit code override (0: none)
function M.close(_, _)
  return 0
end

function M.command(name, _, _, _, _)
  io.stderr:write("mpod-lua: '" .. name .. "' needs a cluster backend\n")
  return 2
end

return M
