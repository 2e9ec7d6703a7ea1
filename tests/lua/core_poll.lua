-- core_poll.lua: poll_until / eventually / consistently, as DESIGN.md
-- specifies them: the first truthy value is returned, errors count as
-- "not yet", the deadline cancels an attempt in flight, and a timeout
-- carries label, elapsed, attempts, last value and last error.

local mp = require "mpod"

mp.test("poll_until returns fn's first truthy result, all of it", function()
  local n = 0
  local a, b = mp.poll_until(function()
    n = n + 1
    if n < 3 then return false end
    return n, "third"
  end, { interval = 0.01 })
  mp.expect(a):eq(3)
  mp.expect(b):eq("third")
end)

mp.test("errors inside the condition count as not yet", function()
  local n = 0
  local v = mp.eventually(function()
    n = n + 1
    if n < 4 then error("pod not ready", 0) end
    return "ready"
  end, { interval = 0.01, timeout = 2 })
  mp.expect(v):eq("ready")
  mp.expect(n):eq(4)
end)

mp.test("a timeout reports label, elapsed, attempts, last value and last error", function()
  local n = 0
  local err = mp.expect(function()
    mp.poll_until(function()
      n = n + 1
      if n % 2 == 0 then error("connection refused", 0) end
      return false
    end, { timeout = 0.3, interval = 0.05, label = "mesh-3:cookie-invalidated" })
  end):raises("poll_until timed out: mesh-3:cookie-invalidated")
  mp.expect(err.kind):eq("timeout")
  mp.expect(err.label):eq("mesh-3:cookie-invalidated")
  mp.expect(err.attempts):eq(n)
  mp.expect(err.attempts):ge(4)
  mp.expect(err.elapsed):ge(0.25)
  mp.expect(err.elapsed):lt(3)
  mp.expect(err.last):eq("false")
  mp.expect(err.last_error):eq("connection refused")
end)

mp.test("without a label the message names the function's line", function()
  local never = function() return nil end
  local line = debug.getinfo(never, "S").linedefined
  mp.expect(function()
    mp.poll_until(never, { timeout = 0.05 })
  end):raises("function at tests/lua/core_poll.lua:" .. line)
end)

mp.test("the deadline cancels an attempt still in flight", function()
  local t0 = mp.now()
  local released = false
  local err = mp.expect(function()
    mp.poll_until(function()
      local guard <close> = setmetatable({}, { __close = function() released = true end })
      mp.sleep(30)
    end, { timeout = 0.2 })
  end):raises("poll_until timed out")
  mp.expect(mp.now() - t0):lt(5)          -- the attempt alone sleeps 30 s
  mp.expect(released):truthy()
  mp.expect(err.last_error):contains("still running at the deadline")
  mp.expect(err.attempts):eq(1)
end)

mp.test("consistently passes when the condition holds for the window", function()
  local n = 0
  local t0 = mp.now()
  local v = mp.consistently(function() n = n + 1; return "fine" end,
    { duration = 0.3, interval = 0.05 })
  mp.expect(v):eq("fine")
  mp.expect(mp.now() - t0):ge(0.3)
  mp.expect(n):ge(5)
end)

mp.test("consistently fails as soon as the condition is falsy", function()
  local n = 0
  local t0 = mp.now()
  local err = mp.expect(function()
    mp.consistently(function() n = n + 1; return n < 3 end,
      { duration = 5, interval = 0.01, label = "only one owner" })
  end):raises("consistently failed: only one owner returned false (attempt 3")
  mp.expect(mp.now() - t0):lt(3)          -- the window is 5 s
  mp.expect(err.kind):eq("consistently")
end)

mp.test("consistently fails when the condition raises", function()
  mp.expect(function()
    mp.consistently(function() error("duplicate chunk-3", 0) end, { duration = 1 })
  end):raises("raised: duplicate chunk-3")
end)

mp.test("a failed matcher inside a poll or consistently shows its values", function()
  local err = mp.expect(function()
    mp.consistently(function()
      mp.expect("http=503 status=down"):eq("http=200 status=ok")
      return true
    end, { duration = 1, label = "ready" })
  end):raises('consistently failed: ready raised: expected values to be equal '
    .. '(got "http=503 status=down", expected "http=200 status=ok") (attempt 1')
  mp.expect(err.kind):eq("consistently")
  err = mp.expect(function()
    mp.poll_until(function() mp.expect(3):lt(2) end, { timeout = 0.1, interval = 0.05 })
  end):raises("poll_until timed out")
  mp.expect(err.last_error):eq("expected 3 < 2 (got 3, expected < 2)")
end)
