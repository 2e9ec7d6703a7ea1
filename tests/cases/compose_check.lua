-- Every pod of the compose cluster runs (after healing) and answers.
local mp = require "mpod"
local c = mp.cluster()
mp.test("every pod is running and answers", function()
  for _, p in ipairs(c:pods()) do
    mp.expect(p:state()):eq("running")
    mp.expect(p:get("/health").status):eq(200)
  end
end)
