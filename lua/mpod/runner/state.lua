-- mpod/runner/state.lua: the record of a cluster that is up, shared by every
-- mpod-lua process that touches it (the runner, `up`, `down`, `status`,
-- the watchdog), and the sweep that reaps what a killed runner left.
--
-- One JSON file per cluster in the state folder ($MPOD_STATE_DIR, else
-- $XDG_RUNTIME_DIR/mpod-lua, else /tmp/mpod-lua-<uid>), named by the
-- cluster's key: its name and a hash of its cluster file's real path, so
-- the same file in two checkouts makes two clusters, and one file run
-- under two names (--name) two more. The file is replaced atomically on
-- every write. It holds everything `down` needs without the cluster
-- file: backend, run folder, run id, process ids with their start times,
-- compose project, and the ports chosen for ${PORT:name} (ports). Every process the engine starts carries the environment
-- variable MPOD_RUN_ID=<run id>, so a sweep finds all of them, children of
-- children included, whatever process group or session they moved to.
-- The sweep is mpod.reaper's, which ends a scenario file's programs the
-- same way by another variable (MPOD_SCENARIO_ID).

local json = require "mpod.json"
local proc = require "mpod.proc"
local reaper = require "mpod.reaper"
local sched = require "mpod.sched"
local sys = require "mpod.sys"

local M = {}

function M.dir()
  local dir = os.getenv("MPOD_STATE_DIR")
  if not dir or dir == "" then
    local runtime = os.getenv("XDG_RUNTIME_DIR")
    dir = (runtime and runtime ~= "") and (runtime .. "/mpod-lua")
      or string.format("/tmp/mpod-lua-%d", sys.getuid())
  end
  return dir
end

-- fnv1a(text) -> the 32-bit FNV-1a hash of text, as 8 hex digits
local function fnv1a(text)
  local h = 2166136261
  for i = 1, #text do
    h = ((h ~ text:byte(i)) * 16777619) & 0xffffffff
  end
  return string.format("%08x", h)
end

-- key(name, file) -> the state key of cluster `name` from the cluster file
-- at `file`: "<name>.<hash of the file's real path>"
function M.key(name, file)
  return name .. "." .. fnv1a(sys.realpath(file) or file)
end

function M.path(key)
  return M.dir() .. "/" .. key .. ".json"
end

-- all() -> the state of every cluster recorded in the state folder
function M.all()
  local list = {}
  for _, path in ipairs(sys.glob(M.dir() .. "/*.json")) do
    list[#list + 1] = M.load(path)
  end
  return list
end

-- load(key_or_path) -> state table | nil
function M.load(key_or_path)
  local path = key_or_path:find("/", 1, true) and key_or_path or M.path(key_or_path)
  local f = io.open(path, "r")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  local ok, st = pcall(json.decode, text)
  if not ok or type(st) ~= "table" then return nil end
  st.path = path
  return st
end

-- tmp_path(path, pid) -> the file process pid writes a new version of the
-- state at path to before renaming it into place: one per writer, so the
-- one a killed writer left can be removed without touching another's
function M.tmp_path(path, pid)
  return path .. ".tmp." .. tostring(pid)
end

-- save(state): write atomically to state.path
function M.save(st)
  local ok, err = sys.mkdir_p(M.dir(), 448)
  if not ok then error("cannot create the state folder: " .. err, 0) end
  local tmp = M.tmp_path(st.path, proc.getpid())
  local f = assert(io.open(tmp, "w"))
  local copy = {}
  for k, v in pairs(st) do if k ~= "path" then copy[k] = v end end
  f:write(json.encode(copy, { pretty = true }))
  f:close()
  assert(os.rename(tmp, st.path))
end

-- remove(state): the file, and the copy a save of its runner killed
-- halfway left
function M.remove(st)
  if st and st.path then
    os.remove(st.path)
    if st.runner_pid then os.remove(M.tmp_path(st.path, st.runner_pid)) end
  end
end

-- new_run_id() -> 16 hex digits
function M.new_run_id()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(8) or tostring(os.time())
  if f then f:close() end
  return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end)):sub(1, 16)
end

