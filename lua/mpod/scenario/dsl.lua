-- mpod/scenario/dsl.lua: the test structure of a scenario file and how it runs:
-- mp.test, mp.describe, the four hooks, mp.skip, mp.todo, mp.exclusive.
--
-- Loading a file only registers tests; run() then executes them in order,
-- each in its own task with a deadline: before_each hooks (outermost
-- first) and the body share that task; after_each hooks (innermost first)
-- run in a fresh task afterwards, so they run even when the body timed out.
-- Tasks a test spawned are cancelled when it ends; one that failed and was
-- never waited for fails the test. A before_all failure fails every test of
-- its block without running them; an after_all failure is a failing point
-- of its own. Results go out through the emit function given to run().

local errors = require "mpod.error"
local history = require "mpod.scenario.history"
local runtime = require "mpod.scenario.runtime"
local sched = require "mpod.sched"
local sync = require "mpod.scenario.sync"
local timeline = require "mpod.scenario.timeline"
local trace = require "mpod.trace"

local M = {}

local DEFAULT_TIMEOUT = 60
local UNWIND_GRACE = 2

local state

local function new_block(name, parent)
  return { name = name, parent = parent, items = {}, before_all = {},
           after_all = {}, before_each = {}, after_each = {} }
end

-- reset(): start registering a new file
function M.reset()
  local root = new_block(nil, nil)
  state = { root = root, current = root, exclusive = false, running = false }
end

local function check_registering(what)
  if state.running then
    errors.usage(what .. " must be called while the file loads, not inside a test")
  end
end

local function full_name(block, name)
  local parts = { name }
  while block do
    if block.name then table.insert(parts, 1, block.name) end
    block = block.parent
  end
  return table.concat(parts, " > ")
end

local function add_test(name, fn, opts, defaults)
  check_registering("mp.test")
  if type(name) ~= "string" then errors.usage("a test needs a name (string)") end
  if fn ~= nil and type(fn) ~= "function" then
    errors.usage("test '" .. name .. "': the body must be a function")
  end
  opts = opts or {}
  if type(opts) ~= "table" then errors.usage("test '" .. name .. "': options must be a table") end
  local test = {
    kind = "test", fn = fn, timeout = opts.timeout,
    skip = opts.skip or defaults.skip, todo = opts.todo or defaults.todo,
    name = full_name(state.current, name), block = state.current,
  }
  if not fn and not test.skip and not test.todo then
    errors.usage("test '" .. name .. "' has no body")
  end
  table.insert(state.current.items, test)
end

function M.test(name, fn, opts) add_test(name, fn, opts, {}) end

function M.skip(name, fn, reason)
  if type(fn) == "string" then fn, reason = nil, fn end
  add_test(name, fn, nil, { skip = reason or "skipped" })
end

function M.todo(name, fn, reason)
  if type(fn) == "string" then fn, reason = nil, fn end
  add_test(name, fn, nil, { todo = reason or "not done yet" })
end

function M.describe(name, fn)
  check_registering("mp.describe")
  if type(name) ~= "string" or type(fn) ~= "function" then
    errors.usage("mp.describe(name, fn) needs a name and a function")
  end
  local block = new_block(name, state.current)
  table.insert(state.current.items, { kind = "block", block = block })
  state.current = block
  local ok, err = pcall(fn)
  state.current = block.parent
  if not ok then error(err, 0) end
end

local function add_hook(kind)
  return function(fn)
    check_registering("mp." .. kind)
    if type(fn) ~= "function" then errors.usage("mp." .. kind .. " expects a function") end
    table.insert(state.current[kind], fn)
  end
end

M.before_all = add_hook("before_all")
M.after_all = add_hook("after_all")
M.before_each = add_hook("before_each")
M.after_each = add_hook("after_each")

function M.exclusive()
  check_registering("mp.exclusive")   -- inside a test, too late to count
  state.exclusive = true
end
function M.is_exclusive() return state.exclusive end

-- Running -------------------------------------------------------------------

local function selected(test, filter)
  return not filter or filter == "" or test.name:find(filter, 1, true) ~= nil
end

local function count_selected(block, filter)
  local n = 0
  for _, item in ipairs(block.items) do
    if item.kind == "test" then
      n = n + (selected(item, filter) and 1 or 0)
    else
      n = n + count_selected(item.block, filter)
    end
  end
  return n
end

function M.count(filter) return count_selected(state.root, filter) end

-- Run fn in a task with a time limit; returns true or false, diag, time
-- (the sched.now() of the failure, when it was raised).
local function run_limited(fn, timeout, what)
  local t = sched.spawn(function() return xpcall(fn, trace.capture) end)
  t:name(what)
  history.set_main_task(t)
  t:set_deadline(sched.now() + timeout)
  local status, ok, captured = t:join(timeout)
  if status == "timeout" then
    local when = sched.now()
    local where = t:traceback()             -- where it was waiting
    t:cancel(what .. " timed out")
    t:join(UNWIND_GRACE)
    return false, { kind = "timeout",
      message = string.format("%s timed out after %g s", what, timeout),
      at = trace.frame_location(where), stack = trace.user_stack(where) }, when
  end
  if status == "done" and ok then return true end
  if status == "done" then
    return false, trace.diagnose(captured.err, captured.traceback, captured.at), captured.time
  end
  local diag = trace.diagnose(ok, captured)
  if diag.kind == "timeout" then
    diag.message = string.format("%s timed out after %g s: %s", what, timeout, diag.message)
  end
  return false, diag, sched.now()
end

