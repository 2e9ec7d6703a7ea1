-- procs.lua: counting the processes a test cluster left behind, and the
-- environment that names a fresh instance of tests/clusters/procs.lua.

local sys = require "mpod.sys"

local M = {}

-- list(needle) -> command lines of the live (not zombie) processes whose
-- command line holds needle
function M.list(needle)
  local found = {}
  for _, dir in ipairs(sys.glob("/proc/[0-9]*")) do
    local f = io.open(dir .. "/cmdline", "rb")
    local cmd = f and f:read("a") or ""
    if f then f:close() end
    local st = io.open(dir .. "/stat")
    local stat = st and st:read("a") or ""
    if st then st:close() end
    local state = stat:match("%) (%a)")
    if cmd:find(needle, 1, true) and state and state ~= "Z" then
      found[#found + 1] = dir:match("%d+$") .. " " .. cmd:gsub("%z", " ")
    end
  end
  return found
end

function M.count(needle)
  return #M.list(needle)
end

local serial = 0

-- env() -> environment for a fresh procs.lua cluster: TAG, PORT_A, PORT_B
function M.env()
  serial = serial + 1
  return {
    TAG = string.format("t%d-%d", require("mpod.proc").getpid(), serial),
    PORT_A = tostring(sys.free_port()), PORT_B = tostring(sys.free_port()),
    MPOD_STATE_DIR = os.getenv("MPOD_STATE_DIR"),
  }
end

return M
