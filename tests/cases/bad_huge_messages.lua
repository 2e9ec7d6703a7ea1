-- Strings of 64 MiB in every place a scenario's output goes: a note, an
-- error message, an error's field and key, a test name, a SKIP reason.
-- Each reaches the report cut to its limit, quickly, and the tests after
-- them still report (a 64 MiB line once broke the channel to the runner
-- and the file hung until its timeout).
local mp = require "mpod"
local errors = require "mpod.error"
local HUGE = 64 << 20
mp.test("a note of 64 MiB", function() print(string.rep("n", HUGE)) end)
mp.test("an error message of 64 MiB", function() error(string.rep("e", HUGE), 0) end)
mp.test("an error field and key of 64 MiB", function()
  error(errors.new("data", "big field", { rows = string.rep("r", HUGE), [string.rep("k", HUGE)] = 1 }))
end)
mp.test("a test name of 64 MiB: " .. string.rep("t", HUGE), function() end)
mp.skip("a SKIP reason of 64 MiB", string.rep("s", HUGE))
mp.test("a multi-line note of 3 MiB", function()
  local line = string.rep("m", 1023)
  print(string.rep(line, 3 * 1024, "\n"))
end)
mp.test("still reports", function() end)