local function collect_hooks(block, kind, outer_first)
  local chain = {}
  while block do
    table.insert(chain, outer_first and 1 or #chain + 1, block)
    block = block.parent
  end
  local hooks = {}
  for _, b in ipairs(chain) do
    local list = b[kind]
    if outer_first then
      for _, h in ipairs(list) do hooks[#hooks + 1] = h end
    else
      for i = #list, 1, -1 do hooks[#hooks + 1] = list[i] end
    end
  end
  return hooks
end

-- The locals' names are what a stack shows for these frames ("in local
-- 'hook'", "in local 'test'"), so they say what the frame is.
local function run_all(hooks, body)
  return function()
    for _, hook in ipairs(hooks) do hook() end
    local test = body
    if test then test() end
  end
end

-- Cancel the test's leftover tasks; return the diag of the first failed
-- task nobody waited for.
local function settle_spawned(tasks)
  local unobserved
  for _, t in ipairs(tasks) do
    local status = t:status()
    if status ~= "done" and status ~= "failed" and status ~= "cancelled" then
      t:cancel("its test ended")
    elseif status == "failed" and not t:observed() and not unobserved then
      unobserved = sync.diagnose(t)
      unobserved.message = string.format("a spawned task (%s) failed and nobody waited for it: %s",
        t:name(), unobserved.message)
    end
  end
  return unobserved
end

local function prefix(diag, text)
  diag.message = text .. diag.message
  return diag
end

-- The functions to run when the running test ends (at_test_end), or nil
-- outside a test.
local test_end

-- at_test_end(fn) -> true: fn() runs when the running test ends, however
-- it ends, after its tasks are cancelled and before its after_each hooks
-- (mp.nemesis heals there); false outside a test
function M.at_test_end(fn)
  if not test_end then return false end
  test_end[#test_end + 1] = fn
  return true
end

-- Run the at_test_end functions, last registered first; the first
-- failure's diag, or nil.
local function run_test_end(list, timeout)
  local failure
  for i = #list, 1, -1 do
    local ok, diag = run_limited(list[i], timeout, "the test's end")
    if not ok and not failure then failure = prefix(diag, "at the test's end: ") end
  end
  return failure
end

local function execute(test, ctx)
  local timeout = test.timeout or ctx.test_timeout or DEFAULT_TIMEOUT
  local spawned = {}
  sync.on_spawn = function(t) spawned[#spawned + 1] = t end
  test_end = {}
  local ok, diag, failed_at = run_limited(
    run_all(collect_hooks(test.block, "before_each", true), test.fn),
    timeout, "test")
  local leftover = settle_spawned(spawned)
  sync.on_spawn = nil
  local ending = test_end
  test_end = nil
  local end_failure = run_test_end(ending, timeout)
  if ok and end_failure then ok, diag, failed_at = false, end_failure, sched.now() end
  local after = collect_hooks(test.block, "after_each", false)
  if #after > 0 then
    local ok2, diag2, when = run_limited(run_all(after), timeout, "after_each hook")
    if ok and not ok2 then ok, diag, failed_at = false, prefix(diag2, "after_each hook: "), when end
  end
  if ok and leftover then ok, diag, failed_at = false, leftover, sched.now() end
  return ok, diag, failed_at
end

local function run_test(test, ctx, setup_failure)
  if test.skip then
    history.test_skipped(test.name, test.skip)
    ctx.emit { ev = "test", name = test.name, ok = true, directive = "SKIP", reason = test.skip }
    return
  end
  ctx.emit { ev = "test_start", name = test.name }
  history.test_started(test.name)
  runtime.begin_test()
  local start = sched.now()
  local ok, diag, failed_at
  if setup_failure then
    ok, diag = false, setup_failure
  elseif not test.fn then
    ok, diag = false, { message = "not written yet" }
  else
    ok, diag, failed_at = execute(test, ctx)
  end
  local elapsed = sync.elapsed(start)
  if diag then diag.elapsed = diag.elapsed or elapsed end
  failed_at = failed_at or sched.now()
  if not ok then
    runtime.add_failure_context(diag)
    timeline.add(diag, failed_at, test.name)
  end
  history.test_ended(ok and "ok" or "fail", diag, { at = diag and diag.at, todo = test.todo })
  ctx.emit { ev = "test", name = test.name, ok = ok, diag = (not ok) and diag or nil,
             directive = test.todo and "TODO" or nil, reason = test.todo,
             elapsed = elapsed, failed_at = (not ok) and failed_at or nil }
end

local run_block

local function run_hooks_once(list, what, timeout)
  for _, h in ipairs(list) do
    local ok, diag = run_limited(h, timeout, what)
    if not ok then return diag end
  end
end

function run_block(block, ctx, inherited_failure)
  if count_selected(block, ctx.filter) == 0 then return end
  local timeout = ctx.test_timeout or DEFAULT_TIMEOUT
  local failure = inherited_failure
  if not failure then
    failure = run_hooks_once(block.before_all, "before_all hook", timeout)
    if failure then prefix(failure, "before_all hook failed: ") end
  end
  for _, item in ipairs(block.items) do
    if item.kind == "block" then
      run_block(item.block, ctx, failure)
    elseif selected(item, ctx.filter) then
      run_test(item, ctx, failure)
    end
  end
  if inherited_failure then return end
  local teardown = run_hooks_once(block.after_all, "after_all hook", timeout)
  if teardown then
    ctx.emit { ev = "test", ok = false, diag = teardown,
      name = full_name(block, "after_all hook") }
  end
end

-- run{emit=, filter=, test_timeout=}: run every selected test in order.
function M.run(ctx)
  state.running = true
  run_block(state.root, ctx, nil)
end

-- run_chunk(fn, timeout) -> true | false, diag: the file's top level.
function M.run_chunk(fn, timeout)
  return run_limited(fn, timeout or DEFAULT_TIMEOUT, "loading the file")
end

return M
