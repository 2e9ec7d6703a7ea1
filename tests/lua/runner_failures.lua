-- runner_failures.lua: every way a scenario file can go wrong becomes
-- "not ok" with a clear diagnostic, and the rest of the run still reports.
-- Runs mpod-lua on the case files in tests/cases/ and checks its output.

local mp = require "mpod"
local st = require "selftest"

local function run(files, extra)
  local args = { "--seed", "1" }
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  for _, f in ipairs(files) do args[#args + 1] = st.case(f) end
  return st.run(args)
end

mp.test("a syntax error fails its file and the next file still runs", function()
  local r = run { "syntax_error", "passing" }
  mp.expect(r.code):eq(1)
  st.expect_line(r.stdout, "not ok 1 - tests/cases/syntax_error.lua")
  st.expect_line(r.stdout, [[  message: "syntax error: ')' expected (to close '(' at line 3) near <eof>"]])
  st.expect_line(r.stdout, [[  at: "tests/cases/syntax_error.lua:5"]])
  st.expect_line(r.stdout, "ok 2 - tests/cases/passing.lua")
  mp.expect(r.stderr):contains("mpod-lua: 2 passed, 1 failed, 0 skipped")
end)

mp.test("an error while loading names the line", function()
  local r = run { "load_error" }
  st.expect_line(r.stdout, [[  message: "error while loading: attempt to index a nil value (local 'cfg')"]])
  st.expect_line(r.stdout, [[  at: "tests/cases/load_error.lua:5"]])
end)

mp.test("errors that are not strings get a readable message", function()
  local r = run { "error_values" }
  st.expect_line(r.stdout, [[      message: "error raised with a table value: {code = 5}"]])
  st.expect_line(r.stdout, [[      message: "error raised with a nil value"]])
  st.expect_line(r.stdout, [[      message: "error raised with a number value: 42"]])
  st.expect_line(r.stdout, [[      message: "error raised with a table value: custom failure"]])
  st.expect_line(r.stdout, [[      at: "tests/cases/error_values.lua:3"]])
  st.expect_line(r.stdout, "    ok 6 - still runs")
end)

mp.test("os.exit is reported where it was called", function()
  local r = run { "os_exit", "passing" }
  st.expect_line(r.stdout, "    ok 1 - before")
  st.expect_line(r.stdout, "    not ok 2 - exits")
  st.expect_line(r.stdout, [[      message: "os.exit(3) was called; the tests after it did not run (during this test)"]])
  st.expect_line(r.stdout, [[      at: "tests/cases/os_exit.lua:5"]])
  mp.expect(r.stdout):ne(nil)
  mp.expect(st.has_line(r.stdout, "    ok 3 - after")):falsy()
  st.expect_line(r.stdout, "ok 2 - tests/cases/passing.lua")
end)

mp.test("a crash by signal names the signal and the test", function()
  local r = run { "signal_crash", "passing" }
  st.expect_line(r.stdout, "    not ok 1 - crashes")
  st.expect_line(r.stdout, [[      message: "the scenario process was killed by SIGSEGV (11) (during this test)"]])
  st.expect_line(r.stdout, "ok 2 - tests/cases/passing.lua")
end)

mp.test("a busy loop is stopped by the test timeout, even inside pcall", function()
  local r = run { "busy_loop" }
  st.expect_line(r.stdout, "    not ok 1 - spins")
  st.expect_line(r.stdout, [[      message: "test timed out after 0.5 s: time limit reached while running Lua code without waiting (a busy loop?)"]])
  st.expect_line(r.stdout, [[      at: "tests/cases/busy_loop.lua:5"]])
  st.expect_line(r.stdout, "    not ok 2 - spins inside pcall")
  st.expect_line(r.stdout, "    ok 3 - next test runs")
end)

mp.test("a waiting test past its timeout fails and after_each still runs", function()
  local r = run { "test_timeout" }
  st.expect_line(r.stdout, [[      message: "test timed out after 0.3 s"]])
  st.expect_line(r.stdout, "    ok 2 - next")
  local _, notes = r.stdout:gsub("# after_each ran", "")
  mp.expect(notes):eq(2)
end)

mp.test("a file past -t is killed with its process group", function()
  local t0 = mp.now()
  local r = run({ "sleep_forever", "passing" }, { "-t", "1" })
  -- unkilled, the file would sleep until st.run's own timeout, 6 times this
  mp.expect(mp.now() - t0):lt(st.slow(10))
  st.expect_line(r.stdout, "    not ok 1 - waits")
  st.expect_line(r.stdout, [[      message: "the file ran past its 1 s timeout and was killed (during this test)"]])
  st.expect_line(r.stdout, "ok 2 - tests/cases/passing.lua")
end)

mp.test("a missing file is a failure, not a crash of the run", function()
  local r = st.run { "tests/cases/does_not_exist.lua", st.case("passing") }
  mp.expect(r.code):eq(1)
  st.expect_line(r.stdout, "not ok 1 - tests/cases/does_not_exist.lua")
  mp.expect(r.stdout):contains("cannot open the scenario file")
  st.expect_line(r.stdout, "ok 2 - tests/cases/passing.lua")
end)

mp.test("hook failures: before_all, after_each, after_all", function()
  local r = run { "hook_failures" }
  st.expect_line(r.stdout, "    not ok 1 - broken setup > a")
  st.expect_line(r.stdout, "    not ok 2 - broken setup > b")
  st.expect_line(r.stdout, [[      message: "before_all hook failed: database unreachable"]])
  st.expect_line(r.stdout, "    not ok 3 - broken teardown > c")
  st.expect_line(r.stdout, [[      message: "after_each hook: cleanup failed"]])
  st.expect_line(r.stdout, "    ok 4 - broken after_all > d")
  st.expect_line(r.stdout, "    not ok 5 - broken after_all > after_all hook")
end)

mp.test("a spawned task that fails unobserved fails its test", function()
  local r = run { "spawn_unobserved" }
  st.expect_line(r.stdout, "    not ok 1 - unobserved failure")
  mp.expect(r.stdout):contains("nobody waited for it: watcher saw a duplicate")
  st.expect_line(r.stdout, [[      at: "tests/cases/spawn_unobserved.lua:6"]])
  st.expect_line(r.stdout, "    ok 3 - leftover was cancelled")
end)

-- start(case) -> the runner running one case file, read as it goes:
-- r.proc, r.err (its stderr), r.wait_for(text, label) reads until the text
-- has come, r.rest() reads to the end and returns all it printed (r.seen)
local function start(case, args)
  local proc = require "mpod.proc"
  local argv = { st.MPOD }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  argv[#argv + 1] = st.case(case)
  local p, _, out, err = proc.spawn { argv = argv, stdout = "pipe", stderr = "pipe" }
  local r = { proc = p, err = err, seen = "" }
  function r.wait_for(text, label)
    mp.poll_until(function()
      local chunk = out:read(0.2)
      if chunk then r.seen = r.seen .. chunk end
      return r.seen:find(text, 1, true)
    end, { timeout = st.slow(10), label = label })
  end
  function r.rest()
    for chunk in function() return out:read(st.slow(10)) end do r.seen = r.seen .. chunk end
    return r.seen
  end
  return r
end

mp.test("SIGINT stops a run without a cluster: Bail out!, closing line, JUnit error, 130", function()
  local dir = require("mpod.sys").mkdtemp("mpod-sigint-junit")
  local r = start("sleep_forever", { "--junit", dir .. "/junit.xml" })
  r.wait_for("# Subtest: tests/cases/sleep_forever.lua", "the file started")
  mp.sleep(0.2)
  r.proc:kill("INT")
  local status = r.proc:wait(10)
  mp.expect(status.code):eq(130)
  st.expect_line(r.rest(), "Bail out! interrupted by SIGINT")
  local e = r.err:read(1) or ""
  mp.expect(e):contains("mpod-lua: 0 passed, 0 failed, 0 skipped")
  -- the JUnit file read alone shows the run failed, and why
  local f = assert(io.open(dir .. "/junit.xml"))
  local xml = f:read("a")
  f:close()
  require("mpod.sys").rmtree(dir)
  mp.expect(xml):matches('<testsuites name="mpod%-lua" tests="%d+" failures="%d+" errors="[1-9]')
  mp.expect(xml):matches('<testcase name="Bail out!" classname="mpod%-lua" time="[%d.]+">\n'
    .. '      <error message="interrupted by SIGINT">')
end)

mp.test("a runner that reads slowly still gets the end of a file (the child's last flush waits)", function()
  local r = start("slow_reader")
  r.wait_for("# 0001 ", "the first note")
  -- the child still has megabytes to send, then "done": the runner stops
  -- reading for longer than the 2 s the child's last flush once allowed
  r.proc:kill("STOP")
  mp.sleep(st.slow(3))
  r.proc:kill("CONT")
  local seen = r.rest()
  local status = r.proc:wait(st.slow(10))
  st.expect_line(seen, "    ok 2 - after the notes")
  st.expect_line(seen, "ok 1 - tests/cases/slow_reader.lua")
  mp.expect(status.code):eq(0)
end)
