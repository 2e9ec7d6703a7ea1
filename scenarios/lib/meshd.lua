-- meshd.lua: app helpers for the scenarios of the reference cluster
-- (compose/meshd/README.md is the contract they code against).
--
--   local meshd = require "meshd"
--   local c = mp.cluster()
--   meshd.wait_healthy(c)                        -- every mesh pod ready, deps up
--   local s = meshd.bootstrap_session(c:pod("mesh-1"))
--   local t = meshd.create_thread(c:pod("mesh-1"), s)
--   meshd.start_run(c:pod("mesh-1"), s, t.id, { chunks = 10, interval_ms = 100 })
--   local seen = meshd.watch(c:pod("mesh-2"), s, t.id, { timeout = 30 })
--   meshd.expect_exactly_once(seen.seqs, 10, "mesh-2 watcher")
--   meshd.expect_parts(c:db(), t.id, 10)
--
-- A session is { cookie = "meshd_session=...", token =, user =, email =,
-- password = }; meshd.auth(s) gives the request options that carry it (the
-- cookie; the cluster file adds the Origin meshd wants on cookie writes).
-- Every helper raises on an unexpected answer with the pod, the request and
-- the body, so a scenario stops at the first thing that went wrong.

local mp = require "mpod"

local M = {}

M.PASSWORD = "correct horse battery"
M.COOKIE = "meshd_session"

-- Names -------------------------------------------------------------------

local counter = 0

-- unique(prefix) -> a string no other call (in any file, in any run on this
-- cluster) returns: emails and slugs must not collide
function M.unique(prefix)
  counter = counter + 1
  local micro = math.floor((mp.now() % 100000) * 1e6)
  return string.format("%s-%x-%x-%d-%d", prefix, os.time(), micro, math.random(0, 1e9), counter)
end

-- escape(text) -> text as a Lua pattern that matches it literally (uuids
-- hold '-')
function M.escape(text)
  return (text:gsub("%p", "%%%0"))
end

-- Health ------------------------------------------------------------------

-- The readiness states the scenarios wait for, as ready_state writes them
M.READY = "http=200 status=ok postgres=up nats=up"
M.NATS_DOWN = "http=200 status=degraded postgres=up nats=down"   -- still ready
M.POSTGRES_DOWN = "http=503 status=down postgres=down nats=up"   -- not ready

-- readiness(pod) -> response of GET /health/ready (meshd answers within
-- about 1.3 s whatever its dependencies do; 3 s leaves room for a loaded
-- machine)
function M.readiness(pod)
  return pod:get("/health/ready", { timeout = 3 })
end

-- ready_state(res) -> "postgres=up nats=up status=ok http=200": one line
-- that a poll_until's `last:` makes readable
function M.ready_state(res)
  local j = res.json or {}
  local s = j.services or {}
  return string.format("http=%d status=%s postgres=%s nats=%s", res.status, tostring(j.status),
    tostring(s.postgres and s.postgres.status), tostring(s.nats and s.nats.status))
end

-- wait_ready_state(pod, want, timeout) -> the response once GET /health/ready
-- reads `want` (a ready_state string); on timeout the diagnostic's
-- last_error is the last state seen. Twice a second: each call makes meshd
-- try a Postgres connection when its pool has none, and faster polling of
-- three pods kept a CPU-starved Postgres in Docker from ever catching up
-- after a restart (docs/scenarios.md, "Reliability").
function M.wait_ready_state(pod, want, timeout)
  return mp.poll_until(function()
    local res = M.readiness(pod)
    local state = M.ready_state(res)
    if state ~= want then error(state, 0) end
    return res
  end, { timeout = timeout, interval = 0.5,
         label = string.format("%s /health/ready to read %q", pod.name, want) })
end

