-- api-key-cross-pod: an API key minted on mesh-1 works as a Bearer token on
-- every pod, as the same user, without an Origin header, and keeps working
-- after the session that minted it signs out; an unknown key is refused
-- everywhere. Keys live in Postgres, hashed: the raw key is never stored.
-- Synchronises on readiness; every other check is a direct answer.

local mp = require "mpod"
local meshd = require "meshd"

local c = mp.cluster()

mp.before_all(function() meshd.wait_healthy(c) end)

local session, key

mp.test("a key minted on mesh-1 is stored hashed", function()
  session = meshd.bootstrap_session(c:pod("mesh-1"))
  local info
  key, info = meshd.mint_api_key(c:pod("mesh-1"), session, "ci")
  mp.expect(key):matches("^mk_%x+$")
  mp.expect(#key):eq(3 + 64)
  mp.expect(info.name):eq("ci")
  local db <close> = c:db()
  local row = db:one([[SELECT user_id::text AS user_id, key_hash = sha256(convert_to($2, 'UTF8')) AS hashed,
      position(convert_to($2, 'UTF8') IN key_hash) = 0 AS raw_absent FROM api_keys WHERE id = $1]],
    info.id, key)
  if not row then mp.fail("api key " .. info.id .. " has no row in api_keys") end
  mp.expect(row):eq({ user_id = session.user.id, hashed = true, raw_absent = true })
end, { timeout = 20 })

mp.test("the key authenticates as the same user on every pod", function()
  for _, pod in ipairs(c:pods("mesh")) do
    local res = meshd.get_session(pod, { bearer = key })
    mp.expect(res):status(200)
    -- a key is not a session
    mp.expect(res.json):matches { user = { id = session.user.id }, session = mp.null }
    mp.expect(pod:get("/api/threads", { bearer = key })):status(200)
  end
end, { timeout = 20 })

mp.test("writes with the key need no Origin, on every pod", function()
  local db <close> = c:db()
  for _, pod in ipairs(c:pods("mesh")) do
    local res = pod:post("/api/threads", { title = "by key on " .. pod.name },
      { bearer = key, headers = { Origin = false } })
    mp.expect(res):status(201)
    mp.expect(db:scalar("SELECT user_id::text FROM threads WHERE id = $1", res.json.id))
      :eq(session.user.id)
  end
  -- every pod lists the three threads: they are the user's wherever made
  for _, pod in ipairs(c:pods("mesh")) do
    local list = pod:get("/api/threads", { bearer = key }):expect(200).json.threads
    mp.expect(#list):eq(3)
  end
end, { timeout = 20 })

mp.test("signing out does not revoke the key", function()
  meshd.sign_out(c:pod("mesh-2"), session)
  for _, pod in ipairs(c:pods("mesh")) do
    mp.expect(meshd.get_session(pod, session)):status(401)
    mp.expect(meshd.get_session(pod, { bearer = key })):status(200)
  end
end, { timeout = 20 })

mp.test("an unknown key is refused on every pod", function()
  local forged = "mk_" .. string.rep("0", 64)
  for _, pod in ipairs(c:pods("mesh")) do
    local res = meshd.get_session(pod, { bearer = forged })
    mp.expect(res):status(401)
    mp.expect(res.json):has("error")
  end
end, { timeout = 20 })
