-- mpod/runner/backend/process.lua: pods that are local processes.
--
-- Each service runs in its own process group with its output going through
-- a log pump (`mpod-lua --log-pump`, logpump.c) into <run dir>/logs/, one
-- timestamped line at a time, size-capped. A cluster brought up for a
-- single run dies with the runner: each service gets its stop_signal when
-- the runner dies (PR_SET_PDEATHSIG), and the watchdog stops their groups
-- as `stop` does, from what the state file records, then sweeps the run's
-- processes (MPOD_RUN_ID); a cluster from `mpod-lua up` or --keep is
-- detached (its own session) and outlives the command.
--
-- Control: kill sends the signal to the service (KILL to its whole group,
-- like a container dying), stop sends stop_signal (TERM) to its whole
-- group, waits for the group to end and KILLs what is left after the grace
-- period (state.stop_services), pause and unpause are STOP and CONT to the
-- group.
-- Processes started by another mpod-lua process (the `up` before a run)
-- are found again through the state file and checked by pid and start
-- time, so a recycled pid is never mistaken for a pod. Their exit status
-- goes to the process that started them, not to this one: what `info`
-- says of how they ended comes from what the engine did to them (the
-- signal it sent, kept per process in `ending`) and when it saw them gone.

local common = require "mpod.runner.backend.common"
local errors = require "mpod.error"
local proc = require "mpod.proc"
local ready = require "mpod.runner.ready"
local sched = require "mpod.sched"
local state = require "mpod.runner.state"
local sys = require "mpod.sys"

local M = {}
local Backend = {}
Backend.__index = Backend

local DEFAULT_LOG_LIMIT = 8 * 1024 * 1024
local DEFAULT_STOP_TIMEOUT = 10
local KILL_WAIT = 5
local ONESHOT_TIMEOUT = 300

-- new(cluster, st) -> backend; st is the state record (mpod.runner.state)
function M.new(cluster, st)
  local b = setmetatable({ cluster = cluster, st = st, procs = {}, pumps = {}, ending = {} },
    Backend)
  st.services = st.services or {}
  return b
end

function Backend:service(name)
  return common.service(self, name)
end

local function managed(svc)
  return svc.cmd ~= nil
end

function Backend:manages(svc)
  return managed(svc)
end

function Backend:record(name)
  return self.st.services[name]
end

function Backend:log_path(name)
  return self.st.run_dir .. "/logs/" .. name .. ".log"
end

-- State ---------------------------------------------------------------------

local function observed_state(self, name)
  local rec = self:record(name)
  if not rec then return "created" end
  local p = self.procs[name]
  if p and p:poll() then return "exited" end
  local info = proc.info(rec.pid)
  if state.ended(info) or info.start ~= rec.start then return "exited" end
  if info.state == "T" or info.state == "t" then return "paused" end
  return "running"
end

-- The record of what ended name's current process: {signal=, by=, at=,
-- killed_after=, ended_at=} (all optional; times are wall-clock seconds).
function Backend:ending_of(name)
  local e = self.ending[name]
  if not e then
    e = {}
    self.ending[name] = e
  end
  return e
end

-- The engine sent `signal` (a name) to name's process, for `by`.
function Backend:note_signal(name, signal, by)
  local e = self:ending_of(name)
  e.signal, e.by, e.at = signal, by, sched.wallclock()
end

-- name's process is seen gone now (the first sighting counts).
function Backend:note_ended(name)
  local e = self:ending_of(name)
  e.ended_at = e.ended_at or sched.wallclock()
end

-- state(name) -> "running", "paused", "exited", "created" or "external"
function Backend:state(name)
  local svc = self:service(name)
  if not managed(svc) then return "external" end
  local s = observed_state(self, name)
  if s == "exited" then self:note_ended(name) end
  return s
end

local NOT_OURS = "it was started by another mpod-lua process (`mpod-lua up`), " ..
  "which got its exit status"

