-- timeline.lua: the pure parts of the report, on operations made up here:
-- the rows of a failed test's `timeline:` (which operations, in which
-- window, how many, how each reads, how long a row may be), the log lines'
-- times, and a file's slug.

local mp = require "mpod"
local timeline = require "mpod.scenario.timeline"
local report_data = require "mpod.scenario.report_data"
local files = require "mpod.report_files"

-- A history of made-up operations: invoke/complete pairs and points, in
-- index order, as mpod.scenario.history records them.
local function history()
  local ops = {}
  local function push(op) op.index = #ops; ops[#ops + 1] = op; return op end
  return ops, {
    call = function(t0, t1, f, fields, done)
      local inv = push { time = t0, type = "invoke", f = f, process = 0 }
      for k, v in pairs(fields or {}) do inv[k] = v end
      if done then
        local c = push { time = t1, type = done.type or "ok", f = f, invoke = inv.index, process = 0 }
        for k, v in pairs(done) do if k ~= "type" then c[k] = v end end
      end
      return inv
    end,
    point = function(t, f, fields)
      local op = push { time = t, type = "ok", f = f, point = true, process = 0 }
      for k, v in pairs(fields or {}) do op[k] = v end
    end,
  }
end

mp.test("rows: the touched pods' operations, faults and the test's own, before the failure", function()
  local ops, h = history()
  h.call(1.0, 1.1, "http", { method = "GET", path = "/old", pod = "a" }, { status = 200 })   -- too early
  h.call(7.0, 7.02, "http", { method = "GET", path = "/items", pod = "a" }, { status = 200 })
  h.call(7.5, 7.6, "http", { method = "GET", path = "/other", pod = "c" }, { status = 200 }) -- untouched
  h.call(8.0, 8.1, "pod.kill", { pod = "b" }, { type = "ok" })
  h.call(8.2, 8.3, "fault.add", { value = { kind = "latency", pods = { "z" } } }, { type = "ok" })
  h.call(8.5, 8.51, "http", { method = "POST", path = "/jobs", pod = "b" },
    { type = "fail", error = { kind = "connect", message = "refused" } })
  h.call(8.6, 9.4, "http", { method = "GET", path = "/slow", pod = "a" },
    { type = "info", error = { kind = "timeout" } })
  h.point(8.7, "sse.event", { pod = "a", event_id = 12, event = "update" })
  h.call(8.8, nil, "write", { value = 3, test = "t" })                       -- open
  h.call(8.9, 8.95, "read", { test = "t" }, { type = "ok", value = 1 })
  h.call(8.9, 8.95, "read", { test = "other" }, { type = "ok", value = 1 })  -- another test's
  h.call(9.0, 12, "http", { method = "GET", path = "/late", pod = "a" }, { status = 500 })   -- completes after
  h.call(9.5, 9.6, "http", { method = "GET", path = "/after", pod = "a" }, { status = 200 }) -- after the failure
  local rows = timeline.rows(ops, 9.2, { a = true, b = true }, "t")
  mp.expect(rows):eq {
    "-2.200 s  a  http GET /items           200",
    "-1.200 s  b  pod.kill                  ok",
    "-1.000 s  z  fault.add                 ok",
    "-0.700 s  b  http POST /jobs           connect (fail)",
    "-0.600 s  a  http GET /slow            pending",
    "-0.500 s  a  sse.event 12 update       seen",
    "-0.400 s  -  write 3                   pending",
    "-0.300 s  -  read                      ok 1",
    "-0.200 s  a  http GET /late            pending",
  }
  -- at the failure's time the slow request had its answer
  rows = timeline.rows(ops, 9.45, { a = true }, "t")
  mp.expect(rows[3]):eq("-0.850 s  a  http GET /slow            timeout (info)")
  mp.expect(#rows):eq(7)                   -- b's operations are left out now
end)

mp.test("rows: at most ROWS, the last ones, each cut to ROW_MAX bytes; a line counts the rest", function()
  local ops, h = history()
  for i = 1, 30 do
    h.call(i * 0.1, i * 0.1 + 0.01, "http", { method = "GET", path = "/" .. i .. string.rep("x", 300), pod = "a" },
      { status = 200 })
  end
  local rows = timeline.rows(ops, 3.5, { a = true }, "t")
  mp.expect(#rows):eq(timeline.ROWS + 1)
  mp.expect(rows[1]):eq("(18 more operations in the 5 s before, left out)")
  mp.expect(rows[2]):matches("^%-1%.600 s  a  http GET /19x")
  mp.expect(rows[#rows]):matches("^%-0%.500 s  a  http GET /30x")
  for _, row in ipairs(rows) do
    mp.expect(#row <= timeline.ROW_MAX):truthy()
  end
  mp.expect(timeline.rows(ops, 100, { a = true }, "t")):eq {}    -- nothing in the window
end)

mp.test("rows: the last actions stay, however many requests came after them", function()
  local ops, h = history()
  h.call(1.0, 1.1, "pod.pause", { pod = "b" }, { type = "ok" })
  h.call(1.5, 1.6, "pod.kill", { pod = "a" }, { type = "ok" })
  for i = 1, 40 do
    h.call(1.6 + i * 0.05, 1.61 + i * 0.05, "http", { method = "GET", path = "/" .. i, pod = "a" }, { status = 200 })
  end
  local rows = timeline.rows(ops, 4, { a = true, b = true }, "t")
  mp.expect(#rows):eq(timeline.ROWS + 1)
  mp.expect(rows[1]):eq("(30 more operations in the 5 s before, left out)")
  mp.expect(rows[2]):eq("-3.000 s  b  pod.pause                 ok")
  mp.expect(rows[3]):eq("-2.500 s  a  pod.kill                  ok")
  mp.expect(rows[4]):matches("^%-0%.850 s  a  http GET /31 ")
end)

mp.test("log stamps become seconds since the file started", function()
  mp.expect(report_data.iso_seconds("1970-01-01T00:00:00Z")):eq(0)
  mp.expect(report_data.iso_seconds("2026-01-31T12:00:01.250Z")):eq(1769860801.25)
  mp.expect(report_data.iso_seconds("2024-02-29T23:59:59.123456789Z")):eq(1709251199.123456789)
  mp.expect(report_data.iso_seconds("yesterday")):is_nil()
  local rows = {}
  report_data.parse_logs("2026-01-31T12:00:01.250Z started\n2026-01-31T12:00:02Z " ..
    string.rep("y", 400) .. "\nnot a stamped line\n", "a", rows, 1769860800)
  mp.expect(#rows):eq(2)
  mp.expect(rows[1]):eq { 1.25, "a", "started" }
  mp.expect(rows[2][1]):eq(2)
  mp.expect(#rows[2][3]):eq(report_data.LOG_LINE_MAX + 3)
end)

mp.test("a file's slug", function()
  mp.expect(files.slug("scenarios/chaos-meshd.lua")):eq("scenarios__chaos-meshd")
  mp.expect(files.slug("./a/b c.lua")):eq("a__b_c")
  mp.expect(files.slug("/tmp/x.y.lua")):eq("__tmp__x.y")
  mp.expect(files.html('<a href="x">&</a>')):eq("&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;")
end)
