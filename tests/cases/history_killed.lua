-- history_killed.lua: records ops, then hangs until the runner's file
-- timeout kills it; what it recorded before is in its history file.
local mp = require "mpod"

mp.test("hangs", function()
  local h = mp.history()
  for i = 1, 3 do h:invoke("step", i):ok() end
  h:invoke("forever", nil)
  mp.sleep(600)
end, { timeout = 900 })
