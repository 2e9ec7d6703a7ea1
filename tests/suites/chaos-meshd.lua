-- chaos-meshd.lua: the chaos scenario (scenarios/chaos-meshd.lua) passes on
-- meshd as it is and finds every planted bug (compose/meshd/bug.h) by
-- itself. On the process reference cluster (compose/local.lua, Toxiproxy
-- included: the scenario slows Postgres) brought up with plain meshd it
-- passes; brought up with each variant (MESHD_BIN=$BUILD/meshd-bug-<name>)
-- it is run with seeds one after the other until it fails, the failure
-- must be the check of that bug (a test "<checker>: ..." failing with an
-- error of kind "check"), and the same seed run again must fail the same
-- check. Run by tests/suites/chaos-meshd.sh (it needs more than a file's
-- default 300 s). In `make test` the seeds tried first are ones known to find each
-- bug (BUGS[i].seeds below, then the rest of 1..10); `make chaos` sets
-- CHAOS_SEARCH=1: seeds from 1 up, in order, the search the issue asks
-- for. The notes say which seeds were tried and how long each run took.
-- The planted bugs are searched in the plain half of make test only: the
-- ASan half (MPOD_TEST_TIME_SCALE > 1) changes every timing the search
-- relies on; plain meshd must pass there too.

local mp = require "mpod"
local st = require "selftest"
local sys = require "mpod.sys"

mp.exclusive()

local BUILD = os.getenv("BUILD") or "build"
local SCENARIO = "scenarios/chaos-meshd.lua"
local SEARCH = os.getenv("CHAOS_SEARCH") == "1"
local RUN_TIMEOUT = 150            -- one run of the scenario: about 30 s

