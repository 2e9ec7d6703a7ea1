-- chaos-meshd: no fault schedule written by hand. Six clients, two signed
-- in on each mesh pod, create threads (three loops at once per creator,
-- so creations overlap on one pod), start runs and watch their streams
-- from several pods (a watcher may move to another pod mid-run and resume
-- with Last-Event-ID), and now and then sign a fresh session in, use it on
-- every pod, sign it out and read it again everywhere. Meanwhile seeded
-- nemeses kill mesh-2 and mesh-3, pause mesh-1 past meshd's staleness
-- bound, and slow the Postgres link through Toxiproxy. Every client operation is recorded in the
-- file's history (invoke, then ok / fail / info), every chunk a watcher
-- sees as an observed op. When it is over, the checkers read the history
-- and Postgres:
--   set              every thread a pod acknowledged (201) is in Postgres
--   fencing          in each run's ownership log (run_claims and
--                    thread_message_parts), after a takeover only the new
--                    owner writes
--   exactly_once     each watcher saw its run's chunks 1..n once each, in
--                    order (all of them when it saw `done`)
--   read_your_writes a session signed out is refused (401) by every pod
--                    at every later read
-- The schedule and every client's choices come from --seed: the same seed
-- gives the same faults at the same times (the nemesis's schedule is in
-- the notes and in a failing check's message). Planted-bug variants of
-- meshd (build/meshd-bug-*) each fail one of the checks within 10 seeds:
-- tests/suites/chaos-meshd.sh and `make chaos`. docs/chaos.md walks
-- through it.

local mp = require "mpod"
local meshd = require "meshd"
mp.exclusive()

local c = mp.cluster()

-- Everything random is drawn from generators seeded here, at the file's
-- top level: math.random is seeded by --seed, and drawing later (from
-- tasks that interleave with the network) would not replay.
local SEED = math.random(1, 1 << 40)
local RUN = meshd.unique("chaos")

local WORKLOAD_S = tonumber(os.getenv("CHAOS_SECONDS")) or 24
local CLIENTS_PER_POD = 2
local REQUEST_TIMEOUT = 3
local WATCH_SLACK_S = 25          -- how long past the workload a watcher may still read

-- Three nemeses. Postgres answers 120 or 250 ms late, for 4 to 10 s at a
-- time, most of the run. mesh-2 and mesh-3 are killed, one at a time, a
-- kill every 0.5 to 2 s while neither is down, for 0.5 to 3 s (then
-- started again). mesh-1 is paused (on compose: paused or isolated) every
-- 1 to 3 s while it is not, for 4.5 to 7 s: past meshd's STALE_AFTER_MS (3 s) plus a heartbeat (1 s),
-- so a survivor takes its runs over while it sleeps. The pods they strike
-- are apart, so a heal never meets another nemesis's fault, and at least
-- one pod always serves.
local POSTGRES_NEMESIS = {
  faults = { { "latency", proxy = "postgres", ms = 120 }, { "latency", proxy = "postgres", ms = 250 } },
  interval = { 0.2, 1 }, length = { 4, 10 }, duration = WORKLOAD_S,
  seed = SEED + 1,
}
local KILL_NEMESIS = {
  faults = { "kill" }, targets = { "mesh-2", "mesh-3" },
  interval = { 0.5, 2 }, length = { 0.5, 3 }, max_down = 1, duration = WORKLOAD_S,
  seed = SEED,
}
local PAUSE_NEMESIS = {
  -- on compose, mesh-1 may also be cut off from the others (a partition)
  faults = c.backend == "compose" and { "pause", "isolate" } or { "pause" }, targets = { "mesh-1" },
  interval = { 1, 3 }, length = { 4.5, 7 }, max_down = 1, duration = WORKLOAD_S,
  seed = SEED + 2,
}

-- generator(seed) -> rand([lo, hi]): floats in [0, 1) or [lo, hi), from a
-- 64-bit LCG; each client has its own, so tasks interleaving never
-- changes what a client chooses
local function generator(seed)
  local state = seed & 0x7fffffffffffffff
  return function(lo, hi)
    state = (state * 6364136223846793005 + 1442695040888963407) & 0xffffffffffffffff
    local x = ((state >> 33) & 0x7fffffff) / 0x80000000
    if lo == nil then return x end
    return lo + x * (hi - lo)
  end
end

-- describe(events) -> the nemeses' schedule, a line a fault
local function describe(events)
  local lines = {}
  for _, e in ipairs(events) do
    lines[#lines + 1] = string.format("%6.2f s %-8s %-9s for %.2f s", e.at, e.fault,
      e.pod or e.proxy, e.length or 0)
  end
  return table.concat(lines, "\n")
end

local h = mp.history()
local state = { clients = {}, watchers = {}, runs = {}, schedule = {} }

-- outcome(op, res, err, ok_status [, value]): completes op from a
-- request's result: the status wanted -> ok, a 4xx -> fail, anything else
-- -> info (unknown). No answer is always info, even "connection refused":
-- libcurl retries a request whose reused connection died on a fresh one,
-- so a refused retry may follow a first attempt the pod did serve (seen:
-- a thread created by a pod killed before it answered, reported as
-- "Couldn't connect")
local function outcome(op, res, err, ok_status, value)
  if not res then
    op:info(err)
    return false
  end
  if res.status == ok_status then
    op:ok(value and value(res) or res.status)
    return true
  end
  if res.status >= 500 then op:info({ kind = "status", message = "status " .. res.status })
  else op:fail({ kind = "status", message = "status " .. res.status }) end
  return false
end

local function request_opts(session)
  return meshd.auth(session, { timeout = REQUEST_TIMEOUT, raise = false })
end

-- create(client, pod, title) -> the thread id, or nil
local function create(client, pod, title)
  local op = h:invoke("add", title, { process = client.id, pod = pod.name })
  local res, err = pod:post("/api/threads", { title = title }, request_opts(client.session))
  if outcome(op, res, err, 201, function(r) return title end) then return res.json.id end
end

-- watch(client, w, thread_id, pods, hop_after, deadline): reads the run's
-- stream from pods[1], moving to the next pod whenever the stream ends
-- without `done`, or once after hop_after chunks (a client that navigated
-- elsewhere), resuming with Last-Event-ID; each chunk is an observed op
local function watch(client, w, thread_id, pods, hop_after, deadline)
  local key = thread_id .. "#" .. w
  local seen = { key = key, thread = thread_id, seqs = {}, hops = {} }
  local i = 0
  while not seen.done and mp.now() < deadline do
    i = i % #pods + 1
    local pod = pods[i]
    local last = seen.seqs[#seen.seqs]
    local op = h:invoke("watch", { thread = thread_id, last_event_id = last },
      { process = client.id * 100 + w, pod = pod.name, key = key })
    local s, err = meshd.open_stream(pod, client.session, thread_id,
      { last_event_id = last, timeout = 2, raise = false })
    if not s then
      op:info(err)
      mp.sleep(0.2)
    else
      op:ok()
      seen.hops[#seen.hops + 1] = pod.name
      while mp.now() < deadline do
        local ev = s:next(math.max(deadline - mp.now(), 0))
        if not ev then break end
        if ev.event == "chunk" then
          seen.seqs[#seen.seqs + 1] = ev.json.seq
          h:observe("chunk", ev.json.seq, { process = client.id * 100 + w, pod = pod.name, key = key })
          if hop_after and #seen.seqs == hop_after then hop_after = nil; break end
        elseif ev.event == "done" then
          seen.done = ev.json
          h:observe("done", ev.json.last_seq, { process = client.id * 100 + w, pod = pod.name, key = key })
          break
        end
      end
      s:close()
    end
  end
  return seen
end

-- start_run(client, pod, thread_id, rand): a run of 8 to 20 chunks, 100 to
-- 250 ms apart, on pod, and two watchers (one starting on the run's pod,
-- one elsewhere), each moving to another pod mid-run half the time
local function start_run(client, pod, thread_id, rand, deadline)
  local chunks, interval = math.floor(rand(8, 21)), math.floor(rand(100, 251))
  local plans = {}
  local others = {}
  for _, p in ipairs(c:pods("mesh")) do
    if p.name ~= pod.name then others[#others + 1] = p end
  end
  for w = 1, 2 do
    local first = w == 1 and pod or others[1 + math.floor(rand() * #others)]
    local order = { first }
    for _, p in ipairs(c:pods("mesh")) do
      if p.name ~= first.name then order[#order + 1] = p end
    end
    plans[w] = { order = order, hop = rand() < 0.5 and math.floor(rand(1, chunks)) or nil }
  end
  local op = h:invoke("run", { thread = thread_id, chunks = chunks, interval_ms = interval },
    { process = client.id, pod = pod.name, key = thread_id })
  local res, err = pod:post("/api/threads/" .. thread_id .. "/messages",
    { text = "go", hint = string.format("slow:%dx%d", chunks, interval) }, request_opts(client.session))
  if not outcome(op, res, err, 202) then return end
  state.runs[#state.runs + 1] = { thread = thread_id, chunks = chunks, pod = pod.name }
  for w, plan in ipairs(plans) do
    state.watchers[#state.watchers + 1] = mp.spawn(watch, client, w, thread_id, plan.order, plan.hop,
      deadline + WATCH_SLACK_S)
  end
end

-- read_session(client, pod, s): get-session with s on pod, a read of the
-- session's key: ok "active" (200) or "signed_out" (401)
local SESSION_STATE = { [200] = "active", [401] = "signed_out" }
local function read_session(client, pod, s)
  local op = h:invoke("session", nil, { process = client.id, pod = pod.name, key = s.session_id })
  local res, err = pod:get("/api/auth/get-session", request_opts(s))
  if not res then
    op:info(err)
    return nil
  end
  if not SESSION_STATE[res.status] then     -- 503: the pod could not tell
    op:info({ kind = "status", message = "status " .. res.status })
    return
  end
  op:ok(SESSION_STATE[res.status])
end

-- session_cycle(client, pod): a new session signed in on pod, read on
-- every pod, signed out on pod, then read on every pod again
local function session_cycle(client, pod)
  local res = pod:post("/api/auth/sign-in/email", { email = client.session.email, password = client.session.password },
    { timeout = REQUEST_TIMEOUT, raise = false })
  if not res or res.status ~= 200 then return end
  local s = { cookie = res:cookie_header(), session_id = res.json.session.id }
  for _, p in ipairs(c:pods("mesh")) do read_session(client, p, s) end
  local op = h:invoke("sign_out", "signed_out", { process = client.id, pod = pod.name, key = s.session_id })
  local out, err = pod:post("/api/auth/sign-out", nil, request_opts(s))
  if not outcome(op, out, err, 200, function() return "signed_out" end) then return end
  for _, p in ipairs(c:pods("mesh")) do read_session(client, p, s) end
end

-- creator(client, deadline, rand): creates threads on its pod from three
-- loops at once, so that creations keep overlapping on one pod
local function creator(client, deadline, rand)
  local n, pauses = 0, {}
  for i = 1, 300 do pauses[i] = rand(0, 0.1) end   -- drawn here: the loops interleave
  local function loop()
    while mp.now() < deadline do
      n = n + 1
      local id = create(client, client.pod, string.format("%s-c%d-%d", RUN, client.id, n))
      if not id then mp.sleep(0.3) end              -- the pod is down: do not spin
      mp.sleep(pauses[n % #pauses + 1])
    end
  end
  mp.wait_all({ mp.spawn(loop), mp.spawn(loop), mp.spawn(loop) }, deadline - mp.now() + REQUEST_TIMEOUT * 3)
end

-- runner(client, deadline): creates a thread, runs it on its pod and
-- watches it; a quarter of the time cycles a session
local function runner(client, deadline, rand)
  local n = 0
  while mp.now() < deadline do
    n = n + 1
    local id = create(client, client.pod, string.format("%s-c%d-%d", RUN, client.id, n))
    local cycle = rand() < 0.25
    if id then start_run(client, client.pod, id, rand, deadline) end
    if cycle then session_cycle(client, client.pod) end
    if not id then mp.sleep(0.3) end
    mp.sleep(rand(0.2, 0.6))
  end
end

-- client_loop(client, deadline): its role, its choices drawn from its own
-- generator
local function client_loop(client, deadline)
  local rand = generator(SEED * 31 + client.id)
  client.role(client, deadline, rand)
end

mp.before_all(function()
  meshd.wait_healthy(c)
  local db <close> = c:db()
  meshd.wait_settled(db, c:pods("mesh"), 3, 20)   -- every pod may take runs over
end)

mp.after_all(function() c:heal() end)

mp.test("clients sign in, create, run and watch while the nemesis strikes", function()
  mp.note(string.format("chaos seed %d, run %s, %d s of workload", SEED, RUN, WORKLOAD_S))
  local clients = {}
  for i, pod in ipairs(c:pods("mesh")) do
    for k = 1, CLIENTS_PER_POD do
      local id = (i - 1) * CLIENTS_PER_POD + k
      clients[id] = { id = id, pod = pod, session = meshd.bootstrap_session(pod),
                      role = k == 1 and creator or runner }
    end
  end
  state.clients = clients
  local deadline = mp.now() + WORKLOAD_S
  local pg_nemesis <close> = mp.nemesis(POSTGRES_NEMESIS)
  local kill_nemesis <close> = mp.nemesis(KILL_NEMESIS)
  local pause_nemesis <close> = mp.nemesis(PAUSE_NEMESIS)
  state.schedule = {}
  for _, opts in ipairs({ POSTGRES_NEMESIS, KILL_NEMESIS, PAUSE_NEMESIS }) do
    -- plan, not nem:schedule(): the same events (the seed is given), and
    -- drawing a running nemesis's whole schedule once ended it early
    for _, e in ipairs(mp.nemesis.plan(opts).events) do state.schedule[#state.schedule + 1] = e end
  end
  table.sort(state.schedule, function(x, y) return x.at < y.at end)
  mp.note("nemesis schedule:\n" .. describe(state.schedule))
  local tasks = {}
  for i, cl in ipairs(clients) do tasks[i] = mp.spawn(client_loop, cl, deadline) end
  mp.wait_all(tasks, WORKLOAD_S + 30)
  for _, nem in ipairs({ pause_nemesis, kill_nemesis, pg_nemesis }) do nem:close() end
  meshd.wait_healthy(c, 40)
  state.seen = mp.wait_all(state.watchers, WATCH_SLACK_S + 10)
  local db <close> = c:db()
  local op = h:invoke("read", nil, { process = 0 })
  local titles = {}
  for _, row in ipairs(db:query("SELECT title FROM threads WHERE title LIKE $1", RUN .. "-%")) do
    titles[#titles + 1] = row.title
  end
  op:ok(titles)
  state.logs = {}
  for _, run in ipairs(state.runs) do state.logs[run.thread] = meshd.ownership_log(db, run.thread) end
  if os.getenv("CHAOS_DUMP") then                  -- debugging: the history as JSON lines
    local f = assert(io.open(os.getenv("CHAOS_DUMP"), "w"))
    for _, o in ipairs(h:ops()) do f:write(mp.json.encode(o), "\n") end
    f:close()
  end
  mp.note(string.format("%d creates acknowledged, %d runs, %d watchers, %d threads in Postgres",
    #h:ops { f = "add", type = "ok" }, #state.runs, #state.watchers, #titles))
end, { timeout = 120 })

-- the schedule, for the message of a failed check
local function replay_hint()
  return string.format("\n(chaos seed %d; nemesis schedule:\n%s)", SEED, describe(state.schedule))
end

local function checked(fn)
  if not state.logs then mp.fail("the workload did not finish: nothing to check") end
  local ok, err = pcall(fn)
  if not ok then
    if type(err) == "table" then err.message = tostring(err.message) .. replay_hint() end
    error(err, 0)
  end
end

mp.test("set: every thread a pod acknowledged is in Postgres", function()
  checked(function()
    local r = mp.check.set(h, { add = "add", read = "read" })
    if r.valid ~= true then mp.fail("the set check could not decide: " .. tostring(r.reason)) end
  end)
end)

-- fencing_rows(log) -> meshd's ownership log as the fencing checker's
-- rows: each claim or takeover starts a new epoch, held by its owner
-- (pod/instance); each chunk write carries the epoch its writer last
-- took (0 when it never took the run)
local function fencing_rows(log)
  local rows, epoch, held = {}, 0, {}
  for _, e in ipairs(log) do
    if e.kind == "takeover" then
      epoch = epoch + 1
      held[e.owner] = epoch
      rows[#rows + 1] = { owner = e.owner, epoch = epoch }
    else
      rows[#rows + 1] = { owner = e.owner, epoch = held[e.owner] or 0, write = e.seq }
    end
  end
  return rows
end

mp.test("fencing: after a takeover only the new owner writes chunks", function()
  checked(function()
    for _, run in ipairs(state.runs) do
      mp.check.fencing(fencing_rows(state.logs[run.thread] or {}))
    end
  end)
end)

mp.test("exactly_once: each watcher saw its run's chunks once each, in order", function()
  checked(function()
    for _, seen in ipairs(state.seen or {}) do
      mp.check.exactly_once(seen.seqs, seen.done and seen.done.last_seq or #seen.seqs)
    end
  end)
end)

mp.test("read_your_writes: a signed-out session is refused by every pod", function()
  checked(function()
    mp.check.read_your_writes(h, { write = "sign_out", read = "session", window = 0 })
  end)
end)
