-- http_concurrency.lua: many transfers at once in one scenario: three SSE
-- watchers and a request loop side by side, 64 concurrent requests, and a
-- forked scenario child (as the runner makes them) that must start its
-- own curl multi while its parent's transfers go on.

local mp = require "mpod"
local channel = require "mpod.channel"
local sched = require "mpod.sched"
local json = require "mpod.json"
local proc = require "mpod.proc"
local sys = require "mpod.sys"
local httpfix = require "httpfix"

local fix
mp.before_all(function() fix = httpfix.start() end)
mp.after_all(function() fix:stop() end)

mp.test("three SSE watchers and a request loop run concurrently", function()
  local c = fix:cluster()
  local done = 0
  local watchers = {}
  for _, pod in ipairs(c:pods()) do
    watchers[#watchers + 1] = mp.spawn(function()
      local s <close> = pod:sse("/sse/drip", { query = { n = 10, ms = 100 } })
      local got = {}
      for i = 1, 10 do got[i] = s:wait_for("drip", 5) end
      done = done + 1
      return got
    end)
  end
  local answered = {}
  local loop = mp.spawn(function()
    while done < #watchers do
      c:pod("a"):get("/slow", { query = { ms = 20 } }):expect(200)
      answered[#answered + 1] = mp.now()
    end
  end)
  local results = mp.wait_all(watchers, 20)
  loop:wait(5)
  -- every watcher got every event, and all of them were streaming at once:
  -- each first event came before any last one, with requests in between
  local latest_first, earliest_last = 0, math.huge
  for _, got in ipairs(results) do
    local data = {}
    for i, ev in ipairs(got) do data[i] = ev.data end
    mp.expect(data):eq { "drip 1", "drip 2", "drip 3", "drip 4", "drip 5",
                         "drip 6", "drip 7", "drip 8", "drip 9", "drip 10" }
    latest_first = math.max(latest_first, got[1].time)
    earliest_last = math.min(earliest_last, got[10].time)
  end
  mp.expect(latest_first):lt(earliest_last)
  local between = 0
  for _, t in ipairs(answered) do
    if t > latest_first and t < earliest_last then between = between + 1 end
  end
  mp.expect(between):ge(5)
end)

mp.test("64 concurrent requests take about as long as one", function()
  local tasks = {}
  for i = 1, 64 do
    tasks[i] = mp.spawn(function()
      return mp.http.request { url = fix.url .. "/slow?ms=300" }.json.slept_ms
    end)
  end
  local t0 = mp.now()
  local results = mp.wait_all(tasks, 20)
  mp.expect(#results):eq(64)
  for _, ms in ipairs(results) do mp.expect(ms):eq(300) end
  mp.expect(mp.now() - t0):lt(3)             -- one after another: 19 s
end)

mp.test("64 tasks in a loop keep their 64 keep-alive connections", function()
  local before = fix:connections("time_wait")
  local tasks = {}
  for i = 1, 64 do
    tasks[i] = mp.spawn(function()
      for _ = 1, 10 do mp.http.request { url = fix.url .. "/json" }:expect(200) end
    end)
  end
  mp.wait_all(tasks, 30)
  -- libcurl's default cache keeps 4 connections per transfer in flight, so
  -- when many transfers ended together it closed the surplus and the next
  -- round opened new ones (37 closed in these 640 requests before that)
  local closed = fix:connections("time_wait") - before
  mp.note(string.format("closed by the client in 640 requests: %d", closed))
  mp.expect(closed):le(8)
  mp.expect(fix:connections()):le(64)
end)

-- A scenario file for a forked child: requests and a stream of its own.
local CHILD_CASE = [[
local mp = require "mpod"
mp.test("requests in a forked child", function()
  for _ = 1, 5 do mp.expect(mp.http.request { url = %q }.json.name):eq("httpfix") end
  local s <close> = mp.http.sse { url = %q }
  mp.expect(s:wait_for("bye", 5).event):eq("done")
end)
]]

-- Fork this engine to run file (as the runner does); returns the test
-- events the child reported.
local function run_forked(file)
  local tests, closed = {}, sched.cond()
  local p, stream = proc.fork_child(json.encode { file = file })
  local ch = channel.new(stream, function(msg, chan)
    if msg.ev == "load" then chan:send { go = true } end
    if msg.ev == "test" then tests[#tests + 1] = msg end
  end, function() closed:broadcast() end)
  local status = p:wait(30)
  while not ch.closed do closed:wait(1) end
  return tests, status
end

mp.test("a forked child uses a fresh multi while the parent's transfers go on", function()
  local s <close> = mp.http.sse { url = fix.url .. "/sse/forever" }
  s:wait_for("tick 2", 5)
  mp.expect(mp.http.request { url = fix.url .. "/json" }.status):eq(200)
  local dir = assert(sys.mkdtemp("mpod-http"))
  local file = dir .. "/child.lua"
  local f = assert(io.open(file, "w"))
  f:write(CHILD_CASE:format(fix.url .. "/json", fix.url .. "/sse/basic"))
  f:close()
  local tests = run_forked(file)
  sys.rmtree(dir)
  mp.expect(#tests):eq(1)
  if not tests[1].ok then mp.fail("the child failed: " .. json.encode(tests[1].diag)) end
  local last = tonumber(s:wait_for("tick", 5).id)
  mp.expect(tonumber(s:wait_for("tick " .. (last + 3), 5).id)):eq(last + 3)
  mp.expect(mp.http.request { url = fix.url .. "/json" }.status):eq(200)
end)
