-- mpod/runner/session.lua: the cluster side of a run and the cluster commands
-- (up, down, status, logs): finding the cluster file, bringing the cluster
-- up (choosing the ports of its ${PORT:name}, and once more with new ones
-- when a service finds one taken) or attaching to one that is up (found
-- by its state key: name and cluster file), the control object the runner
-- serves pod requests with, and guaranteed teardown.
--
-- Teardown is guaranteed three ways. A run that brought the cluster up
-- takes it down at its end, on a failure, and on SIGINT or SIGTERM. If the
-- runner is killed outright, its services die with it (PR_SET_PDEATHSIG)
-- and a watchdog process (`mpod-lua --watchdog STATE`, started detached,
-- holding a pipe from the runner) wakes at the pipe's end of file and runs
-- the same teardown from the state file. And `up` and `down` reap whatever
-- a dead runner's state file still lists (every process carries
-- MPOD_RUN_ID, so even grandchildren are found).

local clusterfile = require "mpod.runner.clusterfile"
local control = require "mpod.runner.control"
local errors = require "mpod.error"
local ports = require "mpod.runner.ports"
local proc = require "mpod.proc"
local redact = require "mpod.redact"
local sched = require "mpod.sched"
local state = require "mpod.runner.state"
local stream = require "mpod.stream"
local sys = require "mpod.sys"

local M = {}

local function say(fmt, ...)
  redact.stderr("mpod-lua: " .. string.format(fmt, ...) .. "\n")
end

local function message_of(err)
  return errors.is(err) and tostring(err.message) or tostring(err)
end

local function backend_for(c, st)
  return require("mpod.runner.backend." .. c.backend).new(c, st)
end

-- Load the cluster file (twice when needed: its name first, to find the
-- state and so the run folder that ${RUN_DIR} expands to and the ports
-- that ${PORT:name} does); what it sets as secret is hidden in every
-- report from then on. opts.name is --name (or MPOD_NAME).
local function load_cluster(path, opts, run_dir, chosen)
  local c = clusterfile.load(path, run_dir, { name = opts.name, ports = chosen })
  redact.add_cluster_secrets(c)
  return c
end

-- The key of the state of the cluster c of the cluster file at path.
local function key_of(c, path)
  return state.key(c.name, path)
end

local function has_managed_services(c)
  if c.backend ~= "process" then return true end
  for _, svc in ipairs(c.services) do
    if svc.cmd then return true end
  end
  return false
end

-- Teardown from a state record alone (no cluster file needed) ---------------

-- Stop every service the state records as `stop` does, all at once: its
-- stop signal to its whole process group, a wait up to its stop timeout,
-- then KILL. A group is known to be the service's by its first process
-- (pid and start time) or, once that is gone (a wrapper that died first),
-- by a process of the run (MPOD_RUN_ID) still in it.
local function stop_recorded_processes(st)
  local run_groups = state.run_groups(st.run_id)
  local list = {}
  for _, rec in pairs(st.services or {}) do
    if state.alive(rec.pid, rec.start) or run_groups[rec.pid] then
      list[#list + 1] = { pid = rec.pid, start = rec.start, signal = rec.stop_signal,
                          timeout = rec.stop_timeout }
    end
  end
  state.stop_services(list)
end

-- teardown(st [, backend]): stop everything the state lists, sweep the run's
-- processes, remove its run folder and the state file.
function M.teardown(st, backend)
  if backend then
    pcall(backend.down, backend)
  elseif st.backend == "compose" then
    pcall(function() require("mpod.runner.backend.compose").down_from_state(st) end)
  else
    stop_recorded_processes(st)
  end
  state.sweep(st.run_id)
  if st.proxies_state then
    pcall(function() require("mpod.runner.proxies").reset_from_state(st) end)
  end
  if st.run_dir and st.run_dir:match("/mpod%-") then sys.rmtree(st.run_dir) end
  state.remove(st)
end

-- A previous record of this cluster: reap it when its runner is gone.
local function reap_stale(name, key)
  local st = state.load(key)
  if not st then return true end
  if st.persistent then
    return nil, string.format("cluster %s is already up (started by `mpod-lua up` or --keep); " ..
      "take it down with `mpod-lua down` first, or run without --up", name)
  end
  if st.runner_pid ~= proc.getpid() and state.alive(st.runner_pid, st.runner_start) then
    return nil, string.format("cluster %s is in use by another mpod-lua run (pid %d)",
      name, st.runner_pid)
  end
  say("reaping what a previous run of %s left behind", name)
  M.teardown(st)
  return true
end

