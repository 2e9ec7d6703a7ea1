-- A syntax error: the file fails as a whole, the run goes on.
local mp = require "mpod"
mp.test("never registered", function()
end
