-- A plain file that records when it runs (MPOD_TEST_LOG).
local mp = require "mpod"
local function log(what)
  local f = assert(io.open(os.getenv("MPOD_TEST_LOG"), "a"))
  f:write(string.format("%s concurrent_1 %.6f\n", what, mp.now()))
  f:close()
end
mp.test("runs with others", function() log("start"); mp.sleep(0.4); log("end") end)
