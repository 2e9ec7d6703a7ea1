-- chaos_postgres.lua: the runner SIGKILLed at a random moment of the
-- bring-up of a cluster with Postgres, many times, then everything it left
-- counted: processes, run folders, state files, listening ports, and SysV
-- shared memory segments and semaphore sets. Once the watchdog has had a
-- bounded wait, every count must be zero after every kill.
--
-- The cluster (tests/clusters/pgchaos.lua) starts Postgres as the
-- reference cluster does (compose/local/postgres.sh, a shell wrapper that
-- runs initdb when its folder is empty, through setpriv when root), then a
-- one-shot psql and a pod. Kills alternate between two kinds of bring-up:
-- "initdb", into an empty folder (the phase whose backends, killed, left
-- shared memory behind), and "copy", on a copy of a folder initdb made once
-- at the start, which reaches a running Postgres sooner. Each kill lands at
-- a random moment of its kind's bring-up, as long as one run of that kind
-- takes to bring the cluster up (measured at the start).
--
-- CHAOS_PG_RUNS sets the number of kills: 200 by default, 100 in the slow
-- variants of the suite (MPOD_TEST_TIME_SCALE > 1: make test-asan), so the
-- file stays well within the runner's 300 s file timeout (about 130 s and
-- 70 s on a 2-CPU machine; a machine so busy that they do not all start
-- within 240 s fails the test, saying so); the kills stop once 5 of them
-- left something.
-- CHAOS_PG_LANES runs kills side by side (default 2), CHAOS_SEED replays
-- the moments.
-- Each lane runs its clusters in an IPC namespace of its own (unshare, as
-- root), held open by a process of the test, so what is counted there is
-- what those runs left and nothing else; without one (not root), the SysV
-- objects with no process attached that appeared during a run are counted
-- machine-wide.

local mp = require "mpod"
local procs = require "procs"
local st = require "selftest"
local proc = require "mpod.proc"
local sys = require "mpod.sys"

mp.exclusive()

local SEED = tonumber(os.getenv("CHAOS_SEED")) or os.time()
local RUNS = tonumber(os.getenv("CHAOS_PG_RUNS")) or (st.TIME_SCALE > 1 and 100 or 200)
local LANES = tonumber(os.getenv("CHAOS_PG_LANES")) or 2
local CLEAN_TIMEOUT = 30                 -- seconds the watchdog gets
local MAX_FAILURES = 5                   -- kills that left something before the test stops
local BUDGET = 240                       -- seconds of the test's 280 in which kills start
local CLUSTER = "tests/clusters/pgchaos.lua"
local CASE = st.case("passing")
local BUILD = os.getenv("BUILD") or "build"

local dir, template

local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local text = f:read("a") or ""
  f:close()
  return text
end

local function must(r, what)
  if not r.ok then
    error(string.format("%s failed (%s): %s%s", what, tostring(r.code or r.signal), r.stdout, r.stderr), 0)
  end
  return r
end

-- IPC namespaces -------------------------------------------------------------------

