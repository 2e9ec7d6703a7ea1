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
-- (Issue 7 adds proxy-based variants; this one stops the pod.)

local mp = require "mpod"
local meshd = require "meshd"

mp.exclusive()

local c = mp.cluster()
local CHUNKS, INTERVAL_MS = 30, 100
local DOWN = "http=503 status=down postgres=down nats=up"
local UP = "http=200 status=ok postgres=up nats=up"

-- shared by the tests, in order: the stream reads in the background
-- whatever task runs, so it stays attached from the first test to the last
local session, thread, stream

mp.before_all(function() meshd.wait_healthy(c) end)

local function on_every_pod(fn)
  local tasks = {}
  for _, pod in ipairs(c:pods("mesh")) do tasks[#tasks + 1] = mp.spawn(fn, pod) end
  return mp.wait_all(tasks)
end

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
