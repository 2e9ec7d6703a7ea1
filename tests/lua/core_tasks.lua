-- core_tasks.lua: the scheduler as scenarios see it: sleep and now, spawn,
-- task:wait and its timeout, errors crossing task:wait, cancellation that
-- releases what a task waits on, wait_all, and cooperative yields.

local mp = require "mpod"
local errors = require "mpod.error"

local function elapsed_of(fn)
  local t0 = mp.now()
  fn()
  return mp.now() - t0
end

mp.test("mp.now is monotonic seconds and mp.sleep waits that long", function()
  local d = elapsed_of(function() mp.sleep(0.2) end)
  mp.expect(d):ge(0.2)
  mp.expect(d):lt(2)      -- far from what a unit mix-up would give (200 s)
end)

mp.test("spawned tasks run concurrently", function()
  -- their sleeps overlap: the last one to start did so before the first
  -- one ended (one after another, each would start after the previous end)
  local latest_start, earliest_end = 0, math.huge
  local tasks = {}
  for i = 1, 10 do
    tasks[i] = mp.spawn(function()
      latest_start = math.max(latest_start, mp.now())
      mp.sleep(0.2)
      earliest_end = math.min(earliest_end, mp.now())
      return i
    end)
  end
  local results = mp.wait_all(tasks, 5)
  mp.expect(results):eq { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 }
  mp.expect(latest_start):lt(earliest_end)
end)

mp.test("task:wait returns every result and passes arguments", function()
  local t = mp.spawn(function(a, b) return a + b, "sum", nil end, 2, 3)
  local x, y = t:wait()
  mp.expect(x):eq(5)
  mp.expect(y):eq("sum")
end)

mp.test("task:wait re-raises the task's error value", function()
  local t = mp.spawn(function() error(errors.new("boom", "exploded", { pod = "mesh-1" })) end)
  local ok, err = pcall(t.wait, t)
  mp.expect(ok):falsy()
  mp.expect(err.kind):eq("boom")
  mp.expect(err.pod):eq("mesh-1")
  mp.expect(err.at):matches("core_tasks%.lua:%d+$")
end)

mp.test("task:wait with a timeout raises a timeout error", function()
  local t = mp.spawn(function() mp.sleep(10) end)
  local err = mp.expect(function() t:wait(0.1) end):raises("did not finish within 0.1 s")
  mp.expect(err.kind):eq("timeout")
  t:cancel()
end)

mp.test("cancel stops a sleeping task at once and closes its <close> values", function()
  local closed = false
  local t = mp.spawn(function()
    local guard <close> = setmetatable({}, { __close = function() closed = true end })
    mp.sleep(60)
  end)
  mp.sleep(0.05)
  mp.expect(t:status()):eq("waiting")
  t:cancel("enough")
  local err = mp.expect(function() t:wait(1) end):raises("task cancelled: enough")
  mp.expect(err.kind):eq("cancelled")
  mp.expect(t:status()):eq("cancelled")
  mp.expect(closed):truthy()
end)

mp.test("a cancelled task cannot wait again, even after catching the cancel", function()
  local after = "not reached"
  local t = mp.spawn(function()
    pcall(mp.sleep, 60)
    local ok, err = pcall(mp.sleep, 0.01)
    after = ok and "slept" or err.kind
  end)
  mp.sleep(0.02)
  t:cancel()
  pcall(t.wait, t, 1)
  mp.expect(after):eq("cancelled")
end)

mp.test("cancelling the waiter also cancels the task it waits for", function()
  local inner
  local outer = mp.spawn(function()
    inner = mp.spawn(function() mp.sleep(60) end)
    inner:wait()
  end)
  mp.sleep(0.05)
  outer:cancel()
  pcall(outer.wait, outer, 1)
  mp.expect(inner:status()):eq("cancelled")
end)

mp.test("cancelling a task that never started", function()
  local ran = false
  local t = mp.spawn(function() ran = true end)
  t:cancel()
  mp.sleep(0.01)
  mp.expect(ran):falsy()
  mp.expect(t:status()):eq("cancelled")
end)

mp.test("wait_all raises the first failure after all finished", function()
  local slow_done = false
  local tasks = {
    mp.spawn(function() mp.sleep(0.05); error("first failure", 0) end),
    mp.spawn(function() mp.sleep(0.1); slow_done = true; return 2 end),
  }
  mp.expect(function() mp.wait_all(tasks) end):raises("first failure")
  mp.expect(slow_done):truthy()
end)

mp.test("wait_all with a timeout names the tasks still running", function()
  local a = mp.spawn(function() mp.sleep(10) end)
  a:name("slow watcher")
  local b = mp.spawn(function() return 1 end)
  local err = mp.expect(function() mp.wait_all({ a, b }, 0.1) end):raises("still running: slow watcher")
  mp.expect(err.kind):eq("timeout")
  a:cancel()
end)

mp.test("coroutine.yield inside a task lets the others run", function()
  local order = {}
  local t = mp.spawn(function()
    for i = 1, 3 do order[#order + 1] = "spawned " .. i; coroutine.yield() end
  end)
  for i = 1, 3 do order[#order + 1] = "main " .. i; coroutine.yield() end
  t:wait()
  mp.expect(#order):eq(6)
  mp.expect(order[1]):eq("main 1")
  mp.expect(order[2]):eq("spawned 1")
end)

mp.test("a test body that yields runs on after the yield", function()
  local after = false
  local body = mp.spawn(function() coroutine.yield(); after = true; return "end" end)
  mp.expect(body:wait()):eq("end")
  mp.expect(after):eq(true)
end)

mp.test("coroutine.yield with values in a task raises: nothing would receive them", function()
  local line = debug.getinfo(1, "l").currentline + 1
  local err = mp.expect(function() coroutine.yield("lost") end):raises("nothing receives them")
  mp.expect(err.kind):eq("usage")
  -- raised in C, it names the scenario line as the Lua half's usage errors do
  mp.expect(err.at):eq(debug.getinfo(1, "S").short_src .. ":" .. line)
  local t = mp.spawn(function() coroutine.yield(1, 2); return "not reached" end)
  mp.expect(function() t:wait() end):raises("coroutine.yield with values in a test, a hook or a task")
  -- in a coroutine of one's own it is Lua's yield
  local gen = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
  mp.expect({ gen(), gen(), gen() }):eq { 1, 2, 3 }
end)

mp.test("waiting inside a plain coroutine is refused with a clear error", function()
  local co = coroutine.wrap(function() mp.sleep(0.01) end)
  mp.expect(co):raises("cannot wait inside a coroutine of your own")
end)

mp.test("a task cannot wait for itself", function()
  local t
  t = mp.spawn(function() mp.sleep(0.01); return t:wait() end)
  mp.expect(function() t:wait(1) end):raises("a task cannot wait for itself")
end)

-- Busy loops are stopped by a hook that a CPU-time signal sets only once
-- the deadline has passed (tests/lua/runner_failures.lua checks that they
-- are stopped): before it, Lua runs with no hook, which a hook called on
-- every instruction would make about a fifth slower.
mp.test("Lua code runs without a hook before its deadline, in tasks too", function()
  local sum = 0
  for i = 1, 5e6 do sum = sum + i % 3 end    -- a few 50 ms CPU-time ticks' worth
  mp.expect(sum):gt(0)
  mp.expect(debug.gethook()):eq(nil)
  local hooked = mp.spawn(function()
    for i = 1, 1e6 do sum = sum + i % 3 end
    return debug.gethook()
  end):wait(10)
  mp.expect(hooked):eq(nil)
end, { timeout = 30 })
