-- Sets a fault and waits, so a test can kill the runner mid-fault.
local mp = require "mpod"
mp.test("hold a fault", function()
  mp.cluster():proxy("web"):timeout { ms = 0 }
  print("fault is set")
  mp.sleep(60)
end, { timeout = 120 })
