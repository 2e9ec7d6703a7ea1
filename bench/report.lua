-- report.lua: the figures of `make bench` for the reporter (run by
-- bench/report.sh): the time the runner spends turning results into TAP
-- and JUnit. 100 files of 100 tests each (BENCH_TESTS in all, default
-- 10000), every other test failing with diagnostics of about 2 KiB (a
-- multi-line body, a nested table, a stack; BENCH_FAILING=0: none
-- failing), a note per file, all
-- written as TAP to stdout and JUnit to a file. Best of BENCH_ROUNDS
-- (default 3); figures are noted as "bench| <text>" lines.

local mp = require "mpod"
local report = require "mpod.runner.report"
local sched = require "mpod.sched"
local sys = require "mpod.sys"

local TESTS = tonumber(os.getenv("BENCH_TESTS") or "10000")
local ROUNDS = tonumber(os.getenv("BENCH_ROUNDS") or "3")
local PER_FILE = 100
local FAILING = os.getenv("BENCH_FAILING") ~= "0"   -- 0: every test passes

local body = string.rep('{"id": 17, "name": "mesh-1", "state": "paused"}\n', 30)
local stack = string.rep("scenarios/checkout.lua:42: in function <scenarios/checkout.lua:30>\n", 6)

local function diag(i)
  return {
    message = "expected status 200, got 503 (attempt " .. i .. ")",
    at = "scenarios/checkout.lua:42",
    got = body, expected = 200,
    pod = { name = "mesh-" .. i % 3, state = "paused", ports = { 13001, 13002 } },
    stack = stack,
  }
end

-- one run of the reporter: every call it gets in a real run, timed
local function one_round(junit)
  local t0, c0 = sched.now(), os.clock()
  local r = report.new { junit = junit, total = TESTS // PER_FILE }
  for f = 1, TESTS // PER_FILE do
    local index = r:file_begin(string.format("scenarios/file_%03d.lua", f))
    for t = 1, PER_FILE do
      local i = (f - 1) * PER_FILE + t
      if i % 2 == 0 or not FAILING then
        r:test(index, { name = "request " .. i .. " is answered", ok = true, elapsed = 0.01 })
      else
        r:test(index, { name = "request " .. i .. " is answered", ok = false, elapsed = 0.02,
                        diag = diag(i) })
      end
    end
    r:note(index, "healed: mesh-1 restarted")
    r:file_end(index, {})
  end
  r:finish()
  return sched.now() - t0, os.clock() - c0
end

mp.test("reporter: TAP and JUnit of many tests with large diagnostics", function()
  local dir = sys.mkdtemp("mpod-bench-report")
  local best_wall, best_cpu = math.huge, math.huge
  for _ = 1, ROUNDS do
    local wall, cpu = one_round(dir .. "/junit.xml")
    best_wall, best_cpu = math.min(best_wall, wall), math.min(best_cpu, cpu)
  end
  local size = sys.stat(dir .. "/junit.xml").size
  sys.rmtree(dir)
  mp.note(string.format("bench| report: %d tests%s, TAP + JUnit (%.1f MiB): %.0f ms wall, "
    .. "%.0f ms CPU, %.1f us a test (best of %d)", TESTS,
    FAILING and " (half failing)" or " (all passing)", size / 1048576, best_wall * 1000,
    best_cpu * 1000, best_wall * 1e6 / TESTS, ROUNDS))
end)
