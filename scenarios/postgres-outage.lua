-- postgres-outage: losing Postgres degrades the service honestly and it
-- recovers by itself. With the postgres pod stopped, every mesh pod stays
-- live, reports readiness 503 with postgres "down" (nats still "up"), and
-- answers requests that need the database with 503 "database unavailable"
-- promptly instead of hanging; a run in progress waits. Once Postgres is
-- back, every pod is ready again, existing sessions still work, new
-- sign-ups work, and the run started before the outage completes with
-- every chunk exactly once, in Postgres and on a watcher that stayed
-- attached through the outage. Synchronises on readiness (polled on every
-- pod), the persisted part count and the stream.
--
-- The same holds when Postgres runs but the link to it is cut at the
-- Toxiproxy between the pods and Postgres (the second half): with the
-- proxy down, requests fail fast; with the link hanging (connections
-- accepted, nothing answered), readiness still answers within its bound
-- and requests give up within seconds instead of hanging; once the link
-- is back, a run that spanned both completes with every chunk once.

local mp = require "mpod"
local meshd = require "meshd"

mp.exclusive()

local c = mp.cluster()
local NO_PROXY = meshd.without_proxies(c)
local CHUNKS, INTERVAL_MS = 30, 100
local DOWN = meshd.POSTGRES_DOWN
local UP = meshd.READY

-- shared by the tests, in order: the stream reads in the background
-- whatever task runs, so it stays attached from the first test to the last
local session, thread, stream

mp.before_all(function() meshd.wait_healthy(c) end)

local function on_every_pod(fn) return meshd.on_every_pod(c, fn) end

mp.test("with postgres stopped, readiness is 503 with postgres down on every pod", function()
  session = meshd.bootstrap_session(c:pod("mesh-1"))
  thread = meshd.create_thread(c:pod("mesh-1"), session)
  stream = meshd.open_stream(c:pod("mesh-3"), session, thread.id)
  meshd.start_run(c:pod("mesh-1"), session, thread.id, { chunks = CHUNKS, interval_ms = INTERVAL_MS })
  do
    local db <close> = c:db()
    meshd.wait_parts(db, thread.id, 3, 10)
  end

  c:pod("postgres"):stop()
  on_every_pod(function(pod)
    local res = meshd.wait_ready_state(pod, DOWN, 10)
    mp.expect(res.json.status):eq("down")
    mp.expect(pod:get("/health/live")):status(200)
  end)
end, { timeout = 60 })

mp.test("requests that need the database fail fast with 503", function()
  on_every_pod(function(pod)
    local started = mp.now()
    local res = meshd.get_session(pod, session)
    mp.expect(res):status(503)
    mp.expect(res.json):eq({ error = "database unavailable" })
    mp.expect(mp.now() - started):lt(3)
  end)
end, { timeout = 30 })

mp.test("when postgres returns, every pod is ready and serves again", function()
  local pg = c:pod("postgres")
  pg:start()
  pg:wait_ready(60)
  on_every_pod(function(pod) meshd.wait_ready_state(pod, UP, 30) end)
  on_every_pod(function(pod)
    local res = meshd.get_session(pod, session)
    mp.expect(res):status(200)
    mp.expect(res.json.user.id):eq(session.user.id)
  end)
  meshd.bootstrap_session(c:pod("mesh-2"))
end, { timeout = 120 })

mp.test("the run started before the outage completes, each chunk once", function()
  if not thread then mp.fail("the first test did not start the run") end
  local db <close> = c:db()
  meshd.wait_completed(db, thread.id, 30)
  meshd.expect_parts(db, thread.id, CHUNKS)
  -- the run spanned the outage: part of it was written after the restart
  local after = db:scalar([[SELECT count(*) FROM thread_message_parts
    WHERE thread_id = $1 AND created_at > pg_postmaster_start_time()]], thread.id)
  mp.note(string.format("%d of %d chunks were written after Postgres came back", after, CHUNKS))
  mp.expect(after):gt(0)
  meshd.expect_complete(meshd.collect(stream, 30), CHUNKS, "mesh-3 watcher attached through the outage")
  stream:close()
end, { timeout = 60 })

mp.describe("the link to postgres cut at the proxy", function()
  local link_session, link_thread, link_stream

  mp.test("with the link down, every pod is unready and requests fail fast", function()
    meshd.wait_healthy(c)
    link_session = meshd.bootstrap_session(c:pod("mesh-2"))
    link_thread = meshd.create_thread(c:pod("mesh-2"), link_session)
    link_stream = meshd.open_stream(c:pod("mesh-1"), link_session, link_thread.id)
    meshd.start_run(c:pod("mesh-2"), link_session, link_thread.id,
      { chunks = CHUNKS, interval_ms = INTERVAL_MS })
    do
      local db <close> = c:db()
      meshd.wait_parts(db, link_thread.id, 3, 10)
    end

    c:proxy("postgres"):down()
    on_every_pod(function(pod)
      meshd.wait_ready_state(pod, DOWN, 10)
      mp.expect(pod:get("/health/live")):status(200)
      local took, res = meshd.timed(meshd.get_session, pod, link_session)
      mp.expect(res):status(503)
      mp.expect(res.json):eq({ error = "database unavailable" })
      mp.expect(took):lt(3)
    end)
  end, { skip = NO_PROXY, timeout = 60 })

  mp.test("with the link hanging, readiness keeps its bound and requests give up", function()
    local link = c:proxy("postgres")
    link:timeout { ms = 0 }            -- connections accepted, never answered
    link:up()
    on_every_pod(function(pod)
      local res = meshd.wait_ready_state(pod, DOWN, 10)
      mp.expect(res.time):lt(3)        -- meshd: within about 1.3 s
      -- meshd: about 5 s when Postgres hangs (pool wait, connect and
      -- statement deadlines); 10 s leaves room for a loaded machine
      local took, answer = meshd.timed(meshd.get_session, pod, link_session)
      mp.expect(answer):status(503)
      mp.expect(took):lt(10)
    end)
  end, { skip = NO_PROXY, timeout = 60 })

  mp.test("when the link is back, every pod serves and the run completes once", function()
    if not link_thread then mp.fail("the first test of this group did not start the run") end
    c:proxy("postgres"):clear()
    on_every_pod(function(pod)
      meshd.wait_ready_state(pod, UP, 30)
      local res = meshd.get_session(pod, link_session)
      mp.expect(res):status(200)
      mp.expect(res.json.user.id):eq(link_session.user.id)
    end)
    local db <close> = c:db()
    meshd.wait_completed(db, link_thread.id, 40)
    meshd.expect_parts(db, link_thread.id, CHUNKS)
    meshd.expect_complete(meshd.collect(link_stream, 30), CHUNKS,
      "mesh-1 watcher attached while the link was cut")
    link_stream:close()
  end, { skip = NO_PROXY, timeout = 120 })
end)
