-- backend_process.lua: the process backend on small services the test owns
-- (tests/clusters/procs.lua, made of tests/fixtures/podsvc.c): control
-- operations and their states, healing between files, readiness failures,
-- dependency order and one-shot failures, the cluster commands, and no
-- process left behind after a normal end, a failure, SIGINT, SIGTERM or
-- SIGKILL of the runner: with what the watchdog counts as a runner gone,
-- and a sweep of processes that fork while it runs.

local mp = require "mpod"
local procs = require "procs"
local st = require "selftest"
local proc = require "mpod.proc"
local sys = require "mpod.sys"

mp.exclusive()

local CLUSTER = "tests/clusters/procs.lua"
local state_dir

mp.before_all(function()
  state_dir = assert(sys.mkdtemp("mpod-state"))
end)

mp.after_all(function()
  sys.rmtree(state_dir)
end)

local function env()
  local e = procs.env()
  e.MPOD_STATE_DIR = state_dir
  return e
end

local function mpod(args, e, opts)
  opts = opts or {}
  opts.env = e
  return st.run(args, opts)
end

local function gone(tag)
  local ok = pcall(mp.poll_until, function() return procs.count(tag) == 0 end, { timeout = st.slow(30) })
  if not ok then
    mp.fail("processes of " .. tag .. " left behind:\n" .. table.concat(procs.list(tag), "\n"))
  end
end

mp.test("every control operation and the state it leaves", function()
  local e = env()
  local r = mpod({ "--up", "-C", CLUSTER, st.case("cluster_ops") }, e)
  st.expect_code(r, 0)
  mp.expect(r.stdout):contains("ok 1 - tests/cases/cluster_ops.lua")
  gone(e.TAG)
end)

mp.test("healing brings back what a file killed, stopped and paused", function()
  local e = env()
  local r = mpod({ "--up", "-C", CLUSTER, st.case("cluster_break"), st.case("cluster_check") }, e)
  st.expect_code(r, 0)
  st.expect_line(r.stdout, "# healed: a (started), b (unpaused), worker (started)")
  st.expect_line(r.stdout, "ok 2 - tests/cases/cluster_check.lua")
  gone(e.TAG)
end)

mp.test("pods restart after the binary was rebuilt under a running runner", function()
  -- `make` during a long run replaces the file: the runner starts its log
  -- pumps from the binary it holds open, not from the path
  local dir = assert(sys.mkdtemp("mpod-rebuilt"))
  local copy = dir .. "/mpod-lua"
  st.expect_code(mp.exec({ "cp", st.MPOD, copy }), 0)
  local case = dir .. "/rebuilt_case.lua"
  local f = assert(io.open(case, "w"))
  f:write([[
local mp = require "mpod"
mp.test("a pod starts again after the binary was deleted", function()
  assert(os.remove(os.getenv("MPOD_COPY")))
  local a = mp.cluster():pod("a")
  a:kill()
  a:start()
  a:wait_ready(10)
  mp.expect(a:state()):eq("running")
end)
]])
  f:close()
  local e = env()
  e.MPOD_COPY = copy
  local r = mp.exec({ copy, "--up", "-C", CLUSTER, case }, { env = e, timeout = st.slow(60) })
  sys.rmtree(dir)
  st.expect_code(r, 0)
  st.expect_line(r.stdout, "ok 1 - " .. case)
  gone(e.TAG)
end)

mp.test("a run without --up needs the cluster up, and says so", function()
  local e = env()
  local r = mpod({ "-C", CLUSTER, st.case("cluster_check") }, e)
  mp.expect(r.code):eq(3)
  st.expect_line(r.stdout, "Bail out! cluster selftest-" .. e.TAG ..
    " is not up: bring it up with `mpod-lua up -C " .. CLUSTER .. "`, or pass --up")
end)

mp.test("up, status, a run against it, logs, down", function()
  local e = env()
  local up = mpod({ "up", "-C", CLUSTER }, e)
  st.expect_code(up, 0)
  mp.expect(up.stdout):matches("POD%s+STATE%s+HEALTH%s+URL")
  mp.expect(up.stdout):matches("\na%s+running%s+ready%s+http://127%.0%.0%.1:" .. e.PORT_A)
  mp.expect(procs.count(e.TAG)):ge(4)
  local run = mpod({ "-C", CLUSTER, st.case("cluster_break"), st.case("cluster_check") }, e)
  st.expect_code(run, 0)
  st.expect_line(run.stdout, "# healed: a (started), b (unpaused), worker (started)")
  -- the pods a run restarted outlive it: the cluster was brought up by `up`
  local status = mpod({ "status", "-C", CLUSTER }, e)
  mp.expect(status.stdout):matches("\nworker%s+running%s+ready")
  local logs = mpod({ "logs", "worker", "-C", CLUSTER }, e)
  mp.expect(logs.stdout):contains("worker-" .. e.TAG .. ": started")
  local down = mpod({ "down", "-C", CLUSTER }, e)
  mp.expect(down.code):eq(0)
  gone(e.TAG)
  local again = mpod({ "status", "-C", CLUSTER }, e)
  mp.expect(again.code):eq(3)
end)