-- exit_text(name) -> how name's process ended: "exit code N" or "killed by
-- SIGX" when this process started it (and reaped it), or when the engine
-- sent it SIGKILL; else what the engine saw.
function Backend:exit_text(name)
  local p = self.procs[name]
  local status = p and p:poll()
  if status and status.code then return "exit code " .. status.code end
  if status then return "killed by SIG" .. tostring(status.signame) end
  local e = self.ending[name] or {}
  if e.signal == "KILL" and e.ended_at then return "killed by SIGKILL" end
  if e.signal and e.ended_at then
    return string.format("exit status unknown: it ended within %.2f s of SIG%s from %s; %s",
      math.max(e.ended_at - e.at, 0), e.signal, e.by, NOT_OURS)
  end
  return "exit status unknown: no signal from the engine ended it; " .. NOT_OURS
end

function Backend:started_at(name)
  local rec = self:record(name)
  return rec and rec.started_at or 0
end

-- Logs ------------------------------------------------------------------------

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local text = f:read("a")
  f:close()
  return text
end

local PUMP_DRAIN = 1

local function iso_time(stamp)
  local seconds = math.floor(stamp)
  return os.date("!%Y-%m-%dT%H:%M:%S", seconds) .. string.format(".%03dZ",
    math.floor((stamp - seconds) * 1000 + 0.5) % 1000)
end

