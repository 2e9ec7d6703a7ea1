-- nats-outage: NATS is for speed, Postgres for truth. With the nats pod
-- stopped, every mesh pod stays ready (200) but reports nats "down" and
-- status "degraded"; runs go on and streams on other pods still deliver
-- every chunk exactly once (they poll Postgres meanwhile), both for a run
-- that began before the outage and one started during it. Once NATS is
-- back, every pod reports it up again and live fan-out works. Synchronises
-- on readiness (polled on every pod), the persisted part count and the
-- streams' events.
--
-- The second half cuts the link at the Toxiproxy between the pods and NATS
-- while NATS itself runs: with the proxy down, and with the link hanging
-- (connections open, nothing delivered: the NATS client may not notice),
-- every pod reads degraded within readiness's bound and runs still reach
-- every watcher exactly once; once the link is back, every pod reports
-- NATS up and live fan-out works.

local mp = require "mpod"
local meshd = require "meshd"

mp.exclusive()

local c = mp.cluster()
local NO_PROXY = meshd.without_proxies(c)
local CHUNKS, INTERVAL_MS = 20, 100
local DEGRADED = meshd.NATS_DOWN
local UP = meshd.READY

mp.before_all(function() meshd.wait_healthy(c) end)

local session, before, stream
local nats_host, nats_port        -- NATS's client port, found while it runs

local function on_every_pod(fn) return meshd.on_every_pod(c, fn) end

mp.test("with nats stopped, every pod is ready but degraded", function()
  local db <close> = c:db()
  session = meshd.bootstrap_session(c:pod("mesh-1"))
  before = meshd.create_thread(c:pod("mesh-1"), session)
  stream = meshd.open_stream(c:pod("mesh-2"), session, before.id)
  meshd.start_run(c:pod("mesh-1"), session, before.id, { chunks = CHUNKS, interval_ms = INTERVAL_MS })
  meshd.wait_parts(db, before.id, 3, 10)

  nats_host, nats_port = meshd.nats_address(c)
  c:pod("nats"):stop()
  mp.expect(meshd.nats_answers(nats_host, nats_port)):falsy()
  on_every_pod(function(pod)
    local res = meshd.wait_ready_state(pod, DEGRADED, 10)
    mp.expect(res.json.pod):eq(pod.name)
  end)
  -- and it stays so: a dead NATS never makes a pod unready. Each check may
  -- take up to meshd's 1.3 s readiness bound; consistently gives an attempt
  -- until one interval past the window, hence the interval.
  mp.consistently(function()
    return meshd.ready_state(meshd.readiness(c:pod("mesh-3"))) == DEGRADED
  end, { duration = 3, interval = 1.5, label = "mesh-3 stays ready, degraded" })
end, { timeout = 60 })

mp.test("during the outage runs go on and streams deliver each chunk once", function()
  local db <close> = c:db()
  -- the run that began before the outage, watched from mesh-2
  meshd.expect_complete(meshd.collect(stream, 30), CHUNKS, "mesh-2 watcher of the run begun before")
  meshd.expect_parts(db, before.id, CHUNKS)
  -- a run started during the outage on mesh-3, watched from mesh-1 and mesh-2
  meshd.run_reaches_every_watcher(c, session, "mesh-3", { "mesh-1", "mesh-2" }, 10, "NATS down")
  -- NATS was down the whole time
  mp.expect(c:pod("nats"):state()):ne("running")
end, { timeout = 60 })

mp.test("when nats returns, every pod reports it up and streams deliver runs again", function()
  local nats = c:pod("nats")
  nats:start()
  nats:wait_ready(60)
  mp.expect(meshd.nats_answers(nats_host, nats_port)):truthy()
  on_every_pod(function(pod) meshd.wait_ready_state(pod, UP, 30) end)
  meshd.run_reaches_every_watcher(c, session, "mesh-2", { "mesh-1", "mesh-3" }, 10, "NATS back")
end, { timeout = 120 })

mp.describe("the link to nats cut at the proxy", function()
  mp.test("with the link down, every pod is degraded and runs reach every watcher", function()
    meshd.wait_healthy(c)
    session = meshd.bootstrap_session(c:pod("mesh-3"))
    c:proxy("nats"):down()
    on_every_pod(function(pod) meshd.wait_ready_state(pod, DEGRADED, 10) end)
    meshd.run_reaches_every_watcher(c, session, "mesh-1", { "mesh-2", "mesh-3" }, 10, "NATS link down")
  end, { skip = NO_PROXY, timeout = 90 })

  mp.test("with the link hanging, pods read degraded within the bound and runs still arrive", function()
    local link = c:proxy("nats")
    link:up()
    on_every_pod(function(pod) meshd.wait_ready_state(pod, UP, 30) end)
    link:timeout { ms = 0 }           -- the open connections stall
    on_every_pod(function(pod)
      local res = meshd.wait_ready_state(pod, DEGRADED, 10)
      mp.expect(res.time):lt(3)       -- meshd: NATS round trip capped at 300 ms
    end)
    meshd.run_reaches_every_watcher(c, session, "mesh-2", { "mesh-1", "mesh-3" }, 10, "NATS link hanging")
  end, { skip = NO_PROXY, timeout = 90 })

  mp.test("when the link is back, every pod reports nats up and fan-out works", function()
    c:proxy("nats"):clear()
    on_every_pod(function(pod) meshd.wait_ready_state(pod, UP, 30) end)
    meshd.run_reaches_every_watcher(c, session, "mesh-3", { "mesh-1", "mesh-2" }, 10, "NATS link back")
  end, { skip = NO_PROXY, timeout = 120 })
end)
