-- mpod/runner/run.lua: runs scenario files, each in a forked child, and turns
-- what the children report into TAP, JUnit and an exit status.
--
-- Scheduling: up to `jobs` children at once (fewer when the open-file
-- limit cannot hold that many channels). A child loads its file and
-- reports whether it is exclusive; it runs its tests only when the gate
-- says "go": an exclusive file when nothing else runs, any other file when
-- no exclusive one does. Files are admitted in order and no new child
-- starts while an exclusive file waits or runs, so nobody starves.
--
-- Supervision: a child that runs past the file timeout is killed with its
-- whole process group; a crash, a kill or os.exit becomes "not ok" with a
-- diagnostic naming the test that was running. Each child gets an id for
-- the programs it starts (mpod.reaper); after a child that did not end
-- cleanly, the runner kills whatever still carries it. Requests from
-- children (pod control) go to the `control` object; after each file the
-- control heals what the file broke before the next file is admitted.

local channel = require "mpod.channel"
local json = require "mpod.json"
local proc = require "mpod.proc"
local reaper = require "mpod.reaper"
local redact = require "mpod.redact"
local report = require "mpod.runner.report"
local sched = require "mpod.sched"
local sys = require "mpod.sys"

local M = {}

local DRAIN_TIMEOUT = 5
-- The longest message a scenario process may send: what it sends is cut to
-- the report's sizes first (mpod.scenario.limits), so only a broken process
-- or a bug reaches this; the file then fails at once.
local MESSAGE_MAX = 16 << 20

local running = {}   -- pid -> Proc of every scenario child alive
local unswept = {}   -- scenario ids of the files not settled yet
local current_run    -- the run in progress, for interrupt()

-- kill_all(): kill every running scenario child
function M.kill_all()
  for pid in pairs(running) do proc.kill(pid, "KILL", true) end
end

-- The gate --------------------------------------------------------------------

local Gate = {}
Gate.__index = Gate

local function new_gate(jobs)
  return setmetatable({ jobs = jobs, alive = 0, active = 0, exclusive_active = false,
                        waiting = {}, cond = sched.cond() }, Gate)
end

function Gate:exclusive_waiting()
  for _, e in ipairs(self.waiting) do
    if e.exclusive then return true end
  end
  return false
end

function Gate:may_start()
  return self.alive < self.jobs and not self.exclusive_active and not self:exclusive_waiting()
end

function Gate:admit()
  while not self:may_start() and not self.stopped do self.cond:wait() end
  self.alive = self.alive + 1
end

function Gate:grant()
  while #self.waiting > 0 do
    local e = self.waiting[1]
    local allowed = not self.exclusive_active and (not e.exclusive or self.active == 0)
    if not allowed then break end
    table.remove(self.waiting, 1)
    e.granted = true
    self.active = self.active + 1
    self.exclusive_active = e.exclusive
  end
  self.cond:broadcast()
end

-- wait_turn(entry): queue the loaded file (in file order) until it may run
function Gate:wait_turn(entry)
  local pos = #self.waiting + 1
  for i, e in ipairs(self.waiting) do
    if e.index > entry.index then pos = i; break end
  end
  table.insert(self.waiting, pos, entry)
  self:grant()
  while not entry.granted do self.cond:wait() end
end

function Gate:leave(entry)
  for i, e in ipairs(self.waiting) do
    if e == entry then table.remove(self.waiting, i) end
  end
  if entry.granted then
    self.active = self.active - 1
    if entry.exclusive then self.exclusive_active = false end
  end
  self.alive = self.alive - 1
  self:grant()
end

-- A running file holds one descriptor in the runner, its channel (two
-- while the socketpair is made). FD_RESERVE more stay free for what the
-- runner opens meanwhile: pod control over HTTP, readiness probes while
-- healing, log and state files, the JUnit file. -j is capped, with a note,
-- rather than left to fail files with "fork: Too many open files": the
-- cap is known before the first file, and the runner's own work never
-- competes with forks for the last descriptors.
local FD_RESERVE = 32

-- jobs_within_fd_limit(jobs) -> jobs, or fewer (at least 1) when the
-- open-file limit (ulimit -n) cannot hold that many files at once
local function jobs_within_fd_limit(jobs)
  local open, limit = sys.fd_usage()
  if not open then return jobs end
  local fit = math.max(math.floor(limit - open - FD_RESERVE - 1), 1)
  if jobs <= fit then return jobs end
  io.stderr:write(string.format("mpod-lua: -j %d is more than the open-file limit allows " ..
    "(ulimit -n %d, %d open): running at most %d files at once\n", jobs, limit, open, fit))
  return fit
end

-- One file ------------------------------------------------------------------

local function note_stderr(run, file, text)
  if run.opts.verbose then
    redact.stderr(string.format("# %s: %s\n", file, text))
  end
end

local function handle_request(run, st, msg)
  local ok, result = pcall(function()
    if not run.control then
      require("mpod.error").usage("this run has no cluster to control")
    end
    return run.control:handle(msg, st)
  end)
  st.channel:reply(msg.id, ok, result)