-- A new run's state, not saved yet (nothing is made on disk). Its run
-- folder is named after the cluster and the run id (16 random hex digits)
-- and made only once the state naming it is saved (bring_up), so a runner
-- killed in between leaves no folder that no state names.
local function new_state(c, path, persistent)
  local me = proc.getpid()
  local run_id = state.new_run_id()
  local st = {
    cluster = c.name, file = sys.realpath(path), backend = c.backend, run_id = run_id,
    run_dir = string.format("%s/mpod-%s.%s", sys.tmpdir(), c.name, run_id),
    path = state.path(key_of(c, path)), ports = ports.allocate(c.port_names),
    persistent = persistent, runner_pid = me, runner_start = (proc.info(me) or {}).start,
    services = {},
  }
  if c.compose then st.compose = c.compose end
  return st
end

-- The watchdog: a detached process that tears the cluster down when the
-- pipe from the runner ends while the runner's state file still exists.
local function start_watchdog(st)
  local _, pipe = proc.spawn {
    argv = { sys.self_exe(), "--watchdog", st.path, tostring(st.runner_pid) }, stdin = "pipe",
    stdout = "null", stderr = "null", session = true,
  }
  return pipe
end

-- The pipe ends when the runner's files are closed, which the kernel does
-- while the process still shows as running: the watchdog waits up to
-- RUNNER_EXIT_WAIT for it to be gone before deciding it lives on (it then
-- closed the pipe itself, after its own teardown). Seen by the runner-chaos
-- test: watchdogs quit at once and left a killed run's cluster behind. The
-- first sighting of the runner gone decides (state.wait_gone): a second
-- look once saw it in the state X of its parent's reaping, as if running.
local RUNNER_EXIT_WAIT = 10

-- watchdog(path, runner_pid): a runner killed while it saved its first
-- state leaves no state, only the copy it was writing: that is removed.
function M.watchdog(path, runner_pid)
  require("mpod.reaper").wait_for_eof()
  local st = state.load(path)
  if not st and runner_pid then os.remove(state.tmp_path(path, runner_pid)) end
  if not st or st.persistent then return 0 end
  if not state.wait_gone(st.runner_pid, st.runner_start, RUNNER_EXIT_WAIT) then return 0 end
  st = state.load(path)               -- its own teardown may have finished
  if st then M.teardown(st) end
  return 0
end

-- Interrupts: SIGINT and SIGTERM end the run cleanly.
local function watch_signals(s, reporter)
  local signals = stream.new(proc.catch_signals { "INT", "TERM" })
  sched.spawn(function()
    local byte = signals:read()
    if not byte then return end
    local name = proc.signame(byte:byte()) or "?"
    local runner = require("mpod.runner.run")
    if runner.running() then
      runner.interrupt("interrupted by SIG" .. name)
    elseif reporter then
      reporter:bail("interrupted by SIG" .. name)
    end
    M.close(s, nil)
    if reporter then                            -- closing line, JUnit
      local ok, err = pcall(reporter.finish, reporter)
      if not ok then redact.stderr("mpod-lua: the report could not be finished: " .. tostring(err) .. "\n") end
    end
    proc.exit_now(128 + byte:byte())
  end):name("signal watcher")
end

-- Bringing up and attaching -------------------------------------------------------

local function bring_up(path, opts)
  local c0 = load_cluster(path, opts, "")
  local ok, why = reap_stale(c0.name, key_of(c0, path))
  if not ok then return nil, why end
  local st = new_state(c0, path, opts.keep or false)
  -- the watchdog first, before anything exists: it reads the state only
  -- when the runner is gone (none yet: nothing to do), so what is saved
  -- later counts, and a kill from here on is covered. The state is saved
  -- before the run folder is made, so the folder never outlives its record.
  local watchdog = not st.persistent and start_watchdog(st) or nil
  state.save(st)
  local made, err = sys.mkdir_p(st.run_dir, 448)
  if not made then
    M.teardown(st)
    return nil, "cannot create the run folder: " .. tostring(err)
  end
  local c = load_cluster(path, opts, st.run_dir, st.ports)
  local s = { cluster = c, st = st, owns = true, keep = opts.keep, watchdog = watchdog }
  s.backend = backend_for(c, st)
  state.save(st)                      -- with what the backend added
  return s
end