-- within(ns, argv) -> argv run in the IPC namespace ns (as it is without one)
local function within(ns, argv)
  local out = {}
  for _, a in ipairs(ns and { "nsenter", "--ipc=/proc/" .. ns.proc:pid() .. "/ns/ipc", "--" } or {}) do
    out[#out + 1] = a
  end
  for _, a in ipairs(argv) do out[#out + 1] = a end
  return out
end

-- new_namespace() -> {proc=} for an IPC namespace held open by a sleeping
-- process, or nil and why
local function new_namespace()
  local ok, p = pcall(proc.spawn, { argv = { "unshare", "--ipc", "sleep", "infinity" },
    stdout = "null", stderr = "null" })
  if not ok then return nil, tostring(p) end
  local cmdline = "/proc/" .. p:pid() .. "/cmdline"
  local ready = pcall(mp.poll_until, function()
    if p:poll() then error("unshare --ipc exited", 0) end
    return read_all(cmdline) == "sleep\0infinity\0"
  end, { timeout = st.slow(10), interval = 0.01 })
  if not ready then return nil, "unshare --ipc did not start (root is needed)" end
  return { proc = p }
end

-- ipc_objects(ns) -> {id = line} of the SysV segments and semaphore sets
-- in ns (machine-wide without one: only the segments with no process
-- attached, the only ones a run can leave)
local function ipc_objects(ns)
  local argv = within(ns, { "cat", "/proc/sysvipc/shm", "/proc/sysvipc/sem" })
  local objects, header = {}, nil
  for line in must(mp.exec(argv), "reading /proc/sysvipc").stdout:gmatch("[^\n]+") do
    local fields = {}
    for f in line:gmatch("%S+") do fields[#fields + 1] = f end
    if fields[1] == "key" then
      header = fields
    elseif header then
      local row = { kind = header[4] == "nsems" and "sem" or "shm", line = line }
      for i, name in ipairs(header) do row[name] = fields[i] end
      if ns or row.kind == "sem" or row.nattch == "0" then objects[row.kind .. row[header[2]]] = line end
    end
  end
  return objects
end

-- Leftovers ------------------------------------------------------------------------

-- listening(ports) -> how many of the ports something listens on
local function listening(ports)
  local wanted, n = {}, 0
  for _, port in ipairs(ports) do wanted[string.format("%04X", port)] = true end
  for _, file in ipairs { "/proc/net/tcp", "/proc/net/tcp6" } do
    for port, state in read_all(file):gmatch("\n%s*%d+: %x+:(%x+) %x+:%x+ (%x%x)") do
      if state == "0A" and wanted[port] then n = n + 1 end
    end
  end
  return n
end

-- leftovers(run) -> {processes=, run_dir=, state=, ports=, ipc=} and the total
-- run_processes(run) -> "pid command" of the run's live processes (every
-- one inherits the tag from the runner's environment)
local function run_processes(run)
  return procs.with_env("TAG", run.tag)
end

local function leftovers(run)
  local ipc = 0
  for id, line in pairs(ipc_objects(run.ns)) do
    if not run.ipc_before[id] then ipc = ipc + 1; run.ipc_seen[id] = line end
  end
  local left = {
    processes = #run_processes(run),
    run_dir = #sys.glob(sys.tmpdir() .. "/mpod-pgchaos-" .. run.tag .. ".*"),
    state = #sys.glob(dir .. "/state/pgchaos-" .. run.tag .. ".*.json*"),
    ports = listening(run.ports),
    ipc = ipc,
  }
  local total = 0
  for _, n in pairs(left) do total = total + n end
  return left, total
end

local function describe(left)
  local parts = {}
  for _, k in ipairs { "processes", "run_dir", "state", "ports", "ipc" } do
    parts[#parts + 1] = string.format("%d %s", left[k], k:gsub("_", " "))
  end
  return table.concat(parts, ", ")
end

-- A run and its kill ---------------------------------------------------------------

-- new_run(kind, ns) -> run: a tag, ports, a folder holding PGDATA (a copy of
-- the template for "copy", nothing for "initdb")
local function new_run(kind, ns)
  local e = procs.env()
  local run = { kind = kind, ns = ns, tag = e.TAG, env = e, folder = dir .. "/" .. e.TAG }
  e.MPOD_STATE_DIR, e.BUILD = dir .. "/state", BUILD
  e.PGDATA = run.folder .. "/data"
  run.ports = { tonumber(e.PORT_A), tonumber(e.PORT_B) }
  assert(sys.mkdir_p(run.folder))
  if kind == "copy" then must(mp.exec { "cp", "-a", template, e.PGDATA }, "copying the template") end
  run.ipc_before, run.ipc_seen = ipc_objects(ns), {}
  return run
end

-- start(run) -> the runner's Proc and a reader of its stdout
local function start(run)
  local argv = within(run.ns, { st.MPOD, "--up", "-C", CLUSTER, CASE })
  local p, _, out = proc.spawn { argv = argv, env = run.env, stdout = "pipe", stderr = "null" }
  local reader = { seen = "", t0 = mp.now() }
  function reader.poll(timeout)
    local chunk = out:read(timeout)
    if chunk then reader.seen = reader.seen .. chunk end
    return chunk
  end
  return p, reader
end

local UP_MARK = "# Subtest: " .. CASE

-- calibrate(kind, ns) -> seconds a run of that kind takes to bring the
-- cluster up (a whole run, which must pass and leave nothing), and the
-- run (its folder is the caller's to remove)
local function calibrate(kind, ns)
  local run = new_run(kind, ns)
  local p, reader = start(run)
  local limit = st.slow(120)
  while not reader.seen:find(UP_MARK, 1, true) and mp.now() - reader.t0 < limit do
    if not reader.poll(0.05) and p:poll() then break end
  end
  local up = mp.now() - reader.t0
  while reader.poll(0.2) do end
  local status = p:wait(limit)
  if not (reader.seen:find(UP_MARK, 1, true) and status and status.code == 0) then
    mp.fail(kind .. ": the calibration run failed; its output:\n" .. reader.seen)
  end
  mp.poll_until(function() local _, n = leftovers(run); return n == 0 end,
    { timeout = CLEAN_TIMEOUT, label = kind .. ": a finished run leaves nothing" })
  return up, run
end

-- kill_once(kind, ns, delay) -> record {at=, up=, left=, total=, clean=}
local function kill_once(kind, ns, delay)
  local run = new_run(kind, ns)
  local p, reader = start(run)
  while mp.now() - reader.t0 < delay do reader.poll(0.01) end
  p:kill("KILL")
  local killed_at = mp.now()
  p:wait(st.slow(10))
  local record = { kind = kind, at = killed_at - reader.t0,
                   up = reader.seen:find(UP_MARK, 1, true) ~= nil }
  local left, total = leftovers(run)
  while total > 0 and mp.now() - killed_at < CLEAN_TIMEOUT do
    mp.sleep(0.1)
    left, total = leftovers(run)
  end
  record.left, record.total, record.clean = left, total, mp.now() - killed_at
  if total > 0 then
    local lines = run_processes(run)
    for _, line in pairs(run.ipc_seen) do lines[#lines + 1] = "ipc: " .. line end
    record.detail = table.concat(lines, "\n")
  end
  sys.rmtree(run.folder)
  return record
end

-- Tests ----------------------------------------------------------------------------

mp.before_all(function()
  math.randomseed(SEED)
  mp.note(string.format("chaos seed %d (replay with CHAOS_SEED=%d)", SEED, SEED))
  dir = assert(sys.mkdtemp("mpod-pgchaos"))
  assert(sys.mkdir_p(dir .. "/state"))
end)

mp.after_all(function()
  if dir then sys.rmtree(dir) end
end)

mp.test("Postgres bring-up: SIGKILL of the runner at random moments leaves nothing", function()
  local started = mp.now()
  local namespaces, why = {}, nil
  for i = 1, LANES do namespaces[i], why = new_namespace() end
  if not namespaces[1] then mp.note("SysV objects counted machine-wide: " .. tostring(why)) end
  -- the first run's folder, made by postgres.sh and shut down cleanly,
  -- is the template of the "copy" kind
  local up, run = {}, nil
  up.initdb, run = calibrate("initdb", namespaces[1])
  template = dir .. "/template"
  assert(os.rename(run.folder .. "/data", template))
  sys.rmtree(run.folder)
  up.copy, run = calibrate("copy", namespaces[1])
  sys.rmtree(run.folder)
  mp.note(string.format("bring-up takes %.2f s with initdb, %.2f s on a copy", up.initdb, up.copy))
  local moments = {}                       -- drawn first: the lanes' order varies
  for i = 1, RUNS do moments[i] = math.random() end
  local t0, records, next_run, failed = mp.now(), {}, 1, 0
  local function lane(ns)
    while next_run <= RUNS and failed < MAX_FAILURES and mp.now() - started < BUDGET do
      local i = next_run
      next_run = next_run + 1
      local kind = i % 2 == 1 and "initdb" or "copy"
      local r = kill_once(kind, ns, moments[i] * up[kind])
      r.index = i
      records[#records + 1] = r
      if r.total > 0 then failed = failed + 1 end
    end
  end
  local lanes = {}
  for i = 1, LANES do lanes[i] = mp.spawn(lane, namespaces[i]) end
  mp.wait_all(lanes)
  for _, ns in pairs(namespaces) do ns.proc:kill("KILL") end
  local failures, cleans, after_up = {}, {}, 0
  table.sort(records, function(a, b) return a.index < b.index end)
  for _, r in ipairs(records) do
    cleans[#cleans + 1] = r.clean
    if r.up then after_up = after_up + 1 end
    if r.total > 0 then
      failures[#failures + 1] = string.format("kill %d (%s, at %.2f s) left %s:\n%s",
        r.index, r.kind, r.at, describe(r.left), r.detail or "")
    end
  end
  table.sort(cleans)
  mp.note(string.format("%d kills in %.1f s (%d after the bring-up); everything gone after " ..
    "%.2f s median, %.2f s at most; %d left something", #records, mp.now() - t0, after_up,
    cleans[(#cleans + 1) // 2], cleans[#cleans], #failures))
  if #failures > 0 then mp.fail(table.concat(failures, "\n")) end
  if #records < RUNS then
    mp.fail(string.format("only %d of %d kills started within %d s: the machine is too busy " ..
      "(CHAOS_PG_RUNS sets fewer)", #records, RUNS, BUDGET))
  end
end, { timeout = 280, skip = RUNS == 0 and "CHAOS_PG_RUNS=0" or nil })