-- Each variant, the scenario's test that must fail on it, and the seeds
-- make test tries first (they found the bug when this was written)
local BUGS = {
  { name = "ack_before_commit", check = "set", seeds = { 1 },
    test = "set: every thread a pod acknowledged is in Postgres" },
  { name = "takeover_without_cas", check = "fencing", seeds = { 1 },
    test = "fencing: after a takeover only the new owner writes chunks" },
  { name = "resume_skips_chunk", check = "exactly_once", seeds = { 1 },
    test = "exactly_once: each watcher saw its run's chunks once each, in order" },
  { name = "stale_session_cache", check = "read_your_writes", seeds = { 1 },
    test = "read_your_writes: a signed-out session is refused by every pod" },
}
local CHECK_TESTS = {}
for _, bug in ipairs(BUGS) do CHECK_TESTS[#CHECK_TESTS + 1] = bug.test end

local state_dir

mp.before_all(function()
  state_dir = assert(sys.mkdtemp("mpod-state"))
  if not sys.stat(BUILD .. "/toxiproxy/toxiproxy-server") then
    local r = mp.exec({ "make", "--no-print-directory", "BUILD=" .. BUILD, "toxiproxy" }, { timeout = 900 })
    if r.code ~= 0 then error("make toxiproxy failed: " .. r.stderr) end
  end
end)

mp.after_all(function()
  sys.rmtree(state_dir)
end)

local function env(meshd)
  return { MESHD_BIN = meshd, MPOD_STATE_DIR = state_dir }
end

-- with_cluster(meshd, fn): fn() with the reference cluster up, its pods
-- running that meshd binary; the cluster is taken down after, also when
-- fn fails
local function with_cluster(meshd, fn)
  local up = st.run({ "up", "-C", "compose/local.lua" }, { timeout = 120, env = env(meshd) })
  local ok, err = true, nil
  if up.code ~= 0 then
    ok, err = false, "the cluster did not come up with " .. meshd .. ":\n" .. up.stdout .. up.stderr
  else
    ok, err = pcall(fn)
  end
  st.run({ "down", "-C", "compose/local.lua" }, { timeout = 120, env = env(meshd) })
  if not ok then error(err, 0) end
end

-- run_seed(meshd, seed) -> mpod-lua's result on the scenario, and the
-- names of its tests that failed
local function run_seed(meshd, seed)
  local t0 = mp.now()
  local r = st.run({ "-C", "compose/local.lua", "--seed", tostring(seed), SCENARIO },
    { timeout = RUN_TIMEOUT, env = env(meshd) })
  r.took = mp.now() - t0
  local failed = {}
  for _, line in ipairs(st.lines(r.stdout)) do
    local name = line:match("^    not ok %d+ %- (.*)$")
    if name then failed[#failed + 1] = name end
  end
  return r, failed
end

-- yaml_of(stdout, test) -> the YAML block under the subtest line of test
local function yaml_of(stdout, test)
  local lines, out, inside = st.lines(stdout), {}, false
  for _, line in ipairs(lines) do
    if inside then
      if line:match("^      %.%.%.$") then break end
      out[#out + 1] = line
    elseif line:match("^    not ok %d+ %- (.*)$") == test then
      inside = true
    end
  end
  return table.concat(out, "\n")
end

-- found(bug, r, failed) -> true when the run failed the check of the bug
-- with an error of kind check; raises when it failed otherwise
local function found(bug, r, failed)
  local mine = false
  for _, name in ipairs(failed) do
    if name == bug.test then mine = true end
  end
  if not mine then
    if r.code ~= 0 and r.code ~= 1 then st.expect_code(r, 1) end
    return false
  end
  local yaml = yaml_of(r.stdout, bug.test)
  if not yaml:find('kind: "check"', 1, true) then
    mp.fail(bug.test .. " failed, but not with an error of kind check:\n" .. yaml)
  end
  return true
end

local function seeds_for(bug)
  local order, seen = {}, {}
  if not SEARCH then
    for _, s in ipairs(bug.seeds) do order[#order + 1] = s; seen[s] = true end
  end
  for s = 1, 10 do
    if not seen[s] then order[#order + 1] = s end
  end
  return order
end

mp.test("plain meshd passes every check of the chaos scenario", function()
  with_cluster(BUILD .. "/meshd", function()
    for _, seed in ipairs(SEARCH and { 1, 2 } or { 1 }) do
      local r, failed = run_seed(BUILD .. "/meshd", seed)
      mp.note(string.format("plain meshd, seed %d: %s in %.0f s", seed,
        #failed == 0 and "passed" or table.concat(failed, "; "), r.took))
      st.expect_code(r, 0)
      for i, name in ipairs(CHECK_TESTS) do st.expect_line(r.stdout, "    ok " .. i + 1 .. " - " .. name) end
    end
  end)
end, { timeout = st.slow(2 * RUN_TIMEOUT + 120) })

local SLOW_BUILD = st.TIME_SCALE > 1 and
  "a sanitizer build changes the timings the search relies on; the plain half of make test runs it" or nil

for _, bug in ipairs(BUGS) do
  mp.test("meshd-bug-" .. bug.name .. ": the chaos scenario finds it (" .. bug.check ..
      ") within 10 seeds, and its seed replays it", function()
    local meshd = BUILD .. "/meshd-bug-" .. bug.name
    with_cluster(meshd, function()
      local finders, tried = {}, {}
      for _, seed in ipairs(seeds_for(bug)) do
        local r, failed = run_seed(meshd, seed)
        local hit = found(bug, r, failed)
        tried[#tried + 1] = string.format("seed %d: %s (%.0f s)", seed,
          #failed == 0 and "passed" or table.concat(failed, "; "), r.took)
        if hit then
          finders[#finders + 1] = seed
          break
        end
      end
      mp.note(bug.name .. ": " .. table.concat(tried, ", "))
      if #finders == 0 then
        mp.fail("no seed of 1..10 made the chaos scenario find " .. bug.name .. ": " .. table.concat(tried, ", "))
      end
      local seed = finders[1]
      local r, failed = run_seed(meshd, seed)
      mp.note(string.format("%s: seed %d again: %s (%.0f s)", bug.name, seed,
        #failed == 0 and "passed" or table.concat(failed, "; "), r.took))
      if not found(bug, r, failed) then
        mp.fail(string.format("seed %d found %s once but did not replay it:\n%s", seed, bug.name, r.stdout))
      end
    end)
  end, { timeout = 12 * RUN_TIMEOUT, skip = SLOW_BUILD })
end
