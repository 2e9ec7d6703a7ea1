-- meshd_bugs.lua: one targeted test per planted bug of meshd (compose/meshd/
-- bug.h), run by tests/lua/meshd_bugs.lua on the process reference cluster
-- (compose/local.lua) with plain meshd, where every test passes, and with
-- each variant (MESHD_BIN=build/meshd-bug-<name>), where the bug's test
-- fails. Each test drives the exact moment its bug needs; finding the bugs
-- without being told where they are is the chaos scenario's job. Run from
-- the repository root: the meshd helpers come from scenarios/lib.

package.path = "scenarios/lib/?.lua;" .. package.path

local mp = require "mpod"
local meshd = require "meshd"

mp.exclusive()

local c = mp.cluster()

mp.before_all(function() meshd.wait_healthy(c) end)
mp.after_each(function() c:heal() end)   -- the pods a test killed or paused

-- present(db, ids) -> the ids of the list that are rows of threads
local function present(db, ids)
  local found = {}
  for _, row in ipairs(db:query("SELECT id::text AS id FROM threads WHERE id = ANY($1::uuid[])",
    "{" .. table.concat(ids, ",") .. "}")) do
    found[row.id] = true
  end
  return found
end

-- inserts_waiting(db) -> how many inserts into threads wait for a lock
local function inserts_waiting(db)
  return db:scalar([[SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'
    AND query LIKE 'INSERT INTO threads%']])
end

-- finished(task, timeout): waits until the task ended, timeout s at most
local function finished(task, timeout)
  local deadline = mp.now() + timeout
  while task:status() ~= "done" and task:status() ~= "failed" and mp.now() < deadline do
    mp.sleep(0.02)
  end
end

-- ack_before_commit: under load the pod answers 201 before the insert
-- commits, so a pod killed right after answering loses the thread. Inserts
-- into threads are held up by a lock (as a long migration would); a first
-- thread is created on mesh-1 and its insert waits for the lock; a second
-- one is created on mesh-1 meanwhile, and mesh-1 is killed right after
-- it answers. The lock goes after 1.5 s, or once mesh-1 is dead. meshd
-- answers only once an insert has committed, so every thread it
-- acknowledged is in Postgres after the lock is gone.
mp.test("ack: a thread acknowledged by a pod killed right after is in Postgres", function()
  local m1 = c:pod("mesh-1")
  local s = meshd.bootstrap_session(m1)
  local db <close> = c:db()
  local lock <close> = c:db()
  lock:exec("BEGIN")
  lock:exec("LOCK TABLE threads IN SHARE MODE")
  local first = mp.spawn(meshd.create_thread, m1, s, "first")
  mp.poll_until(function() return inserts_waiting(db) > 0 or error("none yet", 0) end,
    { timeout = 5, interval = 0.01, label = "the first insert to wait for the lock" })
  local second = mp.spawn(function()
    local id = meshd.create_thread(m1, s, "second").id
    m1:kill()
    return id
  end)
  finished(second, 1.5)
  lock:exec("COMMIT")
  local acked = { second:wait(20) }
  local ok, t = pcall(first.wait, first, 20)   -- the first one's pod may be dead before it answered
  if ok then acked[#acked + 1] = t.id end
  mp.poll_until(function()
    local found, missing = present(db, acked), {}
    for _, id in ipairs(acked) do
      if not found[id] then missing[#missing + 1] = id end
    end
    if #missing > 0 then
      error(string.format("%d of the %d threads acknowledged by mesh-1 are not in Postgres: %s",
        #missing, #acked, table.concat(missing, " ")), 0)
    end
    return true
  end, { timeout = 3, interval = 0.1, label = "every acknowledged thread to be in Postgres" })
end, { timeout = 60 })

-- writes_after_takeover(log) -> the writes of an owner made after another
-- owner took the run over (until it takes it back)
local function writes_after_takeover(log)
  local owner, late = nil, {}
  for _, e in ipairs(log) do
    if e.kind == "takeover" then
      owner = e.owner
    elseif e.owner ~= owner then
      late[#late + 1] = string.format("seq %d by %s at %s (owner %s)", e.seq, e.owner, e.at,
        tostring(owner))
    end
  end
  return late
end

-- takeover_without_cas: nothing fences the owner, so an owner that was
-- paused past the heartbeat timeout and comes back writes chunks beside
-- the survivor that took its run over. mesh-1 is paused mid-run and
-- unpaused once a survivor took over and wrote a chunk; the ownership log
-- in Postgres must show no chunk written by mesh-1 after the takeover.
mp.test("takeover: a paused owner whose run was taken over writes no more chunks", function()
  local db <close> = c:db()
  local m1 = c:pod("mesh-1")
  meshd.wait_settled(db, { c:pod("mesh-2"), c:pod("mesh-3") }, 3, 15)
  local s = meshd.bootstrap_session(m1)
  local t = meshd.create_thread(m1, s)
  meshd.start_run(m1, s, t.id, { chunks = 20, interval_ms = 150 })
  meshd.wait_parts(db, t.id, 3, 10)
  m1:pause()
  local survivor = mp.poll_until(function()
    local pod = db:scalar([[SELECT c.pod FROM run_claims c JOIN thread_message_parts p
        ON p.thread_id = c.thread_id AND p.pod = c.pod
      WHERE c.thread_id = $1 AND c.kind = 'takeover' LIMIT 1]], t.id)
    if not pod then error("no takeover with a chunk yet", 0) end
    return pod
  end, { timeout = 15, interval = 0.05,
         label = "a survivor to take over from the paused mesh-1 and write a chunk" })
  m1:unpause()
  meshd.wait_completed(db, t.id, 20)
  meshd.expect_parts(db, t.id, 20)
  local late = writes_after_takeover(meshd.ownership_log(db, t.id))
  if #late > 0 then
    mp.fail(string.format("two owners wrote at once: %d chunks written after %s took the run over: %s",
      #late, survivor, table.concat(late, "; ", 1, math.min(#late, 3))))
  end
end, { timeout = 60 })

-- resume_skips_chunk: a stream resumed with Last-Event-ID: 2 must go on
-- at chunk 3.
mp.test("resume: a stream resumed with Last-Event-ID goes on at the next chunk", function()
  local m2 = c:pod("mesh-2")
  local s = meshd.bootstrap_session(m2)
  local t = meshd.run(m2, s, { chunks = 6, interval_ms = 10 })
  local db <close> = c:db()
  meshd.wait_completed(db, t.id, 10)
  local seen = meshd.watch(c:pod("mesh-3"), s, t.id, { last_event_id = 2, timeout = 10 })
  mp.expect(seen.seqs):eq({ 3, 4, 5, 6 })
  mp.expect(seen.done):eq({ status = "completed", last_seq = 6 })
end, { timeout = 30 })

-- stale_session_cache: a pod that keeps sessions it looked up accepts a
-- cookie signed out elsewhere. Every pod accepts the cookie, it is signed
-- out on mesh-1, and then every pod must refuse it (meshd: at the next
-- request).
mp.test("session: a cookie signed out on one pod is refused by every pod at once", function()
  local s = meshd.bootstrap_session(c:pod("mesh-1"))
  for _, pod in ipairs(c:pods("mesh")) do mp.expect(meshd.get_session(pod, s)):status(200) end
  meshd.sign_out(c:pod("mesh-1"), s)
  for _, pod in ipairs(c:pods("mesh")) do mp.expect(meshd.get_session(pod, s)):status(401) end
end, { timeout = 30 })