end

local function on_message(run, st, msg)
  local ev = msg.ev
  if msg.op then
    sched.spawn(handle_request, run, st, msg):name("request " .. tostring(msg.op))
  elseif ev == "load" then
    st.entry.exclusive = msg.exclusive == true
    st.loaded, st.ntests = msg.ok, msg.tests
    sched.spawn(function()
      run.gate:wait_turn(st.entry)
      st.channel:send { go = true }
    end):name("gate")
  elseif ev == "test_start" then
    st.current, st.current_started = msg.name, sched.now()
  elseif ev == "test" then
    st.current = nil
    msg.ev = nil
    run.reporter:test(st.index, msg)
    if run.report then run.report:test(st.index, msg) end
    if not msg.ok and not msg.directive then note_stderr(run, st.file, "not ok - " .. tostring(msg.name)) end
  elseif ev == "note" then
    run.reporter:note(st.index, tostring(msg.text))
    note_stderr(run, st.file, tostring(msg.text))
  elseif ev == "file_error" then
    st.file_error = msg.diag
  elseif ev == "report" and run.report then
    run.report:written(st.index, msg)
  elseif ev == "exit" then
    st.exit = msg
  elseif ev == "done" then
    st.done = true
  end
end

local function signal_text(status)
  return string.format("SIG%s (%d)%s", status.signame or "?", status.signal,
    status.core and ", core dumped" or "")
end

-- What went wrong with the file as a whole, or nil.
local function file_failure(run, st, status)
  if st.broken then
    return { kind = "protocol", message = string.format(
      "the channel from the scenario process broke (%s); the file was stopped", st.broken) }
  end
  if st.timed_out then
    return { kind = "timeout", message = string.format(
      "the file ran past its %g s timeout and was killed", run.opts.file_timeout) }
  end
  if status and status.signal then
    return { kind = "crash", message = "the scenario process was killed by " .. signal_text(status) }
  end
  if st.exit then
    return { kind = "exit", at = st.exit.at, message = string.format(
      "os.exit(%s) was called; the tests after it did not run", tostring(st.exit.code)) }
  end
  if not st.done then
    return { kind = "crash", message = string.format(
      "the scenario process exited with code %s before finishing",
      tostring(status and status.code)) }
  end
  return st.file_error
end

local function finish_file(run, st, status)
  local diag = file_failure(run, st, status)
  local result = {}
  if diag and st.current then
    if diag.message then diag.message = diag.message .. " (during this test)" end
    -- a test killed with its file (timeout, crash) ran until now
    run.reporter:test(st.index, { name = st.current, ok = false, diag = diag,
                                  elapsed = sched.now() - st.current_started })
  elseif diag then
    result = { ok = false, diag = diag }
  elseif st.ntests == 0 then
    result = { directive = "SKIP", reason = run.opts.filter
      and "no test matches the filter" or "the file has no tests" }
  end
  local ok = run.reporter:file_end(st.index, result)
  if run.report then run.report:file_end(st.index, ok, diag) end
  return ok
end

-- A path JSON cannot carry (not UTF-8) goes as hex too, so the child opens
-- the very file; a payload that cannot be encoded fails the file, never the
-- run (a task that raised here left the run waiting forever).
local function start_child(run, st)
  local ok, p, stream = pcall(function()
    return proc.fork_child(json.encode {
      file = utf8.len(st.file) and st.file or st.file:gsub("[\128-\255]", "?"),
      file_hex = not utf8.len(st.file)
        and st.file:gsub(".", function(c) return string.format("%02x", c:byte()) end) or nil,
      seed = run.opts.seed, filter = run.opts.filter, scenario_id = st.scenario_id,
      history_file = st.history,
      test_timeout = run.opts.test_timeout, verbose = run.opts.verbose,
      cluster = run.cluster_description, cluster_error = run.cluster_error,
      report = run.report and run.report.dir, report_slug = run.report and run.report:slug_of(st.index),
    })
  end)
  if not ok then return nil, type(p) == "table" and p.message or p end
  st.closed = sched.cond()
  st.channel = channel.new(stream, function(msg) on_message(run, st, msg) end,
    function(problem)
      if problem then                    -- nothing more can be read: stop it
        st.broken = problem
        if running[p:pid()] then proc.kill(p:pid(), "KILL", true) end
      end
      st.closed:broadcast()
    end, MESSAGE_MAX)
  return p
end

-- Wait for the child; kill its process group when it overruns. A child
-- that exited by itself swept its programs (mpod.scenario.child); after
-- any other end the runner does.
local function supervise(run, st, p)
  running[p:pid()] = p
  unswept[st.scenario_id] = true
  local status = p:wait(run.opts.file_timeout)
  if not status then
    st.timed_out = true
    proc.kill(p:pid(), "KILL", true)
    status = p:wait()
  end
  running[p:pid()] = nil
  if not st.channel.closed then st.closed:wait(DRAIN_TIMEOUT) end
  st.channel:close()
  if not (status.code and (st.done or st.exit)) then reaper.sweep_id(st.scenario_id) end
  unswept[st.scenario_id] = nil
  return status
