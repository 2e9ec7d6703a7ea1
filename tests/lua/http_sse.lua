-- http_sse.lua: SSE streams against the fixture: the canned stream in
-- every framing (LF, CRLF, CR, BOM, one byte per write), a slow drip, a
-- stream that drops mid-event (resumed by s:reconnect() and by
-- reconnect = true), Last-Event-ID, wait_for, refusals and timeouts,
-- close / <close> / collection, events queued while the task is busy, and
-- the bound on s.events under a flood.

local mp = require "mpod"
local errors = require "mpod.error"
local httpfix = require "httpfix"

local fix
mp.before_all(function() fix = httpfix.start() end)
mp.after_all(function() fix:stop() end)

local function open(path, opts)
  local spec = { url = fix.url .. path }
  for k, v in pairs(opts or {}) do spec[k] = v end
  return mp.http.sse(spec)
end

-- The events of /sse/basic: comments skipped, ids persisting, multi-line
-- data, the retry field on every event.
local BASIC = {
  { event = "greeting", data = "hello", id = "1", retry = 1500 },
  { event = "message", data = "line one\nline two", id = "2", retry = 1500 },
  { event = "update", data = '{"n":3,"text":"café ✓","list":[1,2]}', id = "2", retry = 1500 },
  { event = "message", data = "no space\n two spaces", id = "4", retry = 1500 },
  { event = "done", data = "bye", id = "5", retry = 1500 },
}

