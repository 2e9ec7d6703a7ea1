-- Every pod of the process cluster runs (after healing) and answers.
local mp = require "mpod"
local c = mp.cluster()
mp.test("every pod is running", function()
  for _, p in ipairs(c:pods()) do mp.expect(p:state()):eq("running") end
end)