-- logs(name, {since=, until=, tail=n, stamps=bool}) -> text; since and
-- until are wall-clock seconds (since inclusive, until exclusive, both at
-- the stamps' millisecond: common.log_time); stamps
-- prefixes each line with its ISO 8601 time. A service that has exited
-- gets its last lines written out first.
function Backend:logs(name, opts)
  self:service(name)
  opts = opts or {}
  local pump, p = self.pumps[name], self.procs[name]
  if pump and p and p:poll() and sched.current() then pump:wait(PUMP_DRAIN) end
  local path = self:log_path(name)
  local text = read_file(path .. ".1") .. read_file(path)
  local since, till = common.log_time(opts.since), common.log_time(opts["until"])
  local lines = {}
  for stamp, line in text:gmatch("(%d+%.%d+) ([^\n]*)\n") do
    local t = tonumber(stamp)
    if (not since or t >= since) and (not till or t < till) then
      lines[#lines + 1] = opts.stamps and (iso_time(t) .. " " .. line) or line
    end
  end
  if opts.tail and #lines > opts.tail then
    lines = table.move(lines, #lines - opts.tail + 1, #lines, 1, {})
  end
  if #lines == 0 then return "" end
  return table.concat(lines, "\n") .. "\n"
end

-- Starting and stopping ---------------------------------------------------------

function Backend:spawn(name)
  local svc = self:service(name)
  if not managed(svc) then
    errors.usage(string.format("pod %s is not managed by mpod-lua (no cmd in the cluster file)", name))
  end
  assert(sys.mkdir_p(self.st.run_dir .. "/logs"))
  local log = self:log_path(name)
  local detached = self.st.persistent
  local marker = { MPOD_RUN_ID = self.st.run_id }
  local env = { MPOD_RUN_ID = self.st.run_id }
  for k, v in pairs(svc.env or {}) do env[k] = v end
  -- The pump does not die with the runner: it ends when the service has
  -- closed its output, so a service stopping after the runner died can
  -- still write (a write to a pipe nobody reads kills most programs with
  -- SIGPIPE); the watchdog's sweep ends it otherwise.
  local pump, pump_in = proc.spawn {
    argv = { sys.self_exe(), "--log-pump", log, tostring(self.cluster.log_limit or DEFAULT_LOG_LIMIT) },
    stdin = "pipe", stdout = "null", stderr = "null", env = marker, session = detached,
  }
  -- The pump stamps a line with the millisecond it read it (truncated), and
  -- the service may print before spawn returns: its start time is taken
  -- first, at that resolution, so its first lines count as since its start
  local started_at = common.log_time(sched.wallclock())
  local ok, p = pcall(proc.spawn, {
    argv = svc.cmd, env = env, cwd = svc.cwd or self.cluster.root, stdin = "null",
    stdout = pump_in:fileno(), stderr = "stdout", session = detached,
    die_with_parent = not detached and proc.signum(svc.stop_signal or "TERM"),
  })
  if not ok then pump_in:write("mpod-lua: " .. tostring(p) .. "\n") end
  pump_in:close()
  if not ok then
    errors.raise("start", string.format("cannot start %s: %s", name, tostring(p)))
  end
  local info = proc.info(p:pid()) or {}
  self.procs[name] = p
  self.pumps[name] = pump
  self.ending[name] = nil
  self.st.services[name] = { pid = p:pid(), start = info.start, log = log,
                             started_at = started_at, stop_signal = svc.stop_signal,
                             stop_timeout = svc.stop_timeout }
  state.save(self.st)
end

-- Wait until name's process is gone (up to `timeout`); true when it is.
function Backend:wait_exit(name, timeout)
  local p = self.procs[name]
  if p then return p:wait(timeout) ~= nil end
  local rec = self:record(name)
  return state.wait_gone(rec.pid, rec.start, timeout)
end

function Backend:running_pid(name, action)
  local s = self:state(name)
  if s == "external" then
    errors.usage(string.format("cannot %s pod %s: it is not managed by mpod-lua " ..
      "(no cmd in the cluster file)", action, name))
  end
  if s ~= "running" and s ~= "paused" then
    errors.raise("state", string.format("cannot %s pod %s: it is %s", action, name, s))
  end
  return self:record(name).pid
end

function Backend:kill(name, signal)
  signal = signal or "KILL"
  local pid = self:running_pid(name, "kill")
  local num = proc.signum(signal)
  self:note_signal(name, proc.signame(num) or tostring(num), "pod:kill")
  if num == proc.signum("KILL") then
    proc.kill(pid, "KILL", true)
    if self:wait_exit(name, KILL_WAIT) then self:note_ended(name) end
  else
    proc.kill(pid, num)
  end
  return true
end

-- stop(name [, grace]): also stops what is left of the group of a service
-- whose own process has exited (a wrapper that died before the program it
-- started)
function Backend:stop(name, grace)
  local svc = self:service(name)
  local s = self:state(name)
  if s == "created" then return true end
  if s ~= "exited" then self:running_pid(name, "stop") end    -- raises when it cannot
  local rec = self:record(name)
  if s == "exited" and not state.run_groups(self.st.run_id)[rec.pid] then return true end
  local timeout = grace or svc.stop_timeout or DEFAULT_STOP_TIMEOUT
  if s ~= "exited" then
    local num = proc.signum(svc.stop_signal or "TERM")
    self:note_signal(name, proc.signame(num) or tostring(num), "pod:stop")
  end
  local clean = state.stop_services { { pid = rec.pid, start = rec.start,
                                        signal = svc.stop_signal, timeout = timeout } }
  if s ~= "exited" and not clean then
    self:note_signal(name, "KILL", string.format("pod:stop, after %g s", timeout))
  end
  if self:wait_exit(name, KILL_WAIT) then self:note_ended(name) end
  return true
end

function Backend:start(name)
  local s = self:state(name)
  if s == "running" or s == "paused" then return true end
  self:spawn(name)
  return true
end

function Backend:pause(name)
  local pid = self:running_pid(name, "pause")
  proc.kill(pid, "STOP", true)
  local deadline = sched.now() + KILL_WAIT
  while self:state(name) ~= "paused" and sched.now() < deadline do sched.sleep(0.01) end
  return true
end

function Backend:unpause(name)
  local pid = self:running_pid(name, "unpause")
  proc.kill(pid, "CONT", true)
  return true
end

-- Bringing the cluster up ---------------------------------------------------------

-- Start one service once its dependencies are ready; oneshot services must
-- exit 0. Sets status[name] to "ready" or to an error.
function Backend:bring_up(svc, status, changed)
  for _, dep in ipairs(svc.after or {}) do
    while status[dep] == nil do changed:wait() end
    if status[dep] ~= "ready" then
      status[svc.name] = errors.new("start", string.format(
        "%s not started: it comes after %s, which failed", svc.name, dep))
      changed:broadcast()
      return
    end
  end
  local ok, err = pcall(function()
    if managed(svc) then self:spawn(svc.name) end
    if svc.oneshot then self:wait_oneshot(svc) else ready.wait(svc, self) end
  end)
  status[svc.name] = ok and "ready" or err
  changed:broadcast()
end

function Backend:wait_oneshot(svc)
  local timeout = (svc.ready and svc.ready.timeout) or ONESHOT_TIMEOUT
  local status = self.procs[svc.name]:wait(timeout)
  local log = self:logs(svc.name, { tail = 20 })
  if not status then
    errors.raise("ready", string.format("%s (oneshot) did not finish within %g s", svc.name, timeout),
      { log = log })
  end
  if status.code ~= 0 then
    errors.raise("ready", string.format("%s (oneshot) failed: %s", svc.name,
      status.code and ("exit code " .. status.code) or ("killed by SIG" .. status.signame)), { log = log })
  end
end

-- up(): start every service in dependency order, each when what it comes
-- after is ready; raises the first failure.
function Backend:up()
  local status, changed = {}, sched.cond()
  local tasks = {}
  for _, svc in ipairs(self.cluster.services) do
    tasks[#tasks + 1] = sched.spawn(function() self:bring_up(svc, status, changed) end)
  end
  for _, t in ipairs(tasks) do t:join() end
  for _, svc in ipairs(self.cluster.services) do
    if status[svc.name] ~= "ready" then error(status[svc.name], 0) end
  end
end

-- Services in reverse dependency order (dependants first).
function Backend:stop_order()
  local order, seen = {}, {}
  local function visit(svc)
    if seen[svc.name] then return end
    seen[svc.name] = true
    for _, dep in ipairs(svc.after or {}) do visit(self.cluster.by_name[dep]) end
    table.insert(order, 1, svc.name)
  end
  for _, svc in ipairs(self.cluster.services) do visit(svc) end
  return order
end

-- down(): stop everything (dependants first), then sweep the run's leftovers.
function Backend:down()
  for _, name in ipairs(self:stop_order()) do
    if managed(self:service(name)) then pcall(self.stop, self, name) end
  end
  return state.sweep(self.st.run_id)
end

function Backend:restart(name, grace)
  self:stop(name, grace)
  return self:start(name)
end

local SHARED_NETWORK = "its pods share the host's network; use the compose backend"

function Backend:isolate()
  common.unsupported("process", "pod:isolate()", SHARED_NETWORK)
end

function Backend:rejoin()
  common.unsupported("process", "pod:rejoin()", SHARED_NETWORK)
end

-- info(name) -> {state=, pid=, started_at=, exit=, signal=, ended_at=}:
-- signal is the last one the engine sent the process, ended_at when it
-- first saw the process gone (wall-clock seconds)
function Backend:info(name)
  local rec = self:record(name) or {}
  local s = self:state(name)
  local e = self.ending[name] or {}
  return { state = s, pid = rec.pid, started_at = rec.started_at,
           exit = s == "exited" and self:exit_text(name) or nil,
           signal = e.signal, ended_at = s == "exited" and e.ended_at or nil }
end

-- heal() -> list of "name (what was done)"; raises when a pod cannot be
-- brought back.
function Backend:heal()
  return common.restore(self, { running = true })
end

-- The pods `status` shows, in file order: {name, state, health, url}.
function Backend:status()
  return common.status(self, function(svc, s)
    if s == "running" or s == "external" then
      return ready.check(svc, self) and "ready" or "not ready"
    end
  end)
end

return M
