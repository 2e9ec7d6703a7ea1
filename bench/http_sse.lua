-- http_sse.lua: figure (c) of bench/http.sh, `make bench`: the memory of
-- one scenario holding BENCH_STREAMS (default 1000) SSE streams open at
-- once. The streams come from the HTTP fixture (tests/fixtures/httpfix.c,
-- one thread per connection), /sse/drip with an event a second, so every
-- stream stays open and keeps delivering. The fixture holds 1,000 at once
-- but not 1,500 (libmicrohttpd's default connection limit, about
-- FD_SETSIZE): more streams need another server. One task per stream opens it and
-- reads its events, as a watcher does; all are opened at once, then held
-- open BENCH_SSE_HOLD seconds (default 2, at least 1) after the last one
-- got its first event. Notes, from /proc/self/status (the scenario's own
-- process): "bench rss_before_kib" before opening, "bench rss_open_kib"
-- once every stream has its first event, "bench rss_kib" and
-- "bench hwm_kib" (the peak so far) at the end of the hold, streams still
-- open, and "bench open_s", the seconds opening took.

local mp = require "mpod"

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
package.path = here .. "/../tests/lua/lib/?.lua;" .. package.path
local httpfix = require "httpfix"

local STREAMS = tonumber(os.getenv("BENCH_STREAMS") or "1000")
local HOLD = math.max(1, tonumber(os.getenv("BENCH_SSE_HOLD") or "2"))

local fix
mp.before_all(function() fix = httpfix.start() end)
mp.after_all(function() if fix then fix:stop() end end)

-- status() -> VmRSS, VmHWM of this process in KiB
local function status()
  local f = assert(io.open("/proc/self/status"))
  local text = f:read("a")
  f:close()
  return tonumber(text:match("VmRSS:%s*(%d+)")), tonumber(text:match("VmHWM:%s*(%d+)"))
end

mp.test(string.format("%d SSE streams open at once", STREAMS), function()
  local url = fix.url .. "/sse/drip?n=1000000&ms=1000"
  local before = status()
  local t0 = mp.now()
  local opened, holding = 0, true
  local watchers = {}
  for i = 1, STREAMS do
    watchers[i] = mp.spawn(function()
      local s <close> = mp.http.sse { url = url, timeout = 60 }
      local events = 0
      repeat
        if s:next(5) == nil then error("stream " .. i .. " got no event for 5 s", 0) end
        events = events + 1
        if events == 1 then opened = opened + 1 end
      until not holding
      return events
    end)
  end
  mp.poll_until(function() return opened == STREAMS end,
    { timeout = 60, interval = 0.02, label = "every stream open with its first event" })
  local open_s = mp.now() - t0
  local open_kib = status()
  mp.sleep(HOLD)
  local rss, hwm = status()               -- every stream still open
  holding = false
  for _, events in ipairs(mp.wait_all(watchers, 30)) do mp.expect(events):ge(2) end
  mp.note(string.format("bench rss_before_kib %d", before))
  mp.note(string.format("bench rss_open_kib %d", open_kib))
  mp.note(string.format("bench rss_kib %d", rss))
  mp.note(string.format("bench hwm_kib %d", hwm))
  mp.note(string.format("bench open_s %.2f", open_s))
end, { timeout = HOLD + 120 })
