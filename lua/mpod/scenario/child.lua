-- mpod/scenario/child.lua: the main function of a forked scenario child.
--
-- Protocol with the runner (one JSON object per line, see mpod.channel):
--   child -> runner  {ev="load", ok=, exclusive=, tests=}  after loading
--   runner -> child  {go=true}                             run the tests
--   child -> runner  {ev="test_start"}, {ev="test"}, {ev="note"},
--                    {ev="file_error", diag=}, {ev="exit", code=, at=},
--                    {ev="report", bytes=, seconds=} (with --report),
--                    {ev="done"}; requests {id=, op=} for pod control
-- print() and mp.note become notes (TAP comments); os.exit tells the runner
-- where it was called before the process ends; coroutine.yield refuses
-- values where nothing would receive them (sched.yield). Either way, the
-- programs the file started end before it does (mpod.reaper).
--
-- lua/mpod/scenario/ is that forked process, one per scenario file, and this
-- is its entry (child.c runs main). It loads the scenario API (mpod,
-- init.lua), this folder and the shared modules at the top of lua/mpod/,
-- never the runner's (lua/mpod/runner/).

local channel = require "mpod.channel"
local dsl = require "mpod.scenario.dsl"
local errors = require "mpod.error"
local history = require "mpod.scenario.history"
local json = require "mpod.json"
local proc = require "mpod.proc"
local reaper = require "mpod.reaper"
local report_data = require "mpod.scenario.report_data"
local runtime = require "mpod.scenario.runtime"
local sched = require "mpod.sched"
local stream = require "mpod.stream"
local trace = require "mpod.trace"

local M = {}

reaper.hook()             -- once, in the template every file's process copies

local function join_args(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  return table.concat(parts, "\t")
end

-- exit_code(code) -> the status os.exit(code) exits with, read as Lua
-- reads it (true 0, false 1, 3.0 and "3" 3); anything else raises Lua's
-- own error at the caller's line (os.exit(3.5) does not exit)
local function exit_code(code)
  if code == true or code == nil then return 0 elseif code == false then return 1 end
  local n = math.tointeger(tonumber(code) or code)
  if n then return n end
  error("bad argument #1 to 'os.exit' (" .. (tonumber(code) and "number has no integer representation"
    or "number expected, got " .. type(code)) .. ")", 3)
end

-- emit_event(ev): a test event, noted for the report, then sent to the
-- runner; failed_at (when the failure was raised) is for the report only
local function emit_event(ev)
  local failed_at = ev.failed_at
  ev.failed_at = nil
  report_data.on_event(ev, failed_at)
  runtime.emit(ev)
end

-- write_report(file): with --report, the file's timeline data and page;
-- the runner is told their size and the time they took (or why not)
local function write_report(file)
  if not runtime.options.report then return end
  local ok, bytes, seconds = pcall(report_data.write, file)
  if ok and bytes then
    runtime.emit { ev = "report", bytes = bytes, seconds = seconds }
  else
    runtime.emit { ev = "report", error = tostring(ok and seconds or bytes) }
  end
end

local function install_globals(ch)
  _G.print = function(...) runtime.emit { ev = "note", text = join_args(...) } end
  coroutine.yield = sched.yield
  os.exit = function(code, _)
    code = exit_code(code)
    runtime.emit { ev = "exit", code = code, at = errors.location() }
    pcall(write_report, runtime.file)       -- the timeline up to here
    pcall(history.file_ending, string.format("os.exit(%d) was called", code))
    pcall(ch.flush, ch)
    pcall(reaper.sweep)
    proc.exit_now(code)
  end
end

local function set_package_path(file)
  local dir = file:match("^(.*)/[^/]*$") or "."
  package.path = string.format("%s/lib/?.lua;%s/lib/?/init.lua;%s", dir, dir,
    package.path)
end

-- Load the file and run its top level; returns true or false, diag.
local function load_scenario(file, timeout)
  local chunk, err = loadfile(file, "t")
  if not chunk then
    local diag = trace.diagnose(err)
    local f, why = io.open(file, "r")
    local read_error
    if f then                                  -- a folder opens, then cannot be read
      read_error = select(2, f:read(1))
      f:close()
    end
    if not f or read_error then
      diag.message = "cannot open the scenario file: " .. (read_error and
        (file .. ": " .. read_error) or diag.message or why)
    elseif tostring(err):find("attempt to load a binary chunk", 1, true) then
      diag.message = "not Lua source: a precompiled (binary) chunk; scenario files are loaded as text"
    else
      diag.message = "syntax error: " .. diag.message
    end
    return false, diag
  end
  local ok, diag = dsl.run_chunk(chunk, timeout)
  if not ok then diag.message = "error while loading: " .. diag.message end
  return ok, diag
end

-- The file's history (mpod.scenario.history) starts with the file; it is
-- appended to cfg.history_file when the runner asks for one, and the
-- engine's own ops are left out with MPOD_ENGINE_HISTORY=off.
local function start_history(cfg)
  local engine = os.getenv("MPOD_ENGINE_HISTORY") ~= "off"
  local ok, err = pcall(history.start, { file = cfg.history_file, engine = engine })
  if not ok then
    history.start { engine = engine }
    runtime.emit { ev = "note", text = "history: " .. tostring(type(err) == "table" and err.message or err) }
  end
end

local function wait_for_go(ch, gate)
  while not gate.go and not ch.closed do gate.cond:wait() end
  return gate.go
end

function M.main(args)
  local cfg = json.decode(args.payload)
  if cfg.file_hex then    -- a path that is not UTF-8, byte for byte
    cfg.file = cfg.file_hex:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
  end
  local gate = { go = false, cond = sched.cond() }
  local ch = channel.new(stream.new(args.channel), function(msg)
    if msg.go then gate.go = true; gate.cond:broadcast() end
  end)
  runtime.channel, runtime.file, runtime.options = ch, cfg.file, cfg
  runtime.cluster, runtime.cluster_error = cfg.cluster, cfg.cluster_error
  report_data.begin(cfg.report, cfg.report_slug)
  install_globals(ch)
  start_history(cfg)
  reaper.install(cfg.scenario_id)
  math.randomseed(cfg.seed or os.time())
  set_package_path(cfg.file)
  dsl.reset()
  local ok, diag = load_scenario(cfg.file, cfg.test_timeout)
  ch:send { ev = "load", ok = ok, exclusive = dsl.is_exclusive(),
            tests = ok and dsl.count(cfg.filter) or 0 }
  if not ok then
    runtime.emit { ev = "file_error", diag = diag }
  elseif wait_for_go(ch, gate) then
    dsl.run { emit = emit_event, filter = cfg.filter, test_timeout = cfg.test_timeout }
  end
  write_report(cfg.file)
  reaper.sweep()
  pcall(history.file_ending, "the file ended")
  ch:send { ev = "done" }
  -- No time limit: the runner reads until the end, however slowly (an
  -- 8 MB diagnostic under valgrind took it more than the 2 s this once
  -- allowed, and the end of the file was lost); a child stuck here is
  -- killed by the runner's file timeout like any other.
  ch:flush()
  ch:close()
  return 0
end

return M
