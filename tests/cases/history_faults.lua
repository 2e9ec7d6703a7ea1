-- history_faults.lua: Toxiproxy faults on tests/clusters/faults.lua, for
-- tests/lua/history.lua to find as fault.add / fault.remove pairs in the
-- exported history.
local mp = require "mpod"
mp.exclusive()
local c = mp.cluster()
local web = c:proxy("web")

mp.test("faults", function()
  web:latency { ms = 100 }
  web:clear()                              -- removes fault 1
  web:down()
  web:up()                                 -- removes fault 2
  web:latency { ms = 10, for_s = 0.2 }     -- fault 3: the runner removes it
  web:timeout { ms = 0 }
  c:heal()                                 -- removes fault 4
end)
