-- Leaves a fault set: the proxy down and the pod's latency high.
local mp = require "mpod"
mp.exclusive()
mp.test("leave faults behind", function()
  mp.cluster():proxy("web"):latency { ms = 2000 }
  mp.cluster():proxy("web"):down()
end)
