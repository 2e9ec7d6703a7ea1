-- meshd_bugs.lua: each planted bug of meshd (compose/meshd/bug.h) is in its
-- variant. tests/cases/meshd_bugs.lua, one targeted test per bug, runs on
-- the process reference cluster (compose/local.lua, without Toxiproxy)
-- brought up with plain meshd, where every test passes, then with each
-- variant (MESHD_BIN=$BUILD/meshd-bug-<name>, its own test only), where
-- that test fails showing the bug's evidence. MESHD_PORT_OFFSET moves the
-- cluster's ports, as for tests/run-scenarios.

local mp = require "mpod"
local st = require "selftest"
local sys = require "mpod.sys"

mp.exclusive()

local BUILD = os.getenv("BUILD") or "build"
local CASE = st.case("meshd_bugs")

-- Each variant, the test that must fail on it and what its failure shows
local BUGS = {
  { name = "ack_before_commit",
    test = "ack: a thread acknowledged by a pod killed right after is in Postgres",
    evidence = "threads acknowledged by mesh-1 are not in Postgres" },
  { name = "takeover_without_cas",
    test = "takeover: a paused owner whose run was taken over writes no more chunks",
    evidence = "two owners wrote at once" },
  { name = "resume_skips_chunk",
    test = "resume: a stream resumed with Last-Event-ID goes on at the next chunk",
    evidence = "$[1]: got 4, expected 3" },
  { name = "stale_session_cache",
    test = "session: a cookie signed out on one pod is refused by every pod at once",
    evidence = "expected status 401, got 200" },
}

local state_dir

mp.before_all(function()
  state_dir = assert(sys.mkdtemp("mpod-state"))
end)

mp.after_all(function()
  sys.rmtree(state_dir)
end)

-- run_case(meshd [, filter]) -> mpod-lua's result on the case file, on the
-- reference cluster brought up with that meshd binary
local function run_case(meshd, filter)
  local args = { "--up", "-C", "compose/local.lua" }
  if filter then
    args[#args + 1] = "--filter"
    args[#args + 1] = filter
  end
  args[#args + 1] = CASE
  return st.run(args, { timeout = 120, env = {
    MESHD_BIN = meshd, MESHD_TOXIPROXY = "off", MPOD_STATE_DIR = state_dir } })
end

mp.test("plain meshd passes the test of every planted bug", function()
  local r = run_case(BUILD .. "/meshd")
  st.expect_code(r, 0)
  for i, bug in ipairs(BUGS) do st.expect_line(r.stdout, "    ok " .. i .. " - " .. bug.test) end
end, { timeout = st.slow(150) })

for _, bug in ipairs(BUGS) do
  mp.test("meshd-bug-" .. bug.name .. " fails the test of its bug", function()
    local r = run_case(BUILD .. "/meshd-bug-" .. bug.name, bug.test:match("^%a+:"))
    st.expect_code(r, 1)
    st.expect_line(r.stdout, "    not ok 1 - " .. bug.test)
    if not r.stdout:find(bug.evidence, 1, true) then
      mp.fail("the failure does not show " .. bug.evidence .. "\n--- output was:\n" .. r.stdout)
    end
  end, { timeout = st.slow(150) })
end
