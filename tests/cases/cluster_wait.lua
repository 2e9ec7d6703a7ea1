-- Waits long enough for a test to interrupt or kill the runner.
local mp = require "mpod"
mp.test("waits", function()
  mp.cluster()
  print("cluster is up")
  mp.sleep(60)
end, { timeout = 120 })