mp.test("pods that `up` started and a run killed or stopped say how they ended", function()
  local e = env()
  st.expect_code(mpod({ "up", "-C", CLUSTER }, e), 0)
  local run = mpod({ "-C", CLUSTER, st.case("cluster_not_ours") }, e)
  local down = mpod({ "down", "-C", CLUSTER }, e)
  st.expect_code(run, 0)
  mp.expect(down.code):eq(0)
  gone(e.TAG)
end)

mp.test("a readiness timeout fails the bring-up with the check and the log", function()
  local e = env()
  e.READY_LOG = "never printed"
  local r = mpod({ "--up", "-C", "tests/clusters/never_ready.lua", st.case("passing") }, e)
  mp.expect(r.code):eq(3)
  st.expect_line(r.stdout, "Bail out! cluster never-" .. e.TAG ..
    " could not be brought up: slow not ready after 1 s: no log line matches \"never printed\"")
  mp.expect(r.stderr):contains("slow-" .. e.TAG .. ": started")
  gone(e.TAG)
  -- `mpod-lua up` that fails leaves nothing marked as up: trying again
  -- fails the same way, not with "already up"
  for _ = 1, 2 do
    local up = mpod({ "up", "-C", "tests/clusters/never_ready.lua" }, e)
    mp.expect(up.code):eq(3)
    mp.expect(up.stderr):contains("slow not ready after 1 s")
    gone(e.TAG)
  end
end)

mp.test("ready.log matches a log line: ^ and $ anchor at the line's ends", function()
  local e = env()
  e.READY_LOG = "^slow%-" .. e.TAG:gsub("%p", "%%%0") .. ": started %(pid %d+, port 0%)$"
  local r = mpod({ "--up", "-C", "tests/clusters/never_ready.lua", st.case("passing") }, e)
  st.expect_code(r, 0)
  gone(e.TAG)
end)

mp.test("a failing one-shot stops the bring-up; order follows `after`", function()
  local e = env()
  local r = mpod({ "--up", "-C", "tests/clusters/oneshot_fails.lua", st.case("passing") }, e)
  mp.expect(r.code):eq(3)
  mp.expect(r.stdout):contains("migrate (oneshot) failed: exit code 7")
  mp.expect(r.stderr):contains("migrate-" .. e.TAG .. ": exiting with 7")
  mp.expect(r.stderr):ne(nil)
  gone(e.TAG)
end)

local function interrupt_runner(signal)
  local e = env()
  local argv = { st.MPOD, "--up", "-C", CLUSTER, st.case("cluster_wait") }
  local p, _, out = proc.spawn { argv = argv, env = e, stdout = "pipe", stderr = "null" }
  local seen = ""
  local reached = pcall(mp.poll_until, function()
    local chunk = out:read(0.2)
    if chunk then seen = seen .. chunk end
    return seen:find("cluster is up", 1, true)
  end, { timeout = st.slow(20) })
  if not reached then mp.fail("the run did not reach its test; its output:\n" .. seen) end
  mp.expect(procs.count(e.TAG)):ge(4)
  p:kill(signal)
  local status = p:wait(st.slow(20))
  mp.expect(status):truthy()
  gone(e.TAG)
  return status, e
end

mp.test("SIGINT tears the cluster down and exits 130", function()
  local status = interrupt_runner("INT")
  mp.expect(status.code):eq(130)
end)

mp.test("SIGTERM tears the cluster down and exits 143", function()
  local status = interrupt_runner("TERM")
  mp.expect(status.code):eq(143)
end)

mp.test("SIGKILL of the runner leaves nothing behind (watchdog)", function()
  local status, e = interrupt_runner("KILL")
  mp.expect(status.signame):eq("KILL")
  mp.expect(sys.glob(state_dir .. "/selftest-" .. e.TAG .. ".*")):eq {}
end)

-- A service whose process is a wrapper shell (tests/clusters/stopsig.lua):
-- a stop that signalled only the wrapper, or sent TERM, left the program
-- behind it to the final KILL, which it never saw coming (a Postgres so
-- killed leaves its shared memory).
local function stop_mark(e)
  local f = io.open(e.MARK)
  local text = f and f:read("a")
  if f then f:close() end
  return text