-- The /proc states of a process that has ended: a zombie (Z), and one its
-- parent's wait is reaping (X, x on older kernels), whose entry goes next.
-- Counting X as running once made a watchdog that had just seen the runner
-- as a zombie see it "running" again a moment later, while the chaos test
-- reaped it, and quit without tearing down.
local ENDED = { Z = true, X = true, x = true }

-- ended(info) -> true when a proc.info record (nil: no such pid) shows no
-- running process
function M.ended(info)
  return not info or ENDED[info.state] == true
end

-- alive(pid, start) -> true when pid runs and is the same process
function M.alive(pid, start)
  local info = pid and proc.info(pid)
  if M.ended(info) then return false end
  return start == nil or info.start == start
end

-- wait_gone(pid, start, timeout) -> true once the process is seen gone,
-- false when it still runs after timeout seconds. The first sighting
-- decides: a process that has ended never runs again.
function M.wait_gone(pid, start, timeout)
  local deadline = sched.now() + timeout
  while M.alive(pid, start) do
    if sched.now() >= deadline then return false end
    sched.sleep(0.05)
  end
  return true
end

-- run_processes(run_id) -> pids of every process carrying MPOD_RUN_ID=run_id
function M.run_processes(run_id)
  return reaper.tagged("MPOD_RUN_ID", run_id)
end

-- sweep(run_id) -> how many processes carrying MPOD_RUN_ID=run_id were killed
function M.sweep(run_id)
  return reaper.sweep_tagged("MPOD_RUN_ID", run_id)
end

-- run_groups(run_id) -> set of the process groups the run's live
-- processes are in
function M.run_groups(run_id)
  local groups = {}
  if not run_id or run_id == "" then return groups end
  for _, pid in ipairs(M.run_processes(run_id)) do
    local info = proc.info(pid)
    if not M.ended(info) then groups[info.pgid] = true end
  end
  return groups
end

-- Stopping services ---------------------------------------------------------
--
-- A service runs in a process group named after its first process, which
-- the processes a wrapper starts share (`sh -c`, initdb and the postgres
-- it runs): a stop signals the whole group, and waits for all of it, so a
-- server behind a wrapper shuts down as it means to (Postgres removes its
-- shared memory) instead of being killed when the wrapper is gone.

local DEFAULT_STOP_TIMEOUT = 10
local STOP_POLL = 0.05

-- signal_service(s, sig): sig to s's group, and to s itself when it left it
local function signal_service(s, sig)
  proc.kill(s.pid, sig, true)
  local info = M.alive(s.pid, s.start) and proc.info(s.pid)
  if info and info.pgid ~= s.pid then proc.kill(s.pid, sig) end
end

-- kill_service(s, killed): KILL what is left of s, adding its pids to the
-- set killed (so what they leave can be cleaned after them)
local function kill_service(s, killed)
  for _, pid in ipairs(proc.group_pids(s.pid)) do killed[pid] = true end
  if M.alive(s.pid, s.start) then killed[s.pid] = true end
  signal_service(s, "KILL")
end

local function service_gone(s)
  return not proc.group_alive(s.pid) and not M.alive(s.pid, s.start)
end

-- stop_services(list) -> true when each stopped within its time: list of
-- {pid=, start=, signal=, timeout=}; CONT, then each one's signal
-- (default TERM) to its group; waits until nothing of a group runs, up to
-- its timeout (default 10 s), then KILLs what is left of it and removes
-- the SysV shared memory its killed processes left (reaper.release_ipc).
-- The caller vouches that each group is its service's.
function M.stop_services(list)
  for _, s in ipairs(list) do
    signal_service(s, "CONT")
    signal_service(s, s.signal or "TERM")
  end
  local t0, pending, killed, clean = sched.now(), table.move(list, 1, #list, 1, {}), {}, true
  while #pending > 0 do
    for i = #pending, 1, -1 do
      local s = pending[i]
      if service_gone(s) then
        table.remove(pending, i)
      elseif sched.now() - t0 >= (s.timeout or DEFAULT_STOP_TIMEOUT) then
        kill_service(s, killed)
        table.remove(pending, i)
        clean = false
      end
    end
    if #pending > 0 then sched.sleep(STOP_POLL) end
  end
  if not clean then reaper.release_ipc(killed) end
  return clean
end

return M