-- every(s) -> the stream's events until it closes, without `time`
local function every(s)
  local out = {}
  while true do
    local ev, why = s:next(5)
    if not ev then
      mp.expect(why):eq("closed")
      return out
    end
    out[#out + 1] = { event = ev.event, data = ev.data, id = ev.id, retry = ev.retry }
  end
end

for _, path in ipairs { "/sse/basic", "/sse/crlf", "/sse/cr", "/sse/bom", "/sse/split" } do
  mp.test("the canned stream parses the same from " .. path, function()
    local s = open(path)
    mp.expect(s.status):eq(200)
    mp.expect(s.headers["content-type"]):eq("text/event-stream")
    mp.expect(every(s)):eq(BASIC)
    mp.expect(s:next(1)):is_nil()
    mp.expect(#s.events):eq(5)
    mp.expect(s.events[3].json):eq { n = 3, text = "café ✓", list = { 1, 2 } }
  end)
end

mp.test("a slow drip: next() waits for each event and times out between them", function()
  local s <close> = open("/sse/drip", { query = { n = 3, ms = 300 } })
  local first = s:next(5)
  mp.expect(first.data):eq("drip 1")
  local ev, why = s:next(0.05)
  mp.expect(ev):is_nil()
  mp.expect(why):eq("timeout")
  local second = s:next(5)
  mp.expect(second.data):eq("drip 2")
  mp.expect(second.id):eq("2")
  mp.expect(second.time - first.time):ge(0.25)
  mp.expect(s:next(5).data):eq("drip 3")
  mp.expect(select(2, s:next(5))):eq("closed")
end)

mp.test("a stream that drops mid-event ends after the last whole event", function()
  local s = open("/sse/drop")
  local got = {}
  for ev in function() return (s:next(5)) end do got[#got + 1] = ev.data end
  mp.expect(got):eq { "drop 1", "drop 2", "drop 3" }
  mp.expect(s.error.kind):eq("reset")
  mp.expect(s:state()):eq("ended")
  mp.expect(s:last_id()):eq("3")
end)

mp.test("s:reconnect() resumes a dropped stream with Last-Event-ID", function()
  local s = open("/sse/drop")
  while s:next(5) do end
  s:reconnect()
  mp.expect(s:state()):eq("open")
  local rest = {}
  while true do
    local ev = s:next(5)
    if not ev then break end
    rest[#rest + 1] = ev.id .. " " .. ev.data
  end
  mp.expect(rest):eq { "4 drop 4", "5 drop 5", "6 drop 6" }
  mp.expect(#s.events):eq(6)
end)

mp.test("reconnect = true resumes by itself after a drop, then gives up on an ended stream", function()
  local s = open("/sse/drop", { reconnect = true })
  local last = s:wait_for("drop 6", 5)
  mp.expect(last.id):eq("6")
  local data = {}
  for i, ev in ipairs(s.events) do data[i] = ev.data end
  mp.expect(data):eq { "drop 1", "drop 2", "drop 3", "drop 4", "drop 5", "drop 6" }
  -- the resumed stream ends cleanly and keeps ending without data: after
  -- max_attempts such reconnections (50 ms apart, the server's retry) it
  -- gives up
  local err = mp.expect(function() s:next(5) end):raises("gave up reconnecting after 10 failed attempts")
  mp.expect(err.kind):eq("closed")
  mp.expect(err.gave_up):eq(true)
  mp.expect(err.path):eq("/sse/drop")
end)

mp.test("reconnect = true gives up with a clear error when the server is gone", function()
  local doomed = httpfix.start()
  local s = mp.http.sse { url = doomed.url .. "/sse/forever", reconnect = true,
                          max_attempts = 3, retry = 0.05 }
  s:wait_for("tick 2", 5)
  doomed:stop()
  local t0 = mp.now()
  local ok, err = pcall(function()
    while true do s:next(5) end
  end)
  mp.expect(ok):falsy()
  mp.expect(errors.is(err)):truthy()
  mp.expect(err.kind):eq("connect")
  mp.expect(err.gave_up):eq(true)
  mp.expect(err.message):matches("gave up reconnecting after 3 failed attempts; the last: .*onnect")
  mp.expect(mp.now() - t0):lt(3)
  mp.expect(s:state()):eq("ended")
  mp.expect(#s.events):ge(2)
end)

mp.test("last_event_id resumes from that id", function()
  local s = open("/sse/drip", { query = { n = 5, ms = 10 }, last_event_id = 3 })
  local ids = {}
  for ev in function() return (s:next(5)) end do ids[#ids + 1] = ev.id end
  mp.expect(ids):eq { "4", "5" }
end)

mp.test("wait_for: a substring, an event type or a predicate; raises listing what arrived", function()
  local s <close> = open("/sse/forever")
  mp.expect(s:wait_for("tick 3", 5).id):eq("3")
  mp.expect(s:wait_for(function(ev) return tonumber(ev.id) % 5 == 0 end, 5).data):eq("tick 5")
  local err = mp.expect(function() s:wait_for("never", 0.35) end):raises('no event matching "never" within 0.35 s')
  mp.expect(err.kind):eq("timeout")
  mp.expect(err.arrived):matches("^message %(id 6%): tick 6\n")
  local b = open("/sse/basic")
  mp.expect(b:wait_for("done", 5).data):eq("bye")
  mp.expect(function() b:wait_for("more", 5) end):raises("the stream closed")
end)

mp.test("a refused stream raises: a non-200 status or another Content-Type", function()
  local err = mp.expect(function() open("/status/404") end):raises("SSE GET /status/404: the server answered 404")
  mp.expect(err.kind):eq("status")
  mp.expect(err.status):eq(404)
  mp.expect(err.body):matches("Not Found")
  local wrong = mp.expect(function() open("/json") end):raises("not text/event-stream")
  mp.expect(wrong.kind):eq("protocol")
end)

mp.test("a stream that never answers times out; refused and reset fail at once", function()
  local t0 = mp.now()
  local err = mp.expect(function() open("/hang", { timeout = 0.3 }) end):raises("no response within 0.3 s")
  mp.expect(err.kind):eq("timeout")
  mp.expect(mp.now() - t0):lt(5)          -- the default timeout is 30 s
  mp.expect(function() mp.http.sse { url = fix.silent_url .. "/", timeout = 0.3 } end):raises("no response")
  local refused = mp.expect(function()
    mp.http.sse { url = "http://127.0.0.1:" .. require("mpod.sys").free_port() .. "/" }
  end):raises("SSE GET /")
  mp.expect(refused.kind):eq("connect")
  mp.expect(function() mp.http.sse { url = fix.reset_url .. "/" } end):raises("SSE GET /")
end)

mp.test("raise = false: a stream that does not open returns nil and why", function()
  local s, err = open("/status/404", { raise = false })
  mp.expect(s):is_nil()
  mp.expect(err.kind):eq("status")
  mp.expect(err.message):matches("^SSE GET /status/404: the server answered 404")
  local dead = "http://127.0.0.1:" .. require("mpod.sys").free_port()
  local c = require("mpod.scenario.cluster").build { name = "dead", pods = { { name = "gone", url = dead } } }
  s, err = c:pod("gone"):sse("/events", { raise = false })
  mp.expect(s):is_nil()
  mp.expect(err.kind):eq("connect")
  mp.expect(err.pod):eq("gone")
  local ok <close> = open("/sse/basic", { raise = false })
  mp.expect(ok:next(5).data):eq("hello")
end)

mp.test("events queue while the task is busy; next() then returns them at once", function()
  local s <close> = open("/sse/drip", { query = { n = 5, ms = 20 } })
  mp.sleep(0.5)
  mp.expect(#s.events):eq(5)
  local t0 = mp.now()
  for i = 1, 5 do mp.expect(s:next(1).data):eq("drip " .. i) end
  mp.expect(mp.now() - t0):lt(1)          -- waiting for each would take 5 s
end)

-- Wait until one of the `during` connections to the fixture is gone (a
-- stream may reuse an idle keep-alive connection, so count while it is
-- open, not before).
local function expect_one_gone(label, during)
  mp.expect(during):ge(1)
  mp.poll_until(function() return fix:connections() == during - 1 end,
    { timeout = 2, interval = 0.02, label = label })
end

mp.test("past queue_limit a stream pauses reading until events are taken; none is lost", function()
  local s <close> = open("/sse/drip", { query = { n = 5000, ms = 0 }, queue_limit = 4096 })
  mp.sleep(0.5)
  local count, bytes, paused = s:pending()
  mp.expect(paused):eq(true)
  mp.expect(count):lt(5000)
  mp.expect(bytes):ge(4096)
  for i = 1, 5000 do
    local ev = s:next(5)
    if not ev or ev.data ~= "drip " .. i then mp.fail("event " .. i .. " is " .. tostring(ev)) end
  end
  mp.expect(select(2, s:next(5))):eq("closed")
  mp.expect(select(3, s:pending())):eq(false)
end)

-- expect_latest(s, total): s.events holds the latest events of a drip of
-- total, and dropped_events counts the ones before them
local function expect_latest(s, total, max_events)
  local kept = #s.events
  mp.expect(kept):le(max_events)
  mp.expect(kept):gt(max_events - math.ceil(max_events / 10))
  mp.expect(s.dropped_events + kept):eq(total)
  mp.expect(s.events[1].data):eq("drip " .. (total - kept + 1))
  mp.expect(s.events[kept].data):eq("drip " .. total)
end

mp.test("a flood keeps s.events to max_events, the latest; next() misses none; dropped_events counts", function()
  local s <close> = open("/sse/drip", { query = { n = 2000, ms = 0 }, max_events = 100 })
  for i = 1, 2000 do
    local ev = s:next(5)
    if not ev or ev.data ~= "drip " .. i then mp.fail("event " .. i .. " is " .. tostring(ev)) end
  end
  expect_latest(s, 2000, 100)
  -- the default: 10,000 events (a flood of a million once took 430 MB)
  local d <close> = open("/sse/drip", { query = { n = 25000, ms = 0 } })
  for _ = 1, 25000 do assert(d:next(5)) end
  mp.expect(select(2, d:next(5))):eq("closed")
  expect_latest(d, 25000, 10000)
end)

mp.test("reading s.events alone keeps the latest too; next() then goes on from the oldest kept", function()
  local s <close> = open("/sse/drip", { query = { n = 3000, ms = 0 }, max_events = 100 })
  mp.poll_until(function() return s.dropped_events + #s.events == 3000 end, { timeout = 10 })
  expect_latest(s, 3000, 100)
  mp.expect(s:next(5).data):eq(s.events[1].data)
end)

mp.test("max_events must be a whole number of at least 1; wait_for under a flood lists ten", function()
  for _, bad in ipairs { 0, -1, 1.5, "many" } do
    local err = mp.expect(function() open("/sse/basic", { max_events = bad }) end)
      :raises("max_events must be a whole number of events, at least 1")
    mp.expect(err.kind):eq("usage")
  end
  local s <close> = open("/sse/drip", { query = { n = 5000, ms = 0 }, max_events = math.huge })
  local err = mp.expect(function() s:wait_for("never", 5) end):raises("5000 other events arrived")
  mp.expect(select(2, err.arrived:gsub("\n", ""))):eq(10)
  mp.expect(err.arrived):matches("\n%.%.%. and 4990 more$")
  mp.expect(#s.events):eq(5000)
  mp.expect(s.dropped_events):eq(0)
end)

mp.test("close, <close> and collection each stop the transfer", function()
  local s = open("/sse/forever")
  s:wait_for("tick 2", 5)
  local during = fix:connections()
  s:close()
  expect_one_gone("close", during)
  mp.expect(select(2, s:next())):eq("closed")
  mp.expect(#s.events):ge(2)
  mp.expect(s:state()):eq("closed")
  local scoped
  do
    local inner <close> = open("/sse/forever")
    scoped, during = inner, fix:connections()
  end
  expect_one_gone("<close>", during)
  mp.expect(scoped:state()):eq("closed")
  open("/sse/forever")
  during = fix:connections()
  collectgarbage()
  collectgarbage()
  expect_one_gone("collected", during)
end)

mp.test("a task waiting in next() can be cancelled; the stream stays usable", function()
  local s <close> = open("/sse/drip", { query = { n = 2, ms = 800 } })
  mp.expect(s:next(5).data):eq("drip 1")
  local t = mp.spawn(function() return s:next() end)
  mp.sleep(0.05)
  t:cancel("stop waiting")
  mp.expect(function() t:wait(1) end):raises("stop waiting")
  mp.expect(s:next(5).data):eq("drip 2")
end)

mp.test("a pod's stream carries the cluster headers; events have lazy json", function()
  local c = fix:cluster { headers = { Origin = "http://localhost:3000" } }
  local s <close> = c:pod("a"):sse("/sse/basic", { bearer = "stream-token" })
  mp.expect(s.pod):eq("a")
  local upd = s:wait_for("update", 5)
  mp.expect(upd.json.n):eq(3)
end)