end

local function stopsig_env()
  local e = env()
  e.MARK = state_dir .. "/mark-" .. e.TAG
  return e
end

mp.test("a teardown sends a service's stop signal to its whole group", function()
  local e = stopsig_env()
  local r = mpod({ "--up", "-C", "tests/clusters/stopsig.lua", st.case("passing") }, e)
  st.expect_code(r, 0)
  mp.expect(stop_mark(e)):eq("INT\n")
  gone(e.TAG)
end)

mp.test("pod:stop() stops what a dead wrapper left in the group", function()
  local e = stopsig_env()
  local r = mpod({ "--up", "-C", "tests/clusters/stopsig.lua", st.case("stopsig_wrapper") }, e)
  st.expect_code(r, 0)
  gone(e.TAG)
end)

mp.test("the watchdog sends a service's stop signal to its whole group", function()
  local e = stopsig_env()
  local argv = { st.MPOD, "--up", "-C", "tests/clusters/stopsig.lua", st.case("cluster_wait") }
  local p, _, out = proc.spawn { argv = argv, env = e, stdout = "pipe", stderr = "null" }
  local seen = ""
  local reached = pcall(mp.poll_until, function()
    local chunk = out:read(0.2)
    if chunk then seen = seen .. chunk end
    return seen:find("cluster is up", 1, true)
  end, { timeout = st.slow(20) })
  if not reached then mp.fail("the run did not reach its test; its output:\n" .. seen) end
  p:kill("KILL")
  p:wait(st.slow(10))
  pcall(mp.poll_until, function() return stop_mark(e) end, { timeout = st.slow(10) })
  mp.expect(stop_mark(e)):eq("INT\n")
  gone(e.TAG)
end)

-- A service that will not stop within its stop_timeout is KILLed; a
-- server killed so leaves its SysV shared memory segment behind (Postgres
-- removes its own only when it stops), which the teardown then removes.
local function shm_segment(id)
  for line in io.lines("/proc/sysvipc/shm") do
    if tonumber(line:match("^%s*%-?%d+%s+(%d+)")) == id then return line end
  end
end

mp.test("a teardown that has to KILL a service removes the shared memory it held", function()
  local e = env()
  e.SHM_FILE = state_dir .. "/shm-" .. e.TAG
  local r = mpod({ "--up", "-C", "tests/clusters/shm.lua", st.case("passing") }, e)
  st.expect_code(r, 0)
  local f = assert(io.open(e.SHM_FILE))
  local id = assert(tonumber(f:read("l")), "no segment id written")
  f:close()
  local left = shm_segment(id)
  if left then sys.shm_remove(id) end
  mp.expect(left):is_nil()
  gone(e.TAG)
end)

-- with_info(records, fn): run fn with proc.info answering records in turn
-- (then nil, a pid that is gone); -> how many records were not asked for
local function with_info(records, fn)
  local real = proc.info
  proc.info = function() return table.remove(records, 1) end
  local ok, err = pcall(fn)
  proc.info = real
  if not ok then error(err, 0) end
  return #records
end

-- The watchdog waits for the runner to be gone. A parent reaping a zombie
-- turns it from Z to X in /proc for a moment: a watchdog that saw Z, then X
-- as running, once quit and left a killed run's cluster behind.
mp.test("a zombie or a process being reaped counts as ended; the first sighting decides", function()
  local state = require "mpod.runner.state"
  for _, letter in ipairs { "Z", "X", "x" } do
    with_info({ { state = letter, start = 7 } }, function()
      mp.expect(state.alive(4242, 7)):eq(false)
    end)
  end
  with_info({ { state = "S", start = 7 } }, function()
    mp.expect(state.alive(4242, 7)):eq(true)
  end)
  local gone
  local unread = with_info({ { state = "R", start = 7 }, { state = "Z", start = 7 },
                             { state = "R", start = 7 } }, function()
    gone = state.wait_gone(4242, 7, 5)
  end)
  mp.expect(gone):eq(true)
  mp.expect(unread):eq(1)
end)

