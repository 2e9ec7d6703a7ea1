-- mpod/exec.lua: mp.exec, running a program from a scenario without
-- blocking the other tasks: output captured, a timeout on the whole run
-- (the program's process group is killed when it passes), and the exit
-- status as data. The program dies with the scenario process
-- (PR_SET_PDEATHSIG), and whatever it leaves running ends with the file
-- (mpod.reaper).

local errors = require "mpod.error"
local proc = require "mpod.proc"
local sched = require "mpod.sched"

local M = {}

local DEFAULT_TIMEOUT = 60

local function collect(stream, into)
  if not stream then return end
  while true do
    local chunk = stream:read()
    if not chunk then break end
    into[#into + 1] = chunk
  end
  stream:close()
end

local function feed(stream, input)
  if not stream then return end
  stream:write(input)
  stream:flush()
  stream:close()
end

-- exec(argv [, opts]) -> {code=, signal=, stdout=, stderr=, ok=, time=}
-- opts: timeout (s), stdin (string), env (table), cwd; argv may also be a
-- shell command string, run with /bin/sh -c.
function M.exec(argv, opts)
  opts = opts or {}
  if type(argv) == "string" then argv = { "/bin/sh", "-c", argv } end
  if type(argv) ~= "table" or #argv == 0 then
    errors.usage("mp.exec expects a list of arguments or a command string")
  end
  local timeout = opts.timeout or DEFAULT_TIMEOUT
  local start = sched.now()
  local p, stdin, stdout, stderr = proc.spawn {
    argv = argv, env = opts.env, cwd = opts.cwd,
    stdin = opts.stdin and "pipe" or "null", stdout = "pipe", stderr = "pipe",
    die_with_parent = true,
  }
  local out, err = {}, {}
  local readers = {
    sched.spawn(collect, stdout, out), sched.spawn(collect, stderr, err),
    sched.spawn(feed, stdin, opts.stdin),
  }
  local waited, status = pcall(p.wait, p, timeout)
  if not waited then                      -- the caller was cancelled
    proc.kill(p:pid(), "KILL", true)
    for _, t in ipairs(readers) do t:cancel("mp.exec was cancelled") end
    error(status, 0)
  end
  local timed_out = status == nil
  if timed_out then
    proc.kill(p:pid(), "KILL", true)
    status = p:wait()
  end
  for _, t in ipairs(readers) do
    if t:join(timed_out and 1 or 5) == "timeout" then t:cancel("mp.exec finished") end
  end
  local result = {
    code = status.code, signal = status.signame, stdout = table.concat(out),
    stderr = table.concat(err), time = sched.now() - start,
  }
  result.ok = result.code == 0
  if timed_out then
    errors.raise("timeout", string.format("%s did not finish within %g s",
      argv[1], timeout), { stdout = result.stdout:sub(-2000), stderr = result.stderr:sub(-2000) })
  end
  return result
end

return M
