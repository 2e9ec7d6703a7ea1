-- selftest.lua: helpers for the engine's own tests that run mpod-lua on
-- the case files in tests/cases/ and read what it printed.

local mp = require "mpod"

local M = {}

M.MPOD = os.getenv("MPOD") or "build/mpod-lua"

-- The slow variants of the suite (make test-asan, tests/run-valgrind) set
-- MPOD_TEST_TIME_SCALE, 1 otherwise: how many times longer things take.
M.TIME_SCALE = tonumber(os.getenv("MPOD_TEST_TIME_SCALE")) or 1

-- slow(seconds) -> seconds * TIME_SCALE, for a deadline to wait for
-- something, or the bound of an elapsed time whose failure would take much
-- longer than the bound even then (say why where it is used)
function M.slow(seconds)
  return seconds * M.TIME_SCALE
end

-- run(args [, opts]) -> {code=, stdout=, stderr=}: mpod-lua with args
-- (opts.timeout, default 60 s, grows by TIME_SCALE)
function M.run(args, opts)
  local argv = { M.MPOD }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  opts = opts or {}
  return mp.exec(argv, { timeout = M.slow(opts.timeout or 60), env = opts.env, stdin = opts.stdin })
end

-- case(name) -> path of tests/cases/<name>.lua
function M.case(name)
  return "tests/cases/" .. name .. ".lua"
end

-- lines(text) -> list of lines
function M.lines(text)
  local out = {}
  for line in (text .. "\n"):gmatch("(.-)\n") do out[#out + 1] = line end
  return out
end

-- has_line(text, line): the exact line appears in text
function M.has_line(text, wanted)
  for _, line in ipairs(M.lines(text)) do
    if line == wanted then return true end
  end
  return false
end

-- expect_line(text, line): fails listing the output when the line is absent
function M.expect_line(text, wanted)
  if not M.has_line(text, wanted) then
    mp.fail("missing line: " .. wanted .. "\n--- output was:\n" .. text)
  end
end

-- expect_code(result, code): fails showing the output when the exit code
-- differs
function M.expect_code(r, code)
  if r.code ~= code then
    mp.fail(string.format("exit code %s, expected %d\n--- stdout:\n%s\n--- stderr:\n%s",
      tostring(r.code or r.signal), code, r.stdout, r.stderr))
  end
end

return M
