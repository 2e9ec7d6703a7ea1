-- A file whose top level never ends: the file fails as a whole.
local mp = require "mpod"
mp.test("never registered in time", function() end)
while true do end