-- A sweep against a shell that forks without pause, each child leaving a
-- sleep behind: what is forked between a scan and its kill is found by the
-- next scan.
mp.test("a sweep also kills what the run's processes fork while it runs", function()
  local state = require "mpod.runner.state"
  local run_id = state.new_run_id()
  local shell = proc.spawn { argv = { "sh", "-c", "while :; do (sleep 30 &); done" },
    env = { MPOD_RUN_ID = run_id }, stdout = "null", stderr = "null" }
  mp.poll_until(function() return #state.run_processes(run_id) >= 20 end,
    { timeout = st.slow(10), label = "the shell has forked" })
  local killed = state.sweep(run_id)
  shell:wait(5)
  -- killed processes still exiting show their environment for a moment
  pcall(mp.poll_until, function() return #state.run_processes(run_id) == 0 end,
    { timeout = st.slow(2) })
  local left = #state.run_processes(run_id)
  for _ = 1, 10 do state.sweep(run_id) end        -- whatever escaped
  mp.expect(killed):gt(0)
  mp.expect(left):eq(0)
end)

mp.test("a failing run still tears down", function()
  local e = env()
  local r = mpod({ "--up", "-C", CLUSTER, st.case("failing") }, e)
  st.expect_code(r, 1)
  gone(e.TAG)
end)

