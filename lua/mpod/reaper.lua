-- mpod/reaper.lua: every process a scenario file starts ends with the file,
-- however the file ends.
--
-- The runner gives each file's process an id (payload `scenario_id`), which
-- the process puts in its own environment as MPOD_SCENARIO_ID before its
-- first program, so every program it starts carries it (mp.exec, io.popen,
-- os.execute, proc.spawn), and so does whatever those programs fork,
-- whatever process group or session they move to. Three sweeps kill the
-- processes that carry it:
--
-- - the scenario process's own, as it ends normally or calls os.exit;
-- - the runner's, after a file that ended any other way (a timeout, a
--   crash, a kill);
-- - a reaper's (`mpod-lua --reaper ID`), started detached before the first
--   program and holding a pipe from the scenario process: when the pipe
--   ends, however the process died (even with the runner, SIGKILLed), it
--   sweeps the id and exits.
--
-- The ways to start a program are hooked once, in the template state the
-- runner forks every file's process with (hook(), from
-- mpod.scenario.child); a file that starts no program only records its
-- id, and pays nothing more.
--
-- The sweep itself (tagged, sweep_tagged: scan /proc/*/environ, kill, scan
-- again) also ends a whole run's processes, by MPOD_RUN_ID
-- (mpod.runner.state); both processes load this module. What a sweep or a
-- stop kills, it cleans after: release_ipc removes the SysV shared memory
-- segments the killed processes created (a server killed before it could
-- remove its own, as Postgres does when it stops, leaves one behind).

local proc = require "mpod.proc"
local sched = require "mpod.sched"
local sys = require "mpod.sys"

local M = {}

M.VAR = "MPOD_SCENARIO_ID"

local id          -- this file's id, nil outside a scenario process
local reaper      -- the write end of the reaper's pipe, open until the end
local owner       -- the process that started the reaper
local inherited = {}   -- a forked process's copy of its parent's: never closed
local spawn, popen, execute = proc.spawn, io.popen, os.execute

-- A process forked from a scenario process (an engine test forks one to
-- run a file) inherits its Lua state, so this module's values too: it
-- must neither sweep its parent's programs nor close the parent's pipe,
-- whose fd number it no longer has.
local function mine()
  return owner == proc.getpid()
end

-- arm(): start the reaper once, before the first program; raises when it
-- cannot start (a program started then could outlive the file)
function M.arm()
  if not id or mine() then return end
  sys.setenv(M.VAR, id)
  local ok, p, pipe = pcall(spawn, {
    argv = { sys.self_exe(), "--reaper", id }, stdin = "pipe",
    stdout = "null", stderr = "null", session = true, env = { [M.VAR] = "" },
  })
  if not ok then
    require("mpod.error").raise("spawn", "cannot start the reaper that ends this file's " ..
      "programs with it: " .. tostring(p))
  end
  inherited[#inherited + 1] = reaper
  reaper, owner = pipe, proc.getpid()
end

local function armed(fn)
  return function(...)
    M.arm()
    return fn(...)
  end
end

-- hook(): arm before every way a scenario starts a program
function M.hook()
  proc.spawn = armed(spawn)
  io.popen = armed(popen)
  os.execute = armed(execute)
end

-- install(scenario_id): this process's id (nil: a process with no id of
-- its own, which sweeps nothing)
function M.install(scenario_id)
  id = scenario_id
end

-- tagged(name, value) -> pids of every process whose environment holds
-- name=value (the caller excepted)
function M.tagged(name, value)
  local marker = "\0" .. name .. "=" .. value .. "\0"
  local me = proc.getpid()
  local pids = {}
  for _, dir in ipairs(sys.glob("/proc/[0-9]*")) do
    local pid = tonumber(dir:match("(%d+)$"))
    local f = pid ~= me and io.open(dir .. "/environ", "rb")
    if f then
      local env = f:read("a") or ""
      f:close()
      if ("\0" .. env):find(marker, 1, true) then pids[#pids + 1] = pid end
    end
  end
  return pids
end

local SWEEP_PASSES = 5

-- kill_new(pids, killed) -> how many of pids were not in killed; each is
-- killed and added to it
local function kill_new(pids, killed)
  local n = 0
  for _, pid in ipairs(pids) do
    if not killed[pid] then
      killed[pid] = true
      n = n + 1
      proc.kill(pid, "CONT")
      proc.kill(pid, "KILL")
    end
  end
  return n
end

-- sweep_tagged(name, value) -> how many processes were killed: every
-- process whose environment holds name=value. A process can fork between
-- the scan that finds it and its kill, and its child carries the variable
-- too: the scan is repeated until one finds no process it has not killed
-- yet (at most SWEEP_PASSES times).
function M.sweep_tagged(name, value)
  if not value or value == "" then return 0 end
  local killed, total = {}, 0
  for _ = 1, SWEEP_PASSES do
    local n = kill_new(M.tagged(name, value), killed)
    if n == 0 then break end
    total = total + n
  end
  if total > 0 then M.release_ipc(killed) end
  return total
end

-- SysV shared memory ----------------------------------------------------------

local IPC_DETACH_TIMEOUT = 2   -- seconds the killed get to detach
local IPC_POLL = 0.05

-- segments() -> {id=, cpid=, nattch=} of every SysV shared memory segment
-- this process can see (/proc/sysvipc/shm: key shmid perms size cpid lpid
-- nattch ...)
local function segments()
  local list, f = {}, io.open("/proc/sysvipc/shm")
  if not f then return list end
  f:read("l")                                  -- the column names
  for line in f:lines() do
    local id, cpid, nattch = line:match("^%s*%-?%d+%s+(%d+)%s+%d+%s+%d+%s+(%d+)%s+%d+%s+(%d+)")
    if id then list[#list + 1] = { id = tonumber(id), cpid = tonumber(cpid), nattch = tonumber(nattch) } end
  end
  f:close()
  return list
end

-- pause(s): sleep s seconds, yielding when in a task (a sweep at os.exit
-- runs outside one and does not wait)
local function pause(s)
  if sched.current() then sched.sleep(s) return true end
  return false
end

-- release_ipc(pids): remove the SysV shared memory segments that the
-- processes of the set pids ({[pid]=true}), killed by the caller, created,
-- once none is attached any more (up to IPC_DETACH_TIMEOUT for the dying
-- to detach; a segment still attached then is left to its users)
function M.release_ipc(pids)
  local deadline = sched.now() + IPC_DETACH_TIMEOUT
  repeat
    local waiting = false
    for _, seg in ipairs(segments()) do
      if pids[seg.cpid] then
        if seg.nattch == 0 then sys.shm_remove(seg.id) else waiting = true end
      end
    end
  until not waiting or sched.now() >= deadline or not pause(IPC_POLL)
end

-- sweep(): kill every process this file started (when it started any)
function M.sweep()
  if mine() then M.sweep_tagged(M.VAR, id) end
end

-- sweep_id(scenario_id): the runner's sweep after a file it could not
-- trust to have swept itself
function M.sweep_id(scenario_id)
  if scenario_id then M.sweep_tagged(M.VAR, scenario_id) end
end

-- wait_for_eof(): returns once standard input ends: the process that
-- holds its write end is gone. INT, TERM and HUP (a terminal's ^C reaches
-- the whole session it came from) do not stop the wait. The reaper and the
-- runner's watchdog wait so.
function M.wait_for_eof()
  local stream = require "mpod.stream"
  local signals = stream.new(proc.catch_signals { "INT", "TERM", "HUP" })
  local input = stream.new(0)
  while input:read() do end
  signals:close()
end

-- main(scenario_id): the reaper: wait for the end of standard input, then
-- sweep.
function M.main(scenario_id)
  M.wait_for_eof()
  M.sweep_id(scenario_id)
  return 0
end

return M
