-- Four megabytes of notes, sent faster than a paused runner reads them:
-- tests/lua/runner_failures.lua stops the runner with SIGSTOP while this
-- file's child still has most of them to send, so the child's last flush
-- waits for the runner (it once gave up after 2 s and the end was lost).
local mp = require "mpod"
local LINE = string.rep("r", 1000)
mp.test("many notes", function()
  for i = 1, 4000 do mp.note(string.format("%04d %s", i, LINE)) end
end)
mp.test("after the notes", function() end)