mp.test("a failed test quotes what the pods it touched logged during it; --dump-logs", function()
  local e = env()
  local dump = state_dir .. "/dump-" .. e.TAG
  local r = mpod({ "--up", "--dump-logs", dump, "-C", CLUSTER, st.case("cluster_fails") }, e)
  st.expect_code(r, 1)
  st.expect_line(r.stdout, "      logs:")
  st.expect_line(r.stdout, "        a: |")
  st.expect_line(r.stdout, "          a-" .. e.TAG .. ": got SIGHUP")
  st.expect_line(r.stdout, "        worker: |")
  st.expect_line(r.stdout, "          (no lines written during this test)")
  mp.expect(st.has_line(r.stdout, "        b: |")):falsy()
  -- the lines written before the test (each pod's start) are not quoted
  mp.expect(r.stdout:find(": started", 1, true)):is_nil()
  mp.expect(r.stderr):contains("pod logs written to " .. dump)
  local f = assert(io.open(dump .. "/a.log"))
  local text = f:read("a")
  f:close()
  mp.expect(text):matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ a%-" .. e.TAG:gsub("%-", "%%-") .. ": started")
  mp.expect(sys.stat(dump .. "/setup.log")):truthy()
  gone(e.TAG)
end)

mp.test("logs since a time keep the lines of that millisecond; windows that meet share no line", function()
  local dir = assert(sys.mkdtemp("mpod-logs"))
  assert(sys.mkdir_p(dir .. "/logs"))
  local f = assert(io.open(dir .. "/logs/w.log", "w"))
  f:write("999.998 before\n1000.000 same millisecond\n1000.001 after\n")
  f:close()
  local svc = { name = "w" }
  local backend = require("mpod.runner.backend.process").new(
    { by_name = { w = svc }, services = { svc } }, { run_dir = dir })
  local text = backend:logs("w", { since = 1000.0004 })
  local all = backend:logs("w", {})
  -- `mpod-lua logs -f` polls [a, b), then [b, c): the stamp 1000.000 is in
  -- the millisecond of b, and must come out once
  local first = backend:logs("w", { since = 999.9985, ["until"] = 1000.0004 })
  local second = backend:logs("w", { since = 1000.0004, ["until"] = 1000.5 })
  sys.rmtree(dir)
  mp.expect(text):eq("same millisecond\nafter\n")
  mp.expect(all):eq("before\nsame millisecond\nafter\n")
  mp.expect(first):eq("before\n")
  mp.expect(first .. second):eq(all)
end)

mp.test("the run folder is made under $TMPDIR, named in the state, and gone after down", function()
  local e = env()
  local tmp = assert(sys.mkdtemp("mpod-tmpdir"))
  e.TMPDIR = tmp
  st.expect_code(mpod({ "up", "-C", CLUSTER }, e), 0)
  local f = assert(io.open(sys.glob(state_dir .. "/selftest-" .. e.TAG .. ".*.json")[1]))
  local saved = mp.json.decode(f:read("a"))
  f:close()
  local run_dir = saved.run_dir
  local listed = sys.glob(tmp .. "/mpod-selftest-" .. e.TAG .. ".*")
  local down = mpod({ "down", "-C", CLUSTER }, e)
  local left = sys.glob(tmp .. "/*")
  sys.rmtree(tmp)
  mp.expect(run_dir):eq(tmp .. "/mpod-selftest-" .. e.TAG .. "." .. saved.run_id)
  mp.expect(listed):eq { run_dir }
  mp.expect(down.code):eq(0)
  mp.expect(left):eq {}
  gone(e.TAG)
end)

-- Ports mpod-lua chooses (${PORT:name}, tests/clusters/ports.lua) ------------

local PORTS = "tests/clusters/ports.lua"

-- ports_line(text) -> the "ports: a=1, b=2" line of `up` or `status`,
-- as { name = port }
local function ports_line(text)
  local line = text:match("\nports: ([^\n]*)")
  if not line then mp.fail("no ports line in:\n" .. text) end
  local ports = {}
  for name, port in line:gmatch("([%w_.%-]+)=(%d+)") do ports[name] = tonumber(port) end
  return ports
end

-- noted_ports(tap) -> the ports tests/cases/ports_check.lua noted
local function noted_ports(tap)
  local a, b = tap:match("# ports: web%-1=(%d+) web%-2=(%d+)")
  return { ["web-1"] = tonumber(a), ["web-2"] = tonumber(b) }
end

mp.test("one cluster file up twice at once: each run reaches its own pods on its own ports", function()
  local e = env()
  local up = mpod({ "up", "-C", PORTS }, e)
  st.expect_code(up, 0)
  local mine = ports_line(up.stdout)
  mp.expect(mine["web-2-admin"]):type("number")
  mp.expect(up.stdout):matches("\nweb%-1%s+running%s+ready%s+http://127%.0%.0%.1:" .. mine["web-1"] .. "\n")
  -- the same file, meanwhile: a run that brings up a second instance
  -- (MPOD_NAME) and a run against the first, at once
  local other = env()
  other.TAG, other.MPOD_NAME = e.TAG, "second-" .. e.TAG
  local runs = mp.wait_all({
    mp.spawn(mpod, { "--up", "-C", PORTS, st.case("ports_check") }, other),
    mp.spawn(mpod, { "-C", PORTS, st.case("ports_check") }, e),
  }, st.slow(60))
  local status = mpod({ "status", "-C", PORTS }, e)
  st.expect_code(mpod({ "down", "-C", PORTS }, e), 0)
  gone(e.TAG)
  st.expect_code(runs[1], 0)
  st.expect_code(runs[2], 0)
  mp.expect(runs[1].stdout):contains("cluster second-" .. e.TAG .. " (process)")
  mp.expect(noted_ports(runs[2].stdout)):eq { ["web-1"] = mine["web-1"], ["web-2"] = mine["web-2"] }
  local theirs = noted_ports(runs[1].stdout)
  for name, port in pairs(theirs) do
    mp.expect(port):ne(mine["web-1"])
    mp.expect(port):ne(mine["web-2"])
    mp.expect(port):ne(mine["web-2-admin"])
    mp.expect(port):ne(theirs[name == "web-1" and "web-2" or "web-1"])
  end
  -- status reads the ports from the state: the numbers of `up`
  mp.expect(ports_line(status.stdout)):eq(mine)
  mp.expect(sys.glob(state_dir .. "/*" .. e.TAG .. ".*")):eq {}
end)

mp.test("a run against a cluster not up names those up from the file under other names", function()
  local e = env()
  st.expect_code(mpod({ "up", "-C", PORTS, "--name", "named-" .. e.TAG }, e), 0)
  local r = mpod({ "-C", PORTS, st.case("passing") }, e)
  st.expect_code(mpod({ "down", "-C", PORTS, "--name", "named-" .. e.TAG }, e), 0)
  gone(e.TAG)
  mp.expect(r.code):eq(3)
  st.expect_line(r.stdout, "Bail out! cluster ports-" .. e.TAG .. " is not up: bring it up with " ..
    "`mpod-lua up -C " .. PORTS .. "`, or pass --up (up from this cluster file under another " ..
    "name: named-" .. e.TAG .. "; a run finds a cluster by the name its `up` had: give the " ..
    "same --name, MPOD_NAME or environment)")
end)

mp.test("a port taken between its choice and the bind: up again with new ports", function()
  local e = env()
  e.MARK = state_dir .. "/race-" .. e.TAG
  local r = mpod({ "--up", "-C", "tests/clusters/ports_race.lua", st.case("passing") }, e)
  st.expect_code(r, 0)
  mp.expect(r.stderr):matches("mpod%-lua: cluster race%-" .. e.TAG:gsub("%-", "%%-") ..
    ": web could not listen on a port chosen for it %(web=%d+%), taken by another program " ..
    "since; bringing the cluster up again with new ports\n")
  gone(e.TAG)
  -- squatter takes web's port every time: the second failure is reported
  e.MARK = "/nonexistent/race-" .. e.TAG
  local again = mpod({ "--up", "-C", "tests/clusters/ports_race.lua", st.case("passing") }, e)
  mp.expect(again.code):eq(3)
  st.expect_line(again.stdout, "Bail out! cluster race-" .. e.TAG .. " could not be brought " ..
    "up: web exited (exit code 3) before it was ready")
  gone(e.TAG)
end)
