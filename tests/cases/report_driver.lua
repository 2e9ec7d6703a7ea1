-- report_driver.lua: runs the Lua chunk in $MPOD_REPORT_CHUNK inside one
-- test, for tests/lua/report.lua, which drives mpod.runner.report directly.
--
-- A scenario child's C stdout is the runner's stderr (stdout carries the
-- runner's TAP only), so a reporter made here writes its TAP and its
-- closing line to the stderr of this nested mpod-lua run, in the order
-- written: report.lua reads that stream whole. The chunk gets `report`
-- (the module) and `mark(text)`, which writes "@text" between reporter
-- calls to show what had been printed by then.
local mp = require "mpod"

local function mark(text)
  io.stdout:write("@", tostring(text), "\n")
  io.stdout:flush()
end

mp.test("report chunk", function()
  local src = assert(os.getenv("MPOD_REPORT_CHUNK"), "MPOD_REPORT_CHUNK is not set")
  local env = setmetatable({ report = require "mpod.runner.report", mark = mark }, { __index = _G })
  local chunk = assert(load(src, "=report chunk", "t", env))
  chunk()
  io.stdout:flush()
end)
