-- nats-outage: NATS is for speed, Postgres for truth. With the nats pod
-- stopped, every mesh pod stays ready (200) but reports nats "down" and
-- status "degraded"; runs go on and streams on other pods still deliver
-- every chunk exactly once (they poll Postgres meanwhile), both for a run
-- that began before the outage and one started during it. Once NATS is
-- back, every pod reports it up again and live fan-out works. Synchronises
-- on readiness (polled on every pod), the persisted part count and the
-- streams' events.
-- (Issue 7 adds proxy-based variants; this one stops the pod.)

local mp = require "mpod"
local meshd = require "meshd"

mp.exclusive()

local c = mp.cluster()
local CHUNKS, INTERVAL_MS = 20, 100
local DEGRADED = "http=200 status=degraded postgres=up nats=down"
local UP = "http=200 status=ok postgres=up nats=up"

mp.before_all(function() meshd.wait_healthy(c) end)

local session, before, stream

local function on_every_pod(fn)
  local tasks = {}
  for _, pod in ipairs(c:pods("mesh")) do tasks[#tasks + 1] = mp.spawn(fn, pod) end
  return mp.wait_all(tasks)
end

mp.test("with nats stopped, every pod is ready but degraded", function()
  local db <close> = c:db()
  session = meshd.bootstrap_session(c:pod("mesh-1"))
  before = meshd.create_thread(c:pod("mesh-1"), session)
  stream = meshd.open_stream(c:pod("mesh-2"), session, before.id)
  meshd.start_run(c:pod("mesh-1"), session, before.id, { chunks = CHUNKS, interval_ms = INTERVAL_MS })
  meshd.wait_parts(db, before.id, 3, 10)

  c:pod("nats"):stop()
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
  local t = meshd.create_thread(c:pod("mesh-3"), session)
  local watchers = {}
  for _, name in ipairs { "mesh-1", "mesh-2" } do
    watchers[#watchers + 1] = mp.spawn(meshd.collect, meshd.open_stream(c:pod(name), session, t.id), 30)
  end
  meshd.start_run(c:pod("mesh-3"), session, t.id, { chunks = 10, interval_ms = 50 })
  local seen = mp.wait_all(watchers, 40)
  meshd.expect_complete(seen[1], 10, "mesh-1 watcher (NATS down)")
  meshd.expect_complete(seen[2], 10, "mesh-2 watcher (NATS down)")
  meshd.expect_parts(db, t.id, 10)
  -- NATS was down the whole time
  mp.expect(c:pod("nats"):state()):ne("running")
end, { timeout = 60 })

mp.test("when nats returns, every pod reports it up and streams deliver runs again", function()
  local nats = c:pod("nats")
  nats:start()
  nats:wait_ready(60)
  on_every_pod(function(pod) meshd.wait_ready_state(pod, UP, 30) end)
  local t = meshd.create_thread(c:pod("mesh-2"), session)
  local watchers = {}
  for _, name in ipairs { "mesh-1", "mesh-3" } do
    watchers[#watchers + 1] = mp.spawn(meshd.collect, meshd.open_stream(c:pod(name), session, t.id), 30)
  end
  meshd.start_run(c:pod("mesh-2"), session, t.id, { chunks = 10, interval_ms = 50 })
  local seen = mp.wait_all(watchers, 40)
  meshd.expect_complete(seen[1], 10, "mesh-1 watcher (NATS back)")
  meshd.expect_complete(seen[2], 10, "mesh-3 watcher (NATS back)")
end, { timeout = 120 })
