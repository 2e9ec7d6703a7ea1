-- procs.lua: counting the processes a test cluster or run left behind (by
-- command line or environment), and the environment that names a fresh
-- instance of tests/clusters/procs.lua.

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

local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local text = f:read("a") or ""
  f:close()
  return text
end

-- with_env(name, value) -> "pid command" of the live (not zombie)
-- processes whose environment holds name=value, this one excepted
function M.with_env(name, value)
  local found, me = {}, tostring(require("mpod.proc").getpid())
  local marker = "\0" .. name .. "=" .. value .. "\0"
  for _, dir in ipairs(sys.glob("/proc/[0-9]*")) do
    local pid = dir:match("%d+$")
    local state = read_all(dir .. "/stat"):match("%) (%a)")
    if pid ~= me and state and state ~= "Z"
       and ("\0" .. read_all(dir .. "/environ")):find(marker, 1, true) then
      found[#found + 1] = pid .. " " .. read_all(dir .. "/cmdline"):gsub("%z", " ")
    end
  end
  return found
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
