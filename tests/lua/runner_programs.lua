-- runner_programs.lua: every process a scenario file starts ends with the
-- file, however the file ends: normally, past the file timeout, by
-- os.exit, by a crash of its process, or with the runner SIGKILLed (with
-- and without a cluster). tests/cases/programs.lua starts programs every
-- way a scenario can (mp.exec, one that forks into a session of its own,
-- os.execute, io.popen, an mp.exec still waiting for a program that forked)
-- and ends as told; the run gets a tag in its environment, which every
-- process it starts inherits, so whatever is left is found by it.

local mp = require "mpod"
local procs = require "procs"
local st = require "selftest"
local proc = require "mpod.proc"
local sys = require "mpod.sys"

mp.exclusive()

local CASE = st.case("programs")
local dir

mp.before_all(function()
  dir = assert(sys.mkdtemp("mpod-programs"))
end)

mp.after_all(function()
  if dir then sys.rmtree(dir) end
end)

-- env(how) -> the environment of a run of the case that ends as `how` says
local function env(how)
  local e = procs.env()
  e.PROGRAMS_END, e.PROGRAMS_MARK = how, dir .. "/" .. e.TAG
  e.MPOD_STATE_DIR = dir .. "/state"
  e.BUILD = os.getenv("BUILD") or "build"
  return e
end

-- gone(tag): wait until no process of the run is left; fail listing them
local function gone(tag)
  local ok = pcall(mp.poll_until, function() return #procs.with_env("TAG", tag) == 0 end,
    { timeout = st.slow(10) })
  if not ok then
    mp.fail("processes of the run left behind:\n" .. table.concat(procs.with_env("TAG", tag), "\n"))
  end
end

local function run_case(how, args)
  local e = env(how)
  local argv = args or {}
  argv[#argv + 1] = CASE
  local r = st.run(argv, { env = e })
  mp.expect(r.stdout):contains("# programs started")
  gone(e.TAG)
  return r
end

mp.test("a file that ends normally leaves no program running", function()
  st.expect_code(run_case("normal"), 0)
end)

mp.test("a file that calls os.exit leaves no program running", function()
  local r = run_case("exit")
  mp.expect(r.stdout):contains("os.exit(0) was called")
end)

mp.test("a file killed past its timeout leaves no program running", function()
  local r = run_case("hang", { "-t", tostring(st.slow(2)) })
  mp.expect(r.stdout):contains("ran past its")
end)

mp.test("a scenario process that dies by SIGKILL leaves no program running", function()
  local r = run_case("crash")
  mp.expect(r.stdout):contains("killed by SIGKILL")
end)

-- kill_runner(args, e): start a run, SIGKILL the runner once the case has
-- started its programs, and wait until nothing of the run is left
local function kill_runner(args, e)
  local argv = { st.MPOD }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  argv[#argv + 1] = CASE
  local p, _, out = proc.spawn { argv = argv, env = e, stdout = "pipe", stderr = "null" }
  local seen = ""
  local reached = pcall(mp.poll_until, function()
    local chunk = out:read(0.2)
    if chunk then seen = seen .. chunk end
    return seen:find("# programs started", 1, true)
  end, { timeout = st.slow(30) })
  if not reached then mp.fail("the case did not start its programs; its output:\n" .. seen) end
  mp.expect(#procs.with_env("TAG", e.TAG)):ge(6)
  p:kill("KILL")
  mp.expect(p:wait(st.slow(10)).signame):eq("KILL")
  gone(e.TAG)
end

mp.test("SIGKILL of the runner leaves no program running", function()
  kill_runner({}, env("hang"))
end)

mp.test("SIGKILL of the runner of a cluster leaves no program and no pod running", function()
  local e = env("hang")
  kill_runner({ "--up", "-C", "tests/clusters/procs.lua" }, e)
  mp.expect(sys.glob(e.MPOD_STATE_DIR .. "/selftest-" .. e.TAG .. ".*")):eq {}
end, { timeout = st.slow(90) })

mp.test("mp.exec past its timeout kills the program's group at once", function()
  local tag = procs.env().TAG
  local t0 = mp.now()
  local err = mp.expect(function()
    mp.exec({ "sh", "-c", "sleep 300 & wait" }, { timeout = 0.3, env = { TAG = tag } })
  end):raises()
  mp.expect(err.kind):eq("timeout")
  mp.poll_until(function() return #procs.with_env("TAG", tag) == 0 end,
    { timeout = st.slow(2), label = "the program and its child are gone" })
  mp.expect(mp.now() - t0):lt(st.slow(2.5))
end)
