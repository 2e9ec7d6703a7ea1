-- Pods and databases that are not there: an unknown pod name, a pod that
-- refuses connections, one that accepts and never answers, a Postgres
-- nobody listens for (c:db() and mp.pg.connect). Each test fails with its
-- message; the last one still passes. Run with tests/clusters/bad_pods.lua.
local mp = require "mpod"
local c = mp.cluster()
mp.test("an unknown pod", function() c:pod("nope") end)
mp.test("a pod that refuses connections", function() c:pod("refused"):get("/health") end)
mp.test("a pod that never answers", function()
  c:pod("silent"):get("/health", { timeout = 0.5 })
end)
mp.test("a stopped Postgres through c:db()", function() c:db() end)
mp.test("a stopped Postgres through mp.pg.connect", function()
  mp.pg.connect(os.getenv("BAD_PG_DSN"))
end)
mp.test("the run goes on", function()
  mp.expect(c:pod("up"):get("/json")):status(200)
end)
