-- http_load.lua: figures (a) and (b) of bench/http.sh, `make bench`:
-- keep-alive GETs of BENCH_URL (the bench's nginx serving a small JSON
-- file), every body decoded as JSON and checked, for BENCH_SECONDS
-- (default 3). BENCH_TASKS (default 1) says how many at once: 1 is a
-- sequential loop in the test itself, more are that many mp.spawn tasks
-- looping side by side. Notes "bench rate <requests/s>" and
-- "bench cpu_us <CPU microseconds of this process per request>".

local mp = require "mpod"

local URL = os.getenv("BENCH_URL") or error("BENCH_URL is not set")
local SECONDS = tonumber(os.getenv("BENCH_SECONDS") or "3")
local TASKS = tonumber(os.getenv("BENCH_TASKS") or "1")

-- One GET, its body decoded; raises unless it is the bench's file.
local function fetch()
  local res = mp.http.get(URL)
  if res.status ~= 200 or res.json.name ~= "bench" then
    error("unexpected answer from " .. URL .. ": " .. tostring(res), 0)
  end
end

-- fetch() until the deadline; returns how many were done.
local function loop(deadline)
  local n = 0
  repeat
    fetch()
    n = n + 1
  until mp.now() >= deadline
  return n
end

mp.test(string.format("keep-alive GET with JSON decode, %d task(s)", TASKS), function()
  fetch()                                  -- the first connection, outside the clock
  local cpu0, t0 = os.clock(), mp.now()
  local n = 0
  if TASKS == 1 then
    n = loop(t0 + SECONDS)
  else
    local tasks = {}
    for i = 1, TASKS do tasks[i] = mp.spawn(loop, t0 + SECONDS) end
    for _, count in ipairs(mp.wait_all(tasks, SECONDS + 30)) do n = n + count end
  end
  local elapsed, cpu = mp.now() - t0, os.clock() - cpu0
  mp.note(string.format("bench rate %.1f", n / elapsed))
  mp.note(string.format("bench cpu_us %.2f", cpu / n * 1e6))
end, { timeout = SECONDS + 60 })