end

-- The file's history (mpod.runner.histories): a failing file's goes to
-- --dump-logs too; then opts.on_file_end learns where it is.
local function after_file_history(run, st, ok)
  local h = run.histories
  if h then
    local problem = h:after_file(st.history, st.slug, ok)
    if problem then run.reporter:comment(problem, st.index) end
  end
  local hook = run.opts.on_file_end
  if hook then
    local history = st.history and sys.stat(st.history) and st.history or nil
    local done, err = pcall(hook, { index = st.index, file = st.file, ok = ok,
                                    history = history, slug = st.slug })
    if not done then redact.stderr("mpod-lua: on_file_end: " .. tostring(err) .. "\n") end
  end
end

local function run_file(run, index, file)
  local st = { file = file, index = run.reporter:file_begin(file),
               scenario_id = run.id .. "." .. index }
  if run.report then run.report:file_begin(st.index, file) end
  st.entry = { index = st.index }
  if run.histories then st.history, st.slug = run.histories:path_for(file) end
  local p, err = start_child(run, st)
  local status
  if p then
    status = supervise(run, st, p)
  else
    st.file_error = { kind = "crash", message = "cannot start a process for the file: " .. tostring(err) }
    st.done = true
  end
  local ok = finish_file(run, st, status)
  after_file_history(run, st, ok)
  if run.control and run.control.after_file and not run.bailed then
    local healed, comment = pcall(run.control.after_file, run.control, st, ok)
    if not healed then
      M.bail(run, "cannot heal the cluster after " .. file .. ": " ..
        tostring(type(comment) == "table" and comment.message or comment))
      if type(comment) == "table" and comment.log then redact.stderr(comment.log) end
    elseif comment then
      run.reporter:comment(comment, st.index)
    end
  end
  run.gate:leave(st.entry)
  run.files_done = run.files_done + 1
  run.done_cond:broadcast()
  return index
end

-- bail(run, reason): "Bail out!", stop admitting files, kill running ones
function M.bail(run, reason)
  if run.bailed then return end
  run.bailed = true
  run.reporter:bail(reason)
  redact.stderr("mpod-lua: " .. reason .. "\n")
  M.kill_all()
  run.gate.stopped = true
  run.gate.cond:broadcast()
end

-- running() -> true while a run is in progress
function M.running()
  return current_run ~= nil
end

-- interrupt(reason): bail out of the run in progress (SIGINT, SIGTERM);
-- no more files start and no healing runs
function M.interrupt(reason)
  if current_run then
    M.bail(current_run, reason)
  end
  M.kill_all()
  for id in pairs(unswept) do reaper.sweep_id(id) end
end

-- While files run, the runner's collector waits until its heap has grown
-- to ten times what was live after the last cycle (Lua's default: twice).
-- Every fork makes the runner's pages copy-on-write, and a collector step
-- after one marks objects all over its heap, faulting on page after page
-- (docs/architecture.md, "What a file costs"; bench/README.md has the
-- figures). The runner leaves some 8 KiB of garbage per file.
local RUNNER_GC_PAUSE = 1000          -- percent (Lua's maximum is 1023)
local DEFAULT_GC_PAUSE = 200          -- Lua's own (LUAI_GCPAUSE)

-- run(opts) -> totals {passed=, failed=, ...}
-- opts: files, jobs, file_timeout, test_timeout, filter, seed, junit,
-- tap_version, verbose, progress, cluster_description, cluster_error,
-- control (object: handle(msg, file_state), after_file(file_state, ok)),
-- header (comment lines printed first), histories (mpod.runner.histories:
-- each file's process records its history to a file; the caller calls
-- histories:finish() when done with them), on_file_end (function({index=,
-- file=, ok=, history=, slug=}) after each file: history is the path of
-- its history file, when one was written), report (a
-- mpod.runner.report_html writer, with --report).
function M.run(opts)
  collectgarbage("incremental", RUNNER_GC_PAUSE)
  local run = {
    id = require("mpod.runner.state").new_run_id(), opts = opts, control = opts.control,
    report = opts.report,
    cluster_description = opts.cluster_description, cluster_error = opts.cluster_error,
    histories = opts.histories,
    gate = new_gate(jobs_within_fd_limit(opts.jobs or 1)), files_done = 0, done_cond = sched.cond(),
    reporter = opts.reporter or report.new {
      tap_version = opts.tap_version, junit = opts.junit,
      progress = opts.progress, total = #opts.files,
    },
  }
  current_run = run
  for _, line in ipairs(opts.header or {}) do run.reporter:comment(line) end
  local started = 0
  for index, file in ipairs(opts.files) do
    run.gate:admit()
    if run.bailed then break end
    started = started + 1
    sched.spawn(run_file, run, index, file):name("file " .. file)
  end
  while run.files_done < started do run.done_cond:wait() end
  current_run = nil
  collectgarbage("incremental", DEFAULT_GC_PAUSE)
  local totals = run.reporter:finish()
  totals.bailed = run.bailed
  return totals, run.reporter
end

return M
