-- nats-partition: a pod cut off from NATS (and only from NATS) still keeps
-- meshd's promises. c:partition({"mesh-1"}, {"nats"}) drops the packets
-- between mesh-1 and NATS (which, in the reference cluster, means mesh-1
-- and the NATS port of the Toxiproxy the pods reach NATS through) while
-- both keep every other link. mesh-1 reads ready but degraded, the other
-- pods stay ok; a run owned by mesh-1, which cannot publish, reaches
-- watchers on every pod exactly once (Postgres is the truth, streams poll
-- it), and so does a run owned by a connected pod watched from mesh-1;
-- sessions and API keys made on either side work on the other. After
-- c:heal(), mesh-1 reports NATS up and live fan-out works again.
-- Partitions need the compose backend; on the process backend (one
-- network stack for every pod) the tests are skipped, saying why.

local mp = require "mpod"
local meshd = require "meshd"

mp.exclusive()

local c = mp.cluster()
local NOT_HERE = c.backend ~= "compose"
  and "partitions need the compose backend (the process backend's pods share one network stack)"
  or nil
local UP = meshd.READY
local DEGRADED = meshd.NATS_DOWN

local session

mp.test("mesh-1 cut from nats reads degraded while the other pods stay ok", function()
  meshd.wait_healthy(c)
  session = meshd.bootstrap_session(c:pod("mesh-2"))
  c:partition({ "mesh-1" }, { "nats" })
  meshd.wait_ready_state(c:pod("mesh-1"), DEGRADED, 15)
  mp.consistently(function()
    for _, name in ipairs { "mesh-2", "mesh-3" } do
      mp.expect(meshd.ready_state(meshd.readiness(c:pod(name)))):eq(UP)
    end
    mp.expect(meshd.ready_state(meshd.readiness(c:pod("mesh-1")))):eq(DEGRADED)
    return true
  end, { duration = 3, interval = 1, label = "only mesh-1 loses nats" })
end, { skip = NOT_HERE, timeout = 60 })

mp.test("a run on the cut-off pod reaches watchers on every pod exactly once", function()
  meshd.run_reaches_every_watcher(c, session, "mesh-1", { "mesh-1", "mesh-2", "mesh-3" }, 10,
    "mesh-1 cut from NATS")
end, { skip = NOT_HERE, timeout = 90 })

mp.test("a run on a connected pod reaches the cut-off pod's watcher exactly once", function()
  meshd.run_reaches_every_watcher(c, session, "mesh-2", { "mesh-1", "mesh-3" }, 10, "mesh-1 cut from NATS")
end, { skip = NOT_HERE, timeout = 90 })

mp.test("sessions and API keys made on either side work on the other", function()
  local s1 = meshd.bootstrap_session(c:pod("mesh-1"))
  mp.expect(meshd.get_session(c:pod("mesh-3"), s1)):status(200)
  local key = meshd.mint_api_key(c:pod("mesh-3"), s1, "across the partition")
  local res = meshd.get_session(c:pod("mesh-1"), { bearer = key })
  mp.expect(res):status(200)
  mp.expect(res.json.user.id):eq(s1.user.id)
end, { skip = NOT_HERE, timeout = 60 })

mp.test("after c:heal(), mesh-1 reports nats up and fan-out works again", function()
  c:heal()
  meshd.wait_healthy(c)
  meshd.run_reaches_every_watcher(c, session, "mesh-2", { "mesh-1" }, 10, "partition healed")
  meshd.run_reaches_every_watcher(c, session, "mesh-1", { "mesh-3" }, 10, "partition healed")
end, { skip = NOT_HERE, timeout = 120 })
