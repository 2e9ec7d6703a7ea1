-- Diagnostics the golden test pins (tests/golden/diagnostics.tap): a
-- stack of scenario frames, multi-line messages as YAML block scalars,
-- error fields, notes inside and between tests, nested describe blocks,
-- timeouts of poll_until and task:wait, and secrets that
-- never reach a report.
local mp = require "mpod"

local function check_total(order)
  if order.total ~= 3 then
    error("total was " .. order.total, 2)
  end
end

local function load_order()
  check_total({ total = 2 })
end

mp.describe("orders", function()
  mp.describe("totals", function()
    mp.test("a stack of scenario frames", function()
      mp.note("checking the total")
      load_order()
    end)
  end)
  mp.test("a multi-line message", function()
    mp.fail("first line\nsecond line\n  indented third line")
  end)
end)

mp.test("an error with fields of its own", function()
  local e = setmetatable({ kind = "conflict", message = "version mismatch",
    pod = "mesh-2", expected_version = 3, got_version = 2, retried = false,
    details = { table = "orders", id = 17 } },
    getmetatable(require("mpod.error").new("x", "x")))
  error(e, 0)
end)

mp.test("poll_until gives up with label, attempts and last value", function()
  mp.poll_until(function() return false end,
    { timeout = 0.05, interval = 1, label = "queue drained" })
end)

mp.test("poll_until keeps the last error", function()
  mp.poll_until(function() error("connection refused", 0) end,
    { timeout = 0.05, interval = 1 })
end)

mp.test("task:wait with a timeout", function()
  local t = mp.spawn(function() mp.sleep(10) end)
  t:name("slow watcher")
  t:wait(0.05)
end)

mp.test("secrets are redacted", function()
  mp.note("Authorization: Bearer s3cr3t-t0ken")
  error("connect postgresql://app:hunter2@db:5432/app failed; Cookie: sid=abcdef123", 0)
end)

mp.test("a note with\na newline in its name", function()
  mp.note("line one\nline two")
end)
