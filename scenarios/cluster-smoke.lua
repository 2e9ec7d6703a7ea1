-- cluster-smoke: the cluster is whole before anything else is tried.
-- Every mesh pod answers /health/live as itself and /health/ready 200 with
-- Postgres and NATS up, heartbeats in Postgres, and a session made on
-- mesh-1 is valid on mesh-2 and mesh-3 (sessions live in Postgres, not in a
-- pod). A run's chunks reach NATS itself (a subscriber of our own, over
-- mp.tcp), each once, then `done`. Synchronises on readiness (polled) and
-- on the NATS subscription being confirmed (PING/PONG) before the run.

local mp = require "mpod"
local meshd = require "meshd"

local c = mp.cluster()

mp.before_all(function() meshd.wait_healthy(c) end)

mp.test("every pod is live, as itself", function()
  for _, pod in ipairs(c:pods("mesh")) do
    local res = pod:get("/health/live")
    mp.expect(res):status(200)
    mp.expect(res.json):eq({ status = "ok", pod = pod.name })
  end
end, { timeout = 20 })

mp.test("every pod is ready with postgres and nats up", function()
  for _, pod in ipairs(c:pods("mesh")) do
    local res = meshd.readiness(pod)
    mp.expect(res):status(200)
    mp.expect(res.json):eq({ status = "ok", pod = pod.name,
      services = { postgres = { status = "up" }, nats = { status = "up" } } })
  end
end, { timeout = 20 })

mp.test("every pod heartbeats in Postgres", function()
  local db <close> = c:db()
  for _, pod in ipairs(c:pods("mesh")) do
    local row = db:one([[SELECT extract(epoch FROM now() - heartbeat_at)::float8 AS age
      FROM pods WHERE name = $1]], pod.name)
    if not row then mp.fail(pod.name .. " has no row in the pods table") end
    mp.expect(row.age):lt(3)             -- fresher than STALE_AFTER_MS
  end
end, { timeout = 20 })

mp.test("a session made on mesh-1 is valid on every pod", function()
  local s = meshd.bootstrap_session(c:pod("mesh-1"))
  local db <close> = c:db()
  mp.expect(db:scalar("SELECT created_by_pod FROM sessions WHERE id = $1", s.session_id)):eq("mesh-1")
  for _, pod in ipairs(c:pods("mesh")) do
    local res = meshd.get_session(pod, s)
    mp.expect(res):status(200)
    mp.expect(res.json):matches { user = { id = s.user.id, email = s.email },
                                  session = { id = s.session_id } }
  end
end, { timeout = 20 })

mp.test("a run's chunks are published on NATS, each once, then done", function()
  local s = meshd.bootstrap_session(c:pod("mesh-1"))
  local t = meshd.create_thread(c:pod("mesh-1"), s)
  local nats <close> = meshd.nats_subscribe(c, "meshd.thread." .. t.id)
  meshd.start_run(c:pod("mesh-2"), s, t.id, { chunks = 5, interval_ms = 20 })
  local seqs = {}
  while true do
    local _, subject, payload = meshd.nats_next(nats, 10)
    mp.expect(subject):eq("meshd.thread." .. t.id)
    local msg = mp.json.decode(payload)
    if msg.done then break end
    mp.expect(msg):matches { text = "chunk-" .. tostring(msg.seq), pod = "mesh-2" }
    seqs[#seqs + 1] = msg.seq
  end
  meshd.expect_exactly_once(seqs, 5, "NATS subscriber of thread " .. t.id)
end, { timeout = 30 })

mp.test("a cookie write without the app's Origin is refused on every pod", function()
  local s = meshd.bootstrap_session(c:pod("mesh-1"))
  for _, pod in ipairs(c:pods("mesh")) do
    local res = pod:post("/api/threads", {}, meshd.auth(s, { headers = { Origin = "http://evil.test" } }))
    mp.expect(res):status(403)
    mp.expect(res.json):eq({ error = "origin not allowed" })
  end
end, { timeout = 20 })
