-- Notes and print output, and math.random under --seed.
local mp = require "mpod"
mp.test("random", function()
  mp.note("random " .. math.random(1, 1000000))
  print("printed", 1, true)
end)
