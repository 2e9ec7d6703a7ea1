-- httpfix.lua: the HTTP fixture server (tests/fixtures/httpfix.c) for the
-- tests of mpod.http. start() spawns it and reads the ports it prints; it
-- exits when its stdin closes, so it never outlives the test file.

local cluster = require "mpod.scenario.cluster"
local proc = require "mpod.proc"

local M = {}

M.BIN = (os.getenv("BUILD") or "build") .. "/fixtures/httpfix"

local Fixture = {}
Fixture.__index = Fixture

-- start() -> fixture {url=, port=, reset_port=, silent_port=, odd_port=,
-- reset_url=, silent_url=, odd_url=}
function M.start()
  local p, stdin, stdout = proc.spawn { argv = { M.BIN }, stdin = "pipe", stdout = "pipe" }
  local fix = setmetatable({ proc = p, stdin = stdin, stdout = stdout }, Fixture)
  for _ = 1, 4 do
    local line, why = stdout:read_line(10)
    if not line then error("httpfix did not print its ports: " .. tostring(why)) end
    local key, port = line:match("^([%u_]+) (%d+)$")
    fix[key:lower()] = tonumber(port)
  end
  fix.url = "http://127.0.0.1:" .. fix.port
  fix.reset_url = "http://127.0.0.1:" .. fix.reset_port
  fix.silent_url = "http://127.0.0.1:" .. fix.silent_port
  fix.odd_url = "http://127.0.0.1:" .. fix.odd_port
  return fix
end

-- fix:cluster([http]) -> a cluster whose pods a, b and c all point at the
-- fixture, with the cluster file's `http` table (headers, timeout)
function Fixture:cluster(http)
  return cluster.build {
    name = "httpfix", http = http,
    pods = { { name = "a", url = self.url }, { name = "b", url = self.url },
             { name = "c", url = self.url } },
  }
end

-- TCP states as /proc/net/tcp writes them
local TCP_STATES = { established = "01", time_wait = "06" }

-- fix:connections([state]) -> how many client sockets to the fixture's
-- HTTP port are in `state` on this machine (from /proc/net/tcp):
-- "established" (the default), or "time_wait", which the side that closed
-- first keeps: the connections the client closed
function Fixture:connections(state)
  local code = TCP_STATES[state or "established"] or error("unknown TCP state " .. tostring(state))
  local n = 0
  local wanted = string.format(":%04X ", self.port)
  for _, file in ipairs { "/proc/net/tcp", "/proc/net/tcp6" } do
    local f = io.open(file)
    for line in (f and f:read("a") or ""):gmatch("[^\n]+") do
      local remote, state = line:match("^%s*%d+: %S+ (%S+) (%x%x)")
      if remote and state == code and (remote .. " "):find(wanted, 1, true) then n = n + 1 end
    end
    if f then f:close() end
  end
  return n
end

-- fix:stop(): close its stdin and wait for it to exit
function Fixture:stop()
  self.stdin:close()
  self.proc:wait(10)
  self.stdout:close()
end

return M