-- up_from(path) -> the names of the clusters up from the cluster file at
-- path (under another name than the one asked for), sorted
local function up_from(path)
  local file, names = sys.realpath(path), {}
  for _, st in ipairs(state.all()) do
    if st.file == file and type(st.cluster) == "string" then names[#names + 1] = st.cluster end
  end
  table.sort(names)
  return names
end

local function not_up(c, path, opts)
  local text = string.format("cluster %s is not up: bring it up with `mpod-lua up -C %s%s`, " ..
    "or pass --up", c.name, path, opts.name and " --name " .. opts.name or "")
  local others = up_from(path)
  if #others == 0 then return text end
  return string.format("%s (up from this cluster file under another name: %s; a run finds " ..
    "a cluster by the name its `up` had: give the same --name, MPOD_NAME or environment)",
    text, table.concat(others, ", "))
end

local function attach(path, opts)
  local c0 = load_cluster(path, opts, "")
  if not has_managed_services(c0) then
    local st = { cluster = c0.name, services = {}, run_dir = "", run_id = "" }
    return { cluster = c0, st = st, backend = backend_for(c0, st), attached = true }
  end
  local st = state.load(key_of(c0, path))
  if not st and c0.backend == "compose" then
    -- a project brought up by hand: use it, and never take it down
    st = { cluster = c0.name, backend = "compose", persistent = true, services = {},
           run_dir = "", run_id = "", path = state.path(key_of(c0, path)) }
  elseif not st then
    return nil, not_up(c0, path, opts)
  end
  local c = load_cluster(path, opts, st.run_dir, st.ports or {})
  return { cluster = c, st = st, backend = backend_for(c, st), attached = true }
end

local function bail(reporter, text)
  if reporter then reporter:bail(text) end
  say("%s", text)
end

-- connect(s): the proxies and the control object of session s
local function connect(s)
  s.proxies = require("mpod.runner.proxies").new(s.cluster)
  s.control = control.new(s.backend, { proxies = s.proxies })
  if s.proxies and s.st.run_id ~= "" then
    s.st.proxies_state = { url = s.proxies.url }
    state.save(s.st)
  end
end

-- start(s) -> true | false, error: bring the cluster up (or heal the one
-- attached to)
local function start(s)
  return pcall(function()
    if s.owns then
      s.backend:up()
      if s.proxies then s.proxies:setup() end
    else
      s.control:heal()
    end
  end)
end

-- restart_with_new_ports(s, path, opts, err) -> true when err says a
-- service could not bind a port chosen for it (another program took it
-- between the choice and the bind) and the cluster was torn down and
-- brought up again, with new ports, into s; then the result of start
local function restart_with_new_ports(s, path, opts, err)
  local names = s.owns and ports.taken(err, s.cluster)
  if not names then return false end
  local taken = {}
  for _, name in ipairs(names) do taken[name] = s.st.ports[name] end
  say("cluster %s: %s could not listen on a port chosen for it (%s), taken by another " ..
    "program since; bringing the cluster up again with new ports", s.cluster.name,
    err.service, ports.describe(taken))
  M.teardown(s.st, s.backend)
  if s.watchdog then s.watchdog:close() end
  s.watchdog = nil
  local ok, again, why = pcall(bring_up, path, opts)
  if not (ok and again) then return true, false, ok and why or again end
  for k, v in pairs(again) do s[k] = v end
  connect(s)
  return true, start(s)
end

-- open(path, explicit, opts, reporter) -> session | nil, exit code
function M.open(path, explicit, opts, reporter)
  if not sys.stat(path) then
    if explicit or opts.up then
      bail(reporter, path .. ": no such cluster file")
      return nil, 2
    end
    local s = { cluster_error = "no cluster file: " .. path ..
      " does not exist (choose one with -C FILE or MPOD_CLUSTER)" }
    watch_signals(s, reporter)
    return s
  end
  local ok, s, why = pcall(opts.up and bring_up or attach, path, opts)
  if not ok then
    bail(reporter, message_of(s))
    return nil, errors.is(s, "cluster") and 2 or 3
  end
  if not s then bail(reporter, why); return nil, 3 end
  -- the files of a cluster run talk HTTP: libcurl is set up once, here,
  -- and not again in every file's process
  require("mpod.http.core").prepare()
  s.dump_logs = opts.dump_logs
  watch_signals(s, reporter)
  connect(s)
  local ready_ok, err = start(s)
  if not ready_ok then
    local retried, again_ok, again_err = restart_with_new_ports(s, path, opts, err)
    if retried then ready_ok, err = again_ok, again_err end
  end
  if not ready_ok then
    local verb = s.owns and "could not be brought up" or "cannot be reached"
    bail(reporter, string.format("cluster %s %s: %s", s.cluster.name, verb, message_of(err)))
    if errors.is(err) and err.log then redact.stderr(err.log) end
    s.keep = false                -- a cluster that never came up is not kept
    M.close(s, nil)
    return nil, 3
  end
  s.description = clusterfile.describe(s.cluster)
  return s
end

local function dump_logs(s, dir)
  local ok, err = sys.mkdir_p(dir)
  if not ok then say("--dump-logs: %s", err); return end
  for _, svc in ipairs(s.cluster.services) do
    local got, text = pcall(s.backend.logs, s.backend, svc.name, { stamps = true })
    if got then
      local f = io.open(dir .. "/" .. svc.name .. ".log", "w")
      if f then f:write(redact.redact(text)); f:close() end
    end
  end
  say("pod logs written to %s", dir)
end

-- close(session, totals): dump logs after failures, take down what this
-- session brought up. A second caller (the run ending while SIGINT's
-- teardown is under way) waits for the first to finish.
function M.close(s, totals)
  if not s or not s.backend then return 0 end
  if s.closing then
    while not s.closed do s.close_cond:wait() end
    return 0
  end
  s.closing, s.close_cond = true, sched.cond()
  local failed = totals and (totals.failed > 0 or totals.bailed)
  if s.dump_logs and (failed or not totals) then dump_logs(s, s.dump_logs) end
  if s.owns and not s.keep then
    M.teardown(s.st, s.backend)
  elseif s.owns then
    say("cluster %s left running (mpod-lua down -C %s)", s.cluster.name, s.cluster.path)
  end
  if s.watchdog then s.watchdog:close() end
  s.closed = true
  s.close_cond:broadcast()
  return 0
end

-- Commands --------------------------------------------------------------------

local function print_status(s)
  local rows = s.backend:status()
  local widths = { 4, 5, 6 }
  for _, r in ipairs(rows) do
    widths[1] = math.max(widths[1], #r.name)
    widths[2] = math.max(widths[2], #r.state)
    widths[3] = math.max(widths[3], #r.health)
  end
  local fmt = string.format("%%-%ds  %%-%ds  %%-%ds  %%s\n", widths[1], widths[2], widths[3])
  io.stdout:write(string.format(fmt, "POD", "STATE", "HEALTH", "URL"))
  for _, r in ipairs(rows) do
    io.stdout:write(redact.redact(string.format(fmt, r.name, r.state, r.health, r.url)))
  end
  if next(s.st.ports or {}) then
    io.stdout:write("ports: " .. ports.describe(s.st.ports) .. "\n")
  end
end

-- logs -f: print the log, then every line that arrives, until SIGINT.
-- Each poll prints the lines stamped in [previous poll, this poll), so no
-- line is printed twice or missed.
local function follow_logs(s, name)
  local signals = stream.new(proc.catch_signals { "INT", "TERM" })
  local stop = false
  sched.spawn(function() signals:read(); stop = true end)
  local since
  while not stop do
    local now = sched.wallclock()
    io.stdout:write(s.backend:logs(name, { since = since, ["until"] = now }))
    io.stdout:flush()
    since = now
    sched.sleep(0.2)
  end
end

local COMMANDS = {}

function COMMANDS.up(path, _, opts)
  local s, code = M.open(path, true, { up = true, keep = true, dump_logs = opts.dump_logs,
                                      name = opts.name })
  if not s then return code end
  print_status(s)
  return 0
end

function COMMANDS.down(path, _, opts)
  local c = load_cluster(path, opts, "")
  local st = state.load(key_of(c, path))
  if not st then say("cluster %s is not up", c.name); return 0 end
  local ok, full = pcall(load_cluster, path, opts, st.run_dir, st.ports or {})
  M.teardown(st, ok and backend_for(full, st) or nil)
  say("cluster %s is down", c.name)
  return 0
end

function COMMANDS.status(path, _, opts)
  local s, why = attach(path, opts)
  if not s then say("%s", why); return 3 end
  print_status(s)
  return 0
end

function COMMANDS.logs(path, args, opts)
  local name = args[1]
  if not name then say("usage: mpod-lua logs POD [-f]"); return 2 end
  local s, why = attach(path, opts)
  if not s then say("%s", why); return 3 end
  local ok, err = pcall(function()
    if opts.follow then follow_logs(s, name)
    else io.stdout:write(s.backend:logs(name, {})) end
  end)
  if not ok then say("%s", message_of(err)); return 2 end
  return 0
end

-- command(name, args, path, explicit, opts) -> exit code
function M.command(name, args, path, _, opts)
  if not sys.stat(path) then
    say("%s: no such cluster file (choose one with -C FILE or MPOD_CLUSTER)", path)
    return 2
  end
  local ok, code = pcall(COMMANDS[name], path, args, opts)
  if ok then return code end
  say("%s", message_of(code))
  return errors.is(code, "cluster") and 2 or 3
end

return M
