-- mpod/scenario/runtime.lua: what a scenario child knows about its run: the
-- channel to the runner, the file being run, the cluster description and
-- the options. Set once by mpod.scenario.child; read by the public API
-- (mp.note, mp.cluster, pod control).

local M = {
  channel = nil,     -- mpod.channel to the runner
  file = nil,        -- the scenario file, as given on the command line
  cluster = nil,     -- the cluster description the runner resolved, or nil
  cluster_error = nil, -- why there is no cluster, when there is none
  options = {},      -- the run's options (verbose, seed, ...)
}

-- The pods the current test talked to or controlled (names as keys): a
-- failed test's diagnostics quote the last log lines they wrote since the
-- test started (test_started, wall-clock seconds).
M.touched = {}
M.test_started = nil
M.failure_context = nil   -- function(diag), installed by mpod.scenario.cluster

M.failure_hooks = {}

function M.begin_test()
  M.touched = {}
  M.failure_hooks = {}
  M.test_started = require("mpod.sched").wallclock()
end

-- on_failure(fn): if the running test fails, fn(diag) adds to its
-- diagnostics (the nemesis's seed and schedule)
function M.on_failure(fn)
  M.failure_hooks[#M.failure_hooks + 1] = fn
end

-- add_failure_context(diag): let mpod.scenario.cluster add the touched
-- pods' logs, and the on_failure functions their fields
function M.add_failure_context(diag)
  if M.failure_context and next(M.touched) then pcall(M.failure_context, diag) end
  for _, fn in ipairs(M.failure_hooks) do pcall(fn, diag) end
end

-- emit(event): send an event to the runner (dropped without a runner),
-- its strings cut to the report's sizes (mpod.scenario.limits) and
-- secrets redacted
function M.emit(event)
  if M.channel then
    local redact = require("mpod.redact")
    M.channel:send(redact.redact_all(require("mpod.scenario.limits").event(event, redact.redact)))
  end
end

-- request(msg [, timeout]) -> result: ask the runner and wait
function M.request(msg, timeout)
  if not M.channel then
    require("mpod.error").usage("no runner: this needs mpod-lua to run the file")
  end
  return M.channel:request(msg, timeout)
end

return M
