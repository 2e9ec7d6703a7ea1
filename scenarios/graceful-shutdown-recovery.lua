-- graceful-shutdown-recovery: a pod stopped with SIGTERM hands its runs
-- over instead of leaving them to go stale. mesh-2 owns a streamed run and
-- is stopped mid-run: it logs the handover, removes its heartbeat row and
-- exits 0; a survivor takes the run over sooner than stale-heartbeat
-- detection could (2 s at the earliest with meshd's defaults) and finishes
-- it. A watcher on mesh-2 sees its stream end without `done` and resumes
-- on a survivor with Last-Event-ID; with it, watchers on mesh-1 and mesh-3
-- and Postgres all hold every chunk exactly once. Synchronises on the
-- persisted part count and owner (Postgres), the streams' events and
-- readiness.

local mp = require "mpod"
local meshd = require "meshd"

mp.exclusive()

local c = mp.cluster()
local CHUNKS, INTERVAL_MS = 20, 150
-- stale detection takes over at the earliest STALE_AFTER_MS (3 s) after the
-- last heartbeat, which is at most HEARTBEAT_INTERVAL_MS (1 s) before the
-- stop: 2 s after the handover. A takeover sooner than this was handed over.
local HANDOVER_BOUND = 1.5
-- meshd only lets a pod take runs over once it has heartbeated for
-- STALE_AFTER_MS in a row: the survivors must be that old for "at once"
local ELIGIBLE_AFTER = 3.2

mp.before_all(function() meshd.wait_healthy(c) end)

mp.test("SIGTERM hands the run over; watchers resume and see each chunk once", function()
  local db <close> = c:db()
  local m2 = c:pod("mesh-2")
  local s = meshd.bootstrap_session(c:pod("mesh-1"))
  local t = meshd.create_thread(m2, s)
  local on_owner = meshd.open_stream(m2, s, t.id)
  local owner_watch = mp.spawn(meshd.collect, on_owner, 60)
  local watchers = {}
  for _, name in ipairs { "mesh-1", "mesh-3" } do
    watchers[#watchers + 1] = mp.spawn(meshd.collect, meshd.open_stream(c:pod(name), s, t.id), 60)
  end
  mp.expect(meshd.start_run(m2, s, t.id, { chunks = CHUNKS, interval_ms = INTERVAL_MS }).pod):eq("mesh-2")
  meshd.wait_parts(db, t.id, 4, 10)
  meshd.wait_settled(db, { c:pod("mesh-1"), c:pod("mesh-3") }, ELIGIBLE_AFTER, 10)

  local stopping_at = mp.now()
  m2:stop()
  local stop_took = mp.now() - stopping_at
  mp.expect(m2:state()):eq("exited")
  -- a runner that did not start the process (`mpod-lua up` did) cannot know
  -- its exit status; meshd's `event=exit status=0` line is checked below
  local exit = m2:info().exit
  if exit ~= "exit status unknown" then mp.expect(exit):eq("exit code 0") end
  mp.expect(db:scalar("SELECT count(*) FROM pods WHERE name = 'mesh-2'")):eq(0)   -- deregistered

  local owner = meshd.wait_owner(db, t.id, function(o) return o ~= "mesh-2" end, 10,
    "a survivor to take over thread " .. t.id .. " from mesh-2")
  mp.expect(owner == "mesh-1" or owner == "mesh-3"):eq(true)

  -- the owner's stream ended without done: resume on a survivor
  local cut = owner_watch:wait(10)
  mp.expect(cut.done):is_nil()
  mp.expect(cut.ended):eq("closed")
  local last = cut.seqs[#cut.seqs]
  mp.note(string.format("mesh-2's stream ended after seq %s; resuming on mesh-3", tostring(last)))
  local resumed = meshd.open_stream(c:pod("mesh-3"), s, t.id, { last_event_id = last })
  meshd.expect_complete(meshd.collect(resumed, 60, cut), CHUNKS, "mesh-2 watcher resumed on mesh-3")

  local seen = mp.wait_all(watchers, 70)
  meshd.expect_complete(seen[1], CHUNKS, "mesh-1 watcher")
  meshd.expect_complete(seen[2], CHUNKS, "mesh-3 watcher")

  mp.expect(meshd.wait_completed(db, t.id, 10).run_owner_pod):eq(owner)
  meshd.expect_parts(db, t.id, CHUNKS)
  local logs = m2:logs()
  local id = meshd.escape(t.id)
  local next_seq = tonumber(logs:match("event=handover thread=" .. id .. " next_seq=(%d+)"))
  if not next_seq then mp.fail("mesh-2 logged no event=handover of thread " .. t.id) end
  mp.expect(logs):contains("event=deregistered")
  mp.expect(logs):matches("event=exit status=0%s*$")
  local owner_logs = c:pod(owner):logs()
  local takeover = "event=takeover thread=" .. id .. " from=mesh%-2 resume_seq=(%d+)"
  local resume = tonumber(owner_logs:match(takeover))
  if not resume then mp.fail(owner .. " logged no event=takeover of thread " .. t.id .. " from mesh-2") end
  mp.expect(resume):eq(next_seq)         -- it resumed exactly where mesh-2 stopped
  -- handed over, not detected stale: the takeover followed the handover
  -- sooner than a stale heartbeat could be noticed (meshd's own time stamps,
  -- so Docker's stop latency does not count)
  local gap = meshd.log_time(owner_logs, takeover) - meshd.log_time(logs, "event=handover thread=" .. id)
  mp.note(string.format("mesh-2 stopped in %.2f s; %s took over %.3f s after the handover",
    stop_took, owner, gap))
  mp.expect(gap):lt(HANDOVER_BOUND)
end, { timeout = 90 })

mp.test("the stopped pod starts again and serves", function()
  local m2 = c:pod("mesh-2")
  m2:start()
  m2:wait_ready(30)
  meshd.wait_ready_state(m2, meshd.READY, 20)
  local s = meshd.bootstrap_session(m2)
  local t = meshd.run(m2, s, { chunks = 3, interval_ms = 20 })
  meshd.expect_complete(meshd.watch(c:pod("mesh-1"), s, t.id, { timeout = 15 }), 3, "mesh-1 watcher")
end, { timeout = 60 })
