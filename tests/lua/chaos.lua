-- chaos.lua: the runner killed with SIGKILL at random points of a run,
-- many times, then everything it left behind counted: processes, the state
-- file and run folder, Toxiproxy faults, and on the compose backend the
-- project's containers and networks. After a bounded wait for the watchdog
-- every count must be zero.
--
-- Each kill lands in one phase, taken in turn: during the bring-up (a
-- random moment before the first file starts), mid-scenario (a random
-- moment inside a file that sets faults, kills, pauses and stops pods), or
-- during the healing after such a file (right after its point, when the
-- runner restarts and unpauses pods and clears faults). The moments come
-- from a seed printed at the start; CHAOS_SEED=N replays a run, CHAOS_RUNS
-- and CHAOS_COMPOSE_RUNS set the number of kills (default 15 and 6; 0 skips
-- that backend's test, so CHAOS_COMPOSE_RUNS=0 leaves Docker alone), and
-- CHAOS_PHASES (names separated by commas or spaces, e.g. "bring-up") takes
-- the phases from that list only, to hammer one of them.
--
-- Process backend: tests/clusters/chaos.lua behind a Toxiproxy the test
-- starts itself, so faults outlive a killed runner unless its teardown
-- clears them. Compose backend: tests/clusters/docker.lua on the image
-- backend_compose.lua builds (skipped when no Docker Engine answers). Every
-- run gets a tag of its own, carried in the environment of every process it
-- starts and in the folder of its scenario files, so all its processes are
-- found by it.

local mp = require "mpod"
local procs = require "procs"
local st = require "selftest"
local proc = require "mpod.proc"
local sys = require "mpod.sys"

mp.exclusive()

local SEED = tonumber(os.getenv("CHAOS_SEED")) or os.time()
local RUNS = tonumber(os.getenv("CHAOS_RUNS")) or 15
local COMPOSE_RUNS = tonumber(os.getenv("CHAOS_COMPOSE_RUNS")) or 6
local CLEAN_TIMEOUT = 30         -- seconds the watchdog gets
local COMPOSE_CLEAN_TIMEOUT = 90
local BUILD = os.getenv("BUILD") or "build"
local IMAGE = "mpod-selftest/podsvc:latest"
local ALL_PHASES = { "bring-up", "mid-scenario", "healing" }

-- phases_from(text) -> the phases CHAOS_PHASES names, in order (all of them
-- when it is unset or empty); an unknown name is an error
local function phases_from(text)
  if not text or not text:find("%S") then return ALL_PHASES end
  local known, list = {}, {}
  for _, ph in ipairs(ALL_PHASES) do known[ph] = true end
  for ph in text:gmatch("[^,%s]+") do
    if not known[ph] then
      error(string.format("CHAOS_PHASES: unknown phase %q (known: %s)", ph,
        table.concat(ALL_PHASES, ", ")), 0)
    end
    list[#list + 1] = ph
  end
  return list
end

local PHASES = phases_from(os.getenv("CHAOS_PHASES"))

local dir, toxi, toxi_port
local docker_ok, docker_why = false, "not checked"

-- Helpers ----------------------------------------------------------------------

local function docker(args, timeout)
  local argv = { "docker" }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return mp.exec(argv, { timeout = timeout or 60 })
end

local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local text = f:read("a") or ""
  f:close()
  return text
end

-- tagged(tag) -> "pid command" of the live processes whose command line or
-- environment holds the tag
local function tagged(tag)
  local found, me = {}, tostring(proc.getpid())
  for _, d in ipairs(sys.glob("/proc/[0-9]*")) do
    local pid = d:match("%d+$")
    local stat = read_all(d .. "/stat")
    local state = stat:match("%) (%a)")
    local cmd = read_all(d .. "/cmdline")
    local env = read_all(d .. "/environ")
    if pid ~= me and state and state ~= "Z"
       and (cmd:find(tag, 1, true) or ("\0" .. env):find("\0TAG=" .. tag .. "\0", 1, true)) then
      found[#found + 1] = pid .. " " .. cmd:gsub("%z", " ")
    end
  end
  return found
end

-- faults() -> toxics set and proxies disabled on the test's Toxiproxy
local function faults()
  local res = mp.http.request { url = "http://127.0.0.1:" .. toxi_port .. "/proxies", timeout = 5 }
  local n = 0
  for _, p in pairs(res.json or {}) do
    n = n + #(p.toxics or {}) + (p.enabled == false and 1 or 0)
  end
  return n
end

local function compose_objects(tag)
  local project = "label=com.docker.compose.project=mpod-selftest-" .. tag
  local c = docker { "ps", "-aq", "--filter", project }
  local n = docker { "network", "ls", "-q", "--filter", project }
  local count = function(text) local k = 0; for _ in text:gmatch("%S+") do k = k + 1 end; return k end
  return count(c.stdout), count(n.stdout)
end

-- leftovers(run) -> {processes=, state=, run_dir=, faults=, containers=,
-- networks=} and their total
local function leftovers(run)
  local left = {
    processes = #tagged(run.tag),
    state = #sys.glob(dir .. "/state/" .. run.cluster .. ".*.json*"),   -- with a save's .tmp
    run_dir = #sys.glob(sys.tmpdir() .. "/mpod-" .. run.cluster .. ".*"),   -- where the runner makes it
  }
  if run.backend == "process" then left.faults = faults() end
  if run.backend == "compose" then left.containers, left.networks = compose_objects(run.tag) end
  local total = 0
  for _, n in pairs(left) do total = total + n end
  return left, total
end

local function describe(left)
  local parts = {}
  for _, k in ipairs { "processes", "containers", "networks", "faults", "state", "run_dir" } do
    if left[k] then parts[#parts + 1] = string.format("%d %s", left[k], k:gsub("_", " ")) end
  end
  return table.concat(parts, ", ")
end

-- A run and its kill -------------------------------------------------------------

-- new_run(backend) -> run {tag=, cluster=, env=, files=}: a tag, its
-- environment and copies of the scenario files in a folder named after it
local function new_run(backend)
  local e = procs.env()
  e.MPOD_STATE_DIR = dir .. "/state"
  e.BUILD = BUILD
  local run = { backend = backend, tag = e.TAG, env = e, files = {} }
  local folder = dir .. "/" .. e.TAG
  assert(sys.mkdir_p(folder))
  local break_file, check_file
  if backend == "process" then
    e.PORT_P, e.PORT_T = tostring(sys.free_port()), toxi_port
    run.cluster, run.cluster_file = "chaos-" .. e.TAG, "tests/clusters/chaos.lua"
    break_file, check_file = "chaos_break", "cluster_check"
  else
    run.cluster, run.cluster_file = "dselftest-" .. e.TAG, "tests/clusters/docker.lua"
    break_file, check_file = "compose_break", "compose_check"
  end
  for i, name in ipairs { break_file, check_file, break_file, check_file } do
    local copy = string.format("%s/%d-%s.lua", folder, i, name)
    assert(mp.exec({ "cp", st.case(name), copy }).code == 0)
    run.files[i] = copy
  end
  return run
end

-- start(run) -> the runner's Proc and a reader of its stdout
local function start(run)
  local argv = { st.MPOD, "--up", "-C", run.cluster_file }
  for _, f in ipairs(run.files) do argv[#argv + 1] = f end
  local p, _, out = proc.spawn { argv = argv, env = run.env, stdout = "pipe", stderr = "null" }
  local reader = { seen = "", t0 = mp.now(), marks = {} }
  function reader.poll(timeout)
    local chunk = out:read(timeout)
    if chunk then reader.seen = reader.seen .. chunk end
    return chunk
  end
  return p, reader
end

-- The marks of a run in its TAP: the first file starting, the first break
-- file's point (healing starts right after it).
local function marks(run)
  return { started = "# Subtest: " .. run.files[1], broken = "ok 1 - " .. run.files[1] }
end

-- wait_for(reader, text, timeout) -> seconds since the start when text
-- appeared, or nil
local function wait_for(reader, text, timeout)
  local deadline = mp.now() + timeout
  while not reader.seen:find(text, 1, true) do
    if mp.now() > deadline then return nil end
    if not reader.poll(0.05) and mp.now() > deadline then return nil end
  end
  return mp.now() - reader.t0
end

-- phase_of(run, reader) -> the phase the runner was in when it died, read
-- from what it had printed
local function phase_of(run, reader)
  local m = marks(run)
  if not reader.seen:find(m.started, 1, true) then return "bring-up" end
  local last_point = 0
  for n in reader.seen:gmatch("\nn?o?t? ?ok (%d+) %- ") do last_point = tonumber(n) end
  local subtests = select(2, reader.seen:gsub("# Subtest: ", ""))
  if subtests > last_point then return "mid-scenario" end
  if last_point >= #run.files then return "teardown" end
  return "healing"
end

-- calibrate(backend) -> {up=, file=, total=}: one run to its end, timed
local function calibrate(backend)
  local run = new_run(backend)
  local p, reader = start(run)
  local m = marks(run)
  local limit = backend == "compose" and 600 or 120
  local up = wait_for(reader, m.started, limit)
  local broken = wait_for(reader, m.broken, limit)
  while reader.poll(0.2) do end
  local status = p:wait(limit)
  if not (up and broken and status and status.code == 0) then
    mp.fail("the calibration run failed; its output:\n" .. reader.seen)
  end
  local total = mp.now() - reader.t0
  mp.poll_until(function() local _, n = leftovers(run); return n == 0 end,
    { timeout = backend == "compose" and COMPOSE_CLEAN_TIMEOUT or CLEAN_TIMEOUT,
      label = "a finished run leaves nothing" })
  return { up = up, file = broken - up, total = total }
end

-- kill_once(backend, target, timing) -> record {phase=, at=, left=, clean=}
local function kill_once(backend, target, timing)
  local run = new_run(backend)
  local p, reader = start(run)
  local m = marks(run)
  local limit = backend == "compose" and 300 or 60
  local delay
  if target == "bring-up" then
    delay = math.random() * timing.up
    while mp.now() - reader.t0 < delay do reader.poll(0.01) end
  elseif target == "mid-scenario" then
    wait_for(reader, m.started, limit)
    delay = math.random() * timing.file
    local t = mp.now()
    while mp.now() - t < delay do reader.poll(0.01) end
  else
    wait_for(reader, m.broken, limit)
    delay = math.random() * 0.3
    local t = mp.now()
    while mp.now() - t < delay do reader.poll(0.01) end
  end
  reader.poll(0)
  p:kill("KILL")
  local killed_at = mp.now()
  p:wait(10)
  local record = { target = target, phase = phase_of(run, reader), at = killed_at - reader.t0 }
  local timeout = backend == "compose" and COMPOSE_CLEAN_TIMEOUT or CLEAN_TIMEOUT
  local left, total = leftovers(run)
  record.at_kill = describe(left)           -- what there was to clean up
  while total > 0 and mp.now() - killed_at < timeout do
    mp.sleep(0.2)
    left, total = leftovers(run)
  end
  record.left, record.total, record.clean = left, total, mp.now() - killed_at
  if total > 0 then
    record.detail = table.concat(tagged(run.tag), "\n")
  end
  return record
end

-- campaign(backend, runs) -> records; notes each kill and a summary
local function campaign(backend, runs)
  local timing = calibrate(backend)
  mp.note(string.format("%s: a whole run takes %.1f s (bring-up %.1f s, first file %.2f s)",
    backend, timing.total, timing.up, timing.file))
  local records, phases, cleans, failures = {}, {}, {}, {}
  for i = 1, runs do
    local target = PHASES[(i - 1) % #PHASES + 1]
    local r = kill_once(backend, target, timing)
    records[#records + 1] = r
    phases[r.phase] = (phases[r.phase] or 0) + 1
    cleans[#cleans + 1] = r.clean
    mp.note(string.format("%s kill %d (%s): at %.2f s, in %s; left at the kill: %s; after %.1f s: %s",
      backend, i, target, r.at, r.phase, r.at_kill, r.clean, describe(r.left)))
    if r.total > 0 then
      failures[#failures + 1] = string.format("kill %d (%s, at %.2f s) left %s:\n%s",
        i, r.phase, r.at, describe(r.left), r.detail or "")
    end
  end
  table.sort(cleans)
  local by_phase = {}
  for _, ph in ipairs { "bring-up", "mid-scenario", "healing", "teardown" } do
    if phases[ph] then by_phase[#by_phase + 1] = ph .. " " .. phases[ph] end
  end
  mp.note(string.format("%s: %d kills (%s); everything gone after %.1f s median, %.1f s at most",
    backend, runs, table.concat(by_phase, ", "), cleans[(#cleans + 1) // 2], cleans[#cleans]))
  if #failures > 0 then mp.fail(table.concat(failures, "\n")) end
  return records
end

-- Tests ---------------------------------------------------------------------------

mp.before_all(function()
  math.randomseed(SEED)
  mp.note(string.format("chaos seed %d (replay with CHAOS_SEED=%d)", SEED, SEED))
  dir = assert(sys.mkdtemp("mpod-chaos"))
  assert(sys.mkdir_p(dir .. "/state"))
  if not sys.stat(BUILD .. "/toxiproxy/toxiproxy-server") then
    local r = mp.exec({ "make", "--no-print-directory", "BUILD=" .. BUILD, "toxiproxy" }, { timeout = 900 })
    if r.code ~= 0 then error("make toxiproxy failed: " .. r.stderr) end
  end
  toxi_port = tostring(sys.free_port())
  local p, stdin = proc.spawn { argv = { BUILD .. "/toxiproxy/toxiproxy-server", "-host", "127.0.0.1",
    "-port", toxi_port }, stdin = "pipe", stdout = "null", stderr = "null" }
  toxi = { proc = p, stdin = stdin }
  mp.poll_until(function()
    local ok, res = pcall(mp.http.request, { url = "http://127.0.0.1:" .. toxi_port .. "/version", timeout = 1 })
    return ok and res.status == 200
  end, { timeout = 20, label = "Toxiproxy answers" })
end)

mp.after_all(function()
  if toxi then
    toxi.proc:kill("TERM")
    toxi.proc:wait(10)
  end
  if dir then sys.rmtree(dir) end
end)

-- The watchdog and the reaping of stale state tell a dead runner from a
-- live one by pid and start time; a start time of 0 for all (as once)
-- would let a reused pid pass for the runner.
mp.test("a process is known by its pid and start time", function()
  local me = proc.getpid()
  local fields = {}
  for w in read_all("/proc/" .. me .. "/stat"):match("%) (.*)$"):gmatch("%S+") do
    fields[#fields + 1] = w
  end
  mp.expect(proc.info(me).start):eq(tonumber(fields[20]))     -- field 22, starttime
  mp.expect(proc.info(me).start):gt(0)
end)

mp.test("process backend: SIGKILL at random points leaves no process, state or fault", function()
  campaign("process", RUNS)
end, { timeout = 900, skip = RUNS == 0 and "CHAOS_RUNS=0" or nil })

mp.test("compose backend: SIGKILL at random points leaves no container, network or process", function()
  local ok, r = pcall(docker, { "info", "--format", "{{.ServerVersion}}" }, 20)
  if not ok or r.code ~= 0 then
    docker_why = "no Docker Engine answers: " .. (ok and r.stderr or tostring(r))
  else
    local ctx = assert(sys.mkdtemp("mpod-image"))
    assert(mp.exec({ "cp", BUILD .. "/fixtures/podsvc", ctx .. "/podsvc" }).code == 0)
    local b = docker({ "build", "-q", "-t", IMAGE, "-f", "tests/compose/podsvc.Dockerfile", ctx }, 300)
    sys.rmtree(ctx)
    if b.code ~= 0 then error("cannot build the test image: " .. b.stderr) end
    docker_ok = true
  end
  if not docker_ok then mp.fail("skipped: " .. docker_why) end
  campaign("compose", COMPOSE_RUNS)
end, { timeout = 1800, skip = COMPOSE_RUNS == 0 and "CHAOS_COMPOSE_RUNS=0" or nil })
