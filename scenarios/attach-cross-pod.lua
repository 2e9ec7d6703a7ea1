-- attach-cross-pod: a streamed run is one thing for the whole cluster. A
-- run started on mesh-1 is watched live over SSE from mesh-1, and from
-- mesh-2 and mesh-3, which attach once some chunks are persisted: they
-- replay those, then get the rest live (fanned out over NATS from mesh-1),
-- each chunk exactly once, in order, then `done`. Postgres holds every
-- chunk once, written by mesh-1, which stays the owner. A stream opened
-- with Last-Event-ID resumes after that chunk. Synchronises on the
-- persisted part count (Postgres) and on the streams' own events.

local mp = require "mpod"
local meshd = require "meshd"

local c = mp.cluster()
local CHUNKS, INTERVAL_MS = 20, 150

mp.before_all(function() meshd.wait_healthy(c) end)

mp.test("watchers on every pod see the run live, exactly once", function()
  local db <close> = c:db()
  local m1 = c:pod("mesh-1")
  local s = meshd.bootstrap_session(m1)
  local t = meshd.create_thread(m1, s)
  -- mesh-1's own watcher is there before the run starts
  local early = meshd.open_stream(m1, s, t.id)
  local early_task = mp.spawn(meshd.collect, early, 30)
  mp.expect(meshd.start_run(m1, s, t.id, { chunks = CHUNKS, interval_ms = INTERVAL_MS }).pod):eq("mesh-1")

  local before = meshd.wait_parts(db, t.id, 3, 10)
  local late = {}
  for _, name in ipairs { "mesh-2", "mesh-3" } do
    late[name] = meshd.open_stream(c:pod(name), s, t.id)
  end
  -- the late watchers attached mid-run: chunks before (replayed) and after (live)
  local row = meshd.thread_row(db, t.id)
  mp.expect(row.status):eq("in_progress")
  mp.expect(row.parts):lt(CHUNKS)
  mp.note(string.format("late watchers attached with %d..%d of %d chunks persisted",
    before, row.parts, CHUNKS))

  local tasks = { early_task }
  for _, name in ipairs { "mesh-2", "mesh-3" } do
    tasks[#tasks + 1] = mp.spawn(meshd.collect, late[name], 30)
  end
  local seen = mp.wait_all(tasks, 40)
  for i, who in ipairs { "mesh-1 watcher", "mesh-2 watcher", "mesh-3 watcher" } do
    meshd.expect_complete(seen[i], CHUNKS, who)
    for seq = 1, CHUNKS do mp.expect(seen[i].pods[seq]):eq("mesh-1") end
  end

  local done = meshd.wait_completed(db, t.id, 10)
  mp.expect(done.run_owner_pod):eq("mesh-1")
  for _, part in ipairs(meshd.expect_parts(db, t.id, CHUNKS)) do mp.expect(part.pod):eq("mesh-1") end
end, { timeout = 60 })

mp.test("a stream opened with Last-Event-ID resumes after it", function()
  local m1 = c:pod("mesh-1")
  local s = meshd.bootstrap_session(m1)
  local t = meshd.run(m1, s, { chunks = 6, interval_ms = 20 })
  local db <close> = c:db()
  meshd.wait_completed(db, t.id, 10)
  for _, pod in ipairs(c:pods("mesh")) do
    local seen = meshd.watch(pod, s, t.id, { last_event_id = 4, timeout = 10 })
    mp.expect(seen.seqs):eq({ 5, 6 })
    mp.expect(seen.done):eq({ status = "completed", last_seq = 6 })
    local all = meshd.watch(pod, s, t.id, { timeout = 10 })
    meshd.expect_complete(all, 6, pod.name .. " replay of a completed run")
  end
end, { timeout = 40 })

mp.test("another user's thread is not found on any pod", function()
  local m1 = c:pod("mesh-1")
  local owner = meshd.bootstrap_session(m1)
  local t = meshd.run(m1, owner, { chunks = 1, interval_ms = 0 })
  local stranger = meshd.bootstrap_session(c:pod("mesh-2"))
  for _, pod in ipairs(c:pods("mesh")) do
    mp.expect(pod:get("/api/threads/" .. t.id, meshd.auth(stranger))):status(404)
    mp.expect(pod:get("/api/threads/" .. t.id .. "/stream", meshd.auth(stranger))):status(404)
  end
end, { timeout = 20 })
