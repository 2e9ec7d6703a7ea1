-- pod-death-replay: a run survives the death of the pod that owns it.
-- mesh-1 owns a streamed run and is SIGKILLed mid-run; once its heartbeat
-- is stale, a survivor takes the run over (one compare-and-set in
-- Postgres), resumes after the last persisted chunk and finishes it.
-- Watchers on mesh-2 and mesh-3, attached before the kill, see every chunk
-- exactly once and `done`; a watcher that attaches after the takeover
-- replays what was persisted and goes on live, also exactly once; Postgres
-- holds chunk-1..N once each, those before the takeover by mesh-1 and the
-- rest by the new owner. Synchronises on the persisted part count and the
-- owner column (Postgres), on the streams' events and on readiness.

local mp = require "mpod"
local meshd = require "meshd"

mp.exclusive()

local c = mp.cluster()
local CHUNKS, INTERVAL_MS = 20, 150

mp.before_all(function() meshd.wait_healthy(c) end)

mp.test("a survivor takes over a killed owner's run; every watcher sees each chunk once", function()
  local db <close> = c:db()
  local m1 = c:pod("mesh-1")
  local s = meshd.bootstrap_session(c:pod("mesh-2"))
  local t = meshd.create_thread(m1, s)
  local watchers = {}
  for _, name in ipairs { "mesh-2", "mesh-3" } do
    local stream = meshd.open_stream(c:pod(name), s, t.id)
    watchers[#watchers + 1] = mp.spawn(meshd.collect, stream, 60)
  end
  mp.expect(meshd.start_run(m1, s, t.id, { chunks = CHUNKS, interval_ms = INTERVAL_MS }).pod):eq("mesh-1")
  meshd.wait_parts(db, t.id, 4, 10)

  local killed_at = mp.now()
  m1:kill()
  mp.expect(m1:state()):eq("exited")
  local at_kill = meshd.part_count(db, t.id)
  mp.expect(at_kill):lt(CHUNKS)

  local owner = meshd.wait_owner(db, t.id, function(o) return o ~= "mesh-1" end, 15,
    "a survivor to take over thread " .. t.id .. " from the killed mesh-1")
  mp.note(string.format("%s took over %.1f s after the kill, %d chunks persisted at the kill",
    owner, mp.now() - killed_at, at_kill))
  mp.expect(owner == "mesh-2" or owner == "mesh-3"):eq(true)

  -- a late watcher, attached after the takeover, on the other survivor
  local other = owner == "mesh-2" and "mesh-3" or "mesh-2"
  local late = mp.spawn(meshd.watch, c:pod(other), s, t.id, { timeout = 60 })

  local seen = mp.wait_all(watchers, 70)
  meshd.expect_complete(seen[1], CHUNKS, "mesh-2 watcher (attached before the kill)")
  meshd.expect_complete(seen[2], CHUNKS, "mesh-3 watcher (attached before the kill)")
  meshd.expect_complete(late:wait(70), CHUNKS, other .. " watcher (attached after the takeover)")

  local row = meshd.wait_completed(db, t.id, 10)
  mp.expect(row.run_owner_pod):eq(owner)
  local parts = meshd.expect_parts(db, t.id, CHUNKS)
  local logs = c:pod(owner):logs()
  local resume = tonumber(logs:match("event=takeover thread=" .. meshd.escape(t.id) ..
    " from=mesh%-1 resume_seq=(%d+)"))
  if not resume then mp.fail(owner .. " logged no event=takeover of thread " .. t.id .. " from mesh-1") end
  mp.expect(resume):gt(at_kill)          -- nothing persisted was written again
  for _, part in ipairs(parts) do
    mp.expect(part.pod):eq(part.seq < resume and "mesh-1" or owner)
  end
end, { timeout = 90 })

mp.test("after the run, a watcher on any survivor replays it exactly once", function()
  local db <close> = c:db()
  local id = db:scalar([[SELECT id::text FROM threads WHERE run_owner_pod IN ('mesh-2', 'mesh-3')
    AND status = 'completed' AND chunk_total = $1 ORDER BY completed_at DESC LIMIT 1]], CHUNKS)
  if not id then mp.fail("the first test left no completed run") end
  local email = db:scalar([[SELECT u.email FROM users u JOIN threads t ON t.user_id = u.id
    WHERE t.id = $1]], id)
  local s = meshd.sign_in(c:pod("mesh-3"), email)
  for _, name in ipairs { "mesh-2", "mesh-3" } do
    meshd.expect_complete(meshd.watch(c:pod(name), s, id, { timeout = 10 }), CHUNKS, name .. " replay")
  end
end, { timeout = 30 })

mp.test("the killed pod comes back as a new instance and serves", function()
  local m1 = c:pod("mesh-1")
  m1:start()
  m1:wait_ready(30)
  meshd.wait_ready_state(m1, meshd.READY, 20)
  local s = meshd.bootstrap_session(m1)
  local t = meshd.run(m1, s, { chunks = 3, interval_ms = 20 })
  meshd.expect_complete(meshd.watch(c:pod("mesh-3"), s, t.id, { timeout = 15 }), 3, "mesh-3 watcher")
end, { timeout = 60 })