-- wait_healthy(c [, timeout]): every mesh pod answers /health/ready 200
-- with postgres and nats up. Scenarios start with it: the runner's healing
-- waits for /health/live only, and a pod reconnects to a restarted Postgres
-- or NATS a little later.
function M.wait_healthy(c, timeout)
  local tasks = {}
  for _, pod in ipairs(c:pods("mesh")) do
    tasks[#tasks + 1] = mp.spawn(M.wait_ready_state, pod, M.READY,
      timeout or 30)
  end
  mp.wait_all(tasks)
end

-- on_every_pod(c, fn) -> fn(pod)'s results for every mesh pod, run at once
function M.on_every_pod(c, fn)
  local tasks = {}
  for _, pod in ipairs(c:pods("mesh")) do tasks[#tasks + 1] = mp.spawn(fn, pod) end
  return mp.wait_all(tasks)
end

-- timed(fn, ...) -> the seconds fn(...) took, then its first result
function M.timed(fn, ...)
  local started = mp.now()
  local result = fn(...)
  return mp.now() - started, result
end

-- without_proxies(c) -> nil when the pods reach Postgres and NATS through
-- Toxiproxy (both reference cluster files declare it), else why a
-- proxy-based test cannot run: its `skip` reason
function M.without_proxies(c)
  if #(c.proxies or {}) > 0 then return nil end
  return "cluster " .. c.name .. " declares no proxies (run without MESHD_TOXIPROXY=off)"
end

-- Auth --------------------------------------------------------------------

-- auth(session [, extra]) -> request options carrying the session cookie
function M.auth(session, extra)
  local opts = { cookie = session.cookie }
  for k, v in pairs(extra or {}) do opts[k] = v end
  return opts
end

local function session_from(res, email, password)
  local cookie = res:cookie_header()
  if not cookie:find(M.COOKIE .. "=", 1, true) then
    mp.fail(string.format("%s %s on %s set no %s cookie (Set-Cookie: %s)", res.method, res.path,
      res.pod, M.COOKIE, table.concat(res:header_values("set-cookie"), " | ")))
  end
  local j = res.json
  return { cookie = cookie, token = j.token, user = j.user, session_id = j.session and j.session.id,
           email = email, password = password }
end

-- bootstrap_session(pod [, {email=, name=}]) -> a new user's session,
-- signed up on pod
function M.bootstrap_session(pod, opts)
  opts = opts or {}
  local email = opts.email or (M.unique("user") .. "@mesh.test")
  local res = pod:post("/api/auth/sign-up/email",
    { email = email, password = M.PASSWORD, name = opts.name or "Scenario User" }):expect(200)
  return session_from(res, email, M.PASSWORD)
end

-- sign_in(pod, email [, password]) -> a new session of that user
function M.sign_in(pod, email, password)
  password = password or M.PASSWORD
  local res = pod:post("/api/auth/sign-in/email", { email = email, password = password }):expect(200)
  return session_from(res, email, password)
end

-- sign_out(pod, session) -> the response (200 expected)
function M.sign_out(pod, session)
  return pod:post("/api/auth/sign-out", nil, M.auth(session)):expect(200)
end

-- get_session(pod, creds) -> the response of GET /api/auth/get-session;
-- creds is a session or { bearer = key }
function M.get_session(pod, creds)
  return pod:get("/api/auth/get-session", creds.cookie and M.auth(creds) or { bearer = creds.bearer })
end

-- mint_api_key(pod, session [, name]) -> the raw key ("mk_...") and its JSON
function M.mint_api_key(pod, session, name)
  local res = pod:post("/api/keys", { name = name }, M.auth(session)):expect(201)
  return res.json.key, res.json
end

-- Threads and runs ----------------------------------------------------------

-- create_thread(pod, creds [, title]) -> thread JSON
function M.create_thread(pod, creds, title)
  local opts = creds.cookie and M.auth(creds) or { bearer = creds.bearer }
  return pod:post("/api/threads", { title = title or "" }, opts):expect(201).json
end

-- start_run(pod, session, thread_id [, {chunks=, interval_ms=}]) -> the 202
-- JSON ({thread_id, pod}); the receiving pod owns the run
function M.start_run(pod, session, thread_id, opts)
  opts = opts or {}
  local hint = string.format("slow:%dx%d", opts.chunks or 5, opts.interval_ms or 50)
  return pod:post("/api/threads/" .. thread_id .. "/messages",
    { text = opts.text or "go", hint = hint }, M.auth(session)):expect(202).json
end

-- run(pod, session [, opts]) -> thread JSON of a new thread whose run pod
-- started (opts as for start_run)
function M.run(pod, session, opts)
  local t = M.create_thread(pod, session)
  M.start_run(pod, session, t.id, opts)
  return t
end

-- Streams -------------------------------------------------------------------

-- open_stream(pod, session, thread_id [, {last_event_id=, timeout=, raise=}])
-- -> the SSE stream, once the pod answered (timeout: for that answer;
-- raise = false: nil and the error when it did not)
function M.open_stream(pod, session, thread_id, opts)
  opts = opts or {}
  return pod:sse("/api/threads/" .. thread_id .. "/stream", M.auth(session, {
    last_event_id = opts.last_event_id, timeout = opts.timeout, raise = opts.raise }))
end

-- collect(stream, timeout [, into]) -> what the stream showed until `done`,
-- its end or the timeout: { chunks = {decoded chunk...}, seqs = {seq...},
-- pods = {seq -> pod}, done = done JSON or nil, ended = nil | "closed" |
-- "timeout", pod = the stream's pod }. `into` continues a previous result
-- (a watcher that moved to another pod).
function M.collect(stream, timeout, into)
  local seen = into or { chunks = {}, seqs = {}, pods = {} }
  seen.pod, seen.ended = stream.pod, nil
  local deadline = mp.now() + timeout
  while not seen.done do
    local ev, why = stream:next(math.max(deadline - mp.now(), 0))
    if not ev then seen.ended = why; break end
    if ev.event == "chunk" then
      local chunk = ev.json
      seen.chunks[#seen.chunks + 1] = chunk
      seen.seqs[#seen.seqs + 1] = chunk.seq
      seen.pods[chunk.seq] = chunk.pod
    elseif ev.event == "done" then
      seen.done = ev.json
    end
  end
  return seen
end

-- watch(pod, session, thread_id [, {timeout=, last_event_id=}]) -> collect's
-- result for a stream opened now and read until done (default 30 s)
function M.watch(pod, session, thread_id, opts)
  opts = opts or {}
  local s <close> = M.open_stream(pod, session, thread_id, opts)
  return M.collect(s, opts.timeout or 30)
end

-- follow(pods, session, thread_id, timeout) -> collect's result for a
-- client behind a load balancer: it reads the stream from the first of
-- `pods` that answers and, whenever the stream ends without `done` (its
-- pod died or shut down), resumes on the next pod with Last-Event-ID.
-- result.hops lists the pods it read from, in order.
function M.follow(pods, session, thread_id, timeout)
  local deadline = mp.now() + timeout
  local seen = { chunks = {}, seqs = {}, pods = {}, hops = {} }
  local i = 0
  while not seen.done and mp.now() < deadline do
    i = i % #pods + 1
    local s = M.open_stream(pods[i], session, thread_id,
      { last_event_id = seen.seqs[#seen.seqs], timeout = 2, raise = false })
    if s then
      seen.hops[#seen.hops + 1] = pods[i].name
      M.collect(s, math.max(deadline - mp.now(), 0), seen)
      s:close()
    else
      mp.sleep(0.1)                     -- that pod is down: try the next
    end
  end
  return seen
end

-- run_reaches_every_watcher(c, session, owner, watchers, n, why): a run of
-- n chunks started on the pod named `owner`, watched from the pods named
-- in `watchers` (streams opened before the run starts): each watcher sees
-- every chunk exactly once and `done`, and Postgres holds the n parts.
-- `why` names the situation in the failure messages.
function M.run_reaches_every_watcher(c, session, owner, watchers, n, why)
  local t = M.create_thread(c:pod(owner), session)
  local tasks = {}
  for _, name in ipairs(watchers) do
    tasks[#tasks + 1] = mp.spawn(M.collect, M.open_stream(c:pod(name), session, t.id), 30)
  end
  M.start_run(c:pod(owner), session, t.id, { chunks = n, interval_ms = 50 })
  local seen = mp.wait_all(tasks, 40)
  for i, name in ipairs(watchers) do
    M.expect_complete(seen[i], n, string.format("%s watcher of a run on %s (%s)", name, owner, why))
  end
  local db <close> = c:db()
  M.expect_parts(db, t.id, n)
end

-- expect_exactly_once(seqs, n, who): seqs is 1..n, each once, in order
function M.expect_exactly_once(seqs, n, who)
  local problems = {}
  local count = {}
  for i, seq in ipairs(seqs) do
    count[seq] = (count[seq] or 0) + 1
    if seq ~= i and #problems == 0 then
      problems[#problems + 1] = string.format("position %d holds seq %s", i, tostring(seq))
    end
  end
  for seq = 1, n do
    if not count[seq] then problems[#problems + 1] = "seq " .. seq .. " missing"
    elseif count[seq] > 1 then problems[#problems + 1] = string.format("seq %d seen %d times", seq, count[seq]) end
  end
  if #seqs ~= n then problems[#problems + 1] = string.format("%d chunks, expected %d", #seqs, n) end
  if #problems > 0 then
    mp.fail(string.format("%s: chunks not exactly once in order (%s); seqs seen: %s", who,
      table.concat(problems, "; ", 1, math.min(#problems, 5)), table.concat(seqs, ",")))
  end
end

-- expect_complete(seen, n, who): a watcher saw chunks 1..n exactly once
-- and then `done` with last_seq n
function M.expect_complete(seen, n, who)
  if not seen.done then
    mp.fail(string.format("%s: no `done` event (the stream on %s %s) after chunks %s", who,
      tostring(seen.pod), seen.ended == "timeout" and "timed out" or "ended",
      table.concat(seen.seqs, ",")))
  end
  M.expect_exactly_once(seen.seqs, n, who)
  mp.expect(seen.done):eq({ status = "completed", last_seq = n })
end

-- NATS ----------------------------------------------------------------------
--
-- Straight to the NATS server, past the pods, with mp.tcp: its protocol is
-- lines ending in CRLF (INFO, CONNECT, SUB, PUB, MSG, PING/PONG).

-- nats_address(c) -> host, port: NATS's client port as this machine
-- reaches it. The process backend's nats says it in /varz; on compose the
-- server's own port is the container's, so Docker's published port is
-- asked for.
function M.nats_address(c)
  local nats = c:pod("nats")
  if c.backend == "compose" then
    local r = mp.exec { "docker", "port", nats:info().container, "4222/tcp" }
    local host, port = r.stdout:match("([%d.]+):(%d+)")
    if not port then mp.fail("no published port for nats's 4222: " .. r.stdout .. r.stderr) end
    return host, tonumber(port)
  end
  local varz = nats:get("/varz"):expect(200).json
  return varz.host, varz.port
end

-- nats_connect(host, port [, opts]) -> a NATS connection (mp.tcp) past
-- its greeting, or nil and the error with opts.raise = false
function M.nats_connect(host, port, opts)
  opts = opts or {}
  local conn, err = mp.tcp.connect(host, port, { timeout = opts.timeout or 5, raise = opts.raise })
  if not conn then return nil, err end
  local info, why = conn:receive_until("\r\n")
  if not info then conn:close(); return nil, why end
  if not info:find("^INFO ") then mp.fail(string.format("NATS at %s:%d greeted with %q", host, port, info)) end
  conn:send('CONNECT {"verbose":false,"pedantic":false,"name":"mpod-lua scenario"}\r\n')
  return conn
end

-- nats_next(conn [, timeout]) -> the next line that is not a PING (which
-- it answers), and for a MSG its subject and payload
function M.nats_next(conn, timeout)
  while true do
    local line = conn:receive_until("\r\n", timeout)
    if line == "PING" then
      conn:send("PONG\r\n")
    else
      local subject, size = line:match("^MSG (%S+) %S+ (%d+)$")
      if not subject then return line end
      return line, subject, conn:receive(tonumber(size) + 2, timeout):sub(1, -3)
    end
  end
end

-- nats_answers(host, port) -> true when a NATS server there answers PING
-- with PONG, else false and why
function M.nats_answers(host, port)
  local conn, err = M.nats_connect(host, port, { timeout = 2, raise = false })
  if not conn then return false, err.message end
  conn:send("PING\r\n")
  local line, why = conn:receive_until("\r\n", { timeout = 2, raise = false })
  conn:close()
  if line == "PONG" then return true end
  return false, line or why.message
end

-- nats_subscribe(c, subject) -> a NATS connection subscribed to subject,
-- once the server confirmed the subscription
function M.nats_subscribe(c, subject)
  local conn = M.nats_connect(M.nats_address(c))
  conn:send("SUB " .. subject .. " 1\r\nPING\r\n")
  local line = M.nats_next(conn)
  if line ~= "PONG" then mp.fail("NATS answered SUB " .. subject .. " with " .. line) end
  return conn
end

-- Postgres ----------------------------------------------------------------

-- thread_row(db, id) -> { status, run_owner_pod, chunk_total, parts }
function M.thread_row(db, id)
  return db:one([[SELECT status, run_owner_pod, chunk_total,
      (SELECT count(*) FROM thread_message_parts p WHERE p.thread_id = t.id) AS parts
    FROM threads t WHERE id = $1]], id)
end

-- owner_of(db, id) -> run_owner_pod (nil when none), status
function M.owner_of(db, id)
  local row = M.thread_row(db, id)
  if not row then mp.fail("no thread " .. tostring(id) .. " in Postgres") end
  local owner = row.run_owner_pod
  if owner == mp.null then owner = nil end
  return owner, row.status
end

-- parts_of(db, id) -> rows {seq, text, pod} in seq order
function M.parts_of(db, id)
  return db:query("SELECT seq, text, pod FROM thread_message_parts WHERE thread_id = $1 ORDER BY seq", id)
end

-- ownership_log(db, id) -> the run's ownership log, from Postgres, in the
-- order things happened: every claim and takeover (run_claims) and every
-- persisted chunk (thread_message_parts), as entries { kind = "takeover" |
-- "write", owner = "<pod>/<instance>", pod =, instance =, at = (text),
-- seq = (writes), claim = true (the first owner's claim, a takeover from
-- nobody), from = "<pod>/<instance>" (takeovers) }. meshd takes the times
-- under the thread row's lock, so a write and a takeover never share one
-- order position by accident; on a tie the write comes first. Fencing:
-- after a takeover only its owner writes.
function M.ownership_log(db, id)
  local rows = db:query([[
    SELECT 'takeover' AS kind, c.kind = 'claim' AS claim, c.pod, c.instance, NULL::int AS seq,
           c.from_pod, c.from_instance, c.claimed_at AS at, 1 AS rank, c.id AS n
      FROM run_claims c WHERE c.thread_id = $1
    UNION ALL
    SELECT 'write', false, p.pod, coalesce(p.instance, ''), p.seq, NULL, NULL, p.created_at, 0, p.seq
      FROM thread_message_parts p WHERE p.thread_id = $1
    ORDER BY at, rank, n]], id)
  local log = {}
  for i, row in ipairs(rows) do
    local entry = { kind = row.kind, pod = row.pod, instance = row.instance,
                    owner = row.pod .. "/" .. row.instance, at = row.at }
    if row.kind == "write" then entry.seq = row.seq end
    if row.claim then entry.claim = true end
    if row.from_pod ~= mp.null then
      entry.from = row.from_pod .. "/" .. (row.from_instance ~= mp.null and row.from_instance or "")
    end
    log[i] = entry
  end
  return log
end

-- part_count(db, id) -> chunks persisted so far
function M.part_count(db, id)
  return db:scalar("SELECT count(*) FROM thread_message_parts WHERE thread_id = $1", id)
end

-- expect_parts(db, id, n) -> the rows: exactly chunk-1..chunk-n persisted,
-- no duplicate (the primary key guarantees it; count and distinct say so)
-- and no gap
function M.expect_parts(db, id, n)
  local stats = db:one([[SELECT count(*) AS n, count(DISTINCT seq) AS distinct_seqs,
      coalesce(max(seq), 0) AS max_seq FROM thread_message_parts WHERE thread_id = $1]], id)
  mp.expect({ count = stats.n, distinct = stats.distinct_seqs, max = stats.max_seq })
    :eq({ count = n, distinct = n, max = n })
  local rows = M.parts_of(db, id)
  for i, row in ipairs(rows) do
    if row.seq ~= i or row.text ~= "chunk-" .. i then
      mp.fail(string.format("thread %s: part %d is seq %s %q, expected seq %d \"chunk-%d\"",
        id, i, tostring(row.seq), tostring(row.text), i, i))
    end
  end
  return rows
end

-- wait_parts(db, id, k, timeout) -> the part count once at least k chunks
-- are persisted
function M.wait_parts(db, id, k, timeout)
  return mp.poll_until(function()
    local n = M.part_count(db, id)
    if n < k then error(n .. " persisted", 0) end
    return n
  end, { timeout = timeout, interval = 0.05,
         label = string.format("thread %s to have %d chunks persisted", id, k) })
end

-- wait_completed(db, id, timeout) -> the thread row once its status is
-- 'completed'
function M.wait_completed(db, id, timeout)
  return mp.poll_until(function()
    local row = M.thread_row(db, id)
    if row.status ~= "completed" then
      error(string.format("status %s, owner %s, %d parts", row.status, tostring(row.run_owner_pod),
        row.parts), 0)
    end
    return row
  end, { timeout = timeout, interval = 0.1,
         label = string.format("thread %s to be completed", id) })
end

-- wait_owner(db, id, pred, timeout) -> the owner once pred(owner, status)
-- holds
function M.wait_owner(db, id, pred, timeout, label)
  return mp.poll_until(function()
    local owner, status = M.owner_of(db, id)
    if not pred(owner, status) then
      error(string.format("owner %s, status %s", tostring(owner), status), 0)
    end
    return owner
  end, { timeout = timeout, interval = 0.05, label = label or ("owner of thread " .. id) })
end

-- log_time(logs, pattern) -> the time stamp of the first meshd log line
-- matching pattern, in seconds (ms precision), or nil; comparable with other
-- log_time results (pods log in UTC from one clock)
function M.log_time(logs, pattern)
  for line in logs:gmatch("[^\n]+") do
    if line:find(pattern) then
      local y, mo, d, h, mi, sec = line:match("^(%d+)%-(%d+)%-(%d+)T(%d+):(%d+):(%d+%.?%d*)Z")
      if y then
        local day = os.time { year = tonumber(y), month = tonumber(mo), day = tonumber(d), hour = 12 }
        return day - 12 * 3600 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(sec)
      end
    end
  end
end

-- wait_settled(db, pods, seconds, timeout): each pod's current instance has
-- heartbeated for `seconds` (pods.started_at, Postgres's clock). meshd takes
-- runs over only from pods whose heartbeats have succeeded for
-- STALE_AFTER_MS in a row, so a scenario that times a takeover first waits
-- for its survivors to be eligible.
function M.wait_settled(db, pods, seconds, timeout)
  for _, pod in ipairs(pods) do
    mp.poll_until(function()
      local age = db:scalar([[SELECT extract(epoch FROM now() - started_at)::float8 FROM pods
        WHERE name = $1]], pod.name)
      if not age or age < seconds then error(string.format("up for %s s", tostring(age)), 0) end
      return true
    end, { timeout = timeout, interval = 0.1,
           label = string.format("%s to have heartbeated for %g s", pod.name, seconds) })
  end
end

return M
