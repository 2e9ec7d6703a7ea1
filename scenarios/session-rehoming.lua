-- session-rehoming: a session belongs to the cluster, not to the pod that
-- made it. A cookie from mesh-1 is valid on every pod; signing out on
-- mesh-2 invalidates it on every pod within 5 s (meshd promises at the next
-- request: sessions live in Postgres), deletes the session row and tells
-- the browser to drop the cookie; signing in again on mesh-3 gives a new
-- session that every pod accepts. Synchronises by polling each pod's
-- answer, with the 5 s bound as the deadline.

local mp = require "mpod"
local meshd = require "meshd"

local c = mp.cluster()

mp.before_all(function() meshd.wait_healthy(c) end)

local session

mp.test("baseline: a cookie made on mesh-1 is valid on every pod", function()
  session = meshd.bootstrap_session(c:pod("mesh-1"))
  for _, pod in ipairs(c:pods("mesh")) do
    local res = meshd.get_session(pod, session)
    mp.expect(res):status(200)
    mp.expect(res.json.session.id):eq(session.session_id)
  end
end, { timeout = 20 })

mp.test("sign-out on mesh-2 invalidates the cookie everywhere within 5 s", function()
  local res = meshd.sign_out(c:pod("mesh-2"), session)
  mp.expect(res.json):eq({ success = true })
  local set = res.set_cookies[1]
  if not set then mp.fail("sign-out sent no Set-Cookie to delete " .. meshd.COOKIE) end
  mp.expect(set.name):eq(meshd.COOKIE)
  mp.expect(set.expired):eq(true)
  local tasks = {}
  for _, pod in ipairs(c:pods("mesh")) do
    tasks[#tasks + 1] = mp.spawn(function()
      return mp.poll_until(function()
        local r = meshd.get_session(pod, session)
        if r.status ~= 401 then error("still accepted: " .. tostring(r), 0) end
        return r
      end, { timeout = 5, interval = 0.1,
             label = pod.name .. " to refuse the cookie signed out on mesh-2" })
    end)
  end
  mp.wait_all(tasks)
  local db <close> = c:db()
  mp.expect(db:scalar("SELECT count(*) FROM sessions WHERE id = $1", session.session_id)):eq(0)
end, { timeout = 20 })

mp.test("sign-in on mesh-3 makes a new session every pod accepts", function()
  local again = meshd.sign_in(c:pod("mesh-3"), session.email)
  mp.expect(again.session_id):ne(session.session_id)
  mp.expect(again.user.id):eq(session.user.id)
  for _, pod in ipairs(c:pods("mesh")) do
    local res = meshd.get_session(pod, again)
    mp.expect(res):status(200)
    mp.expect(res.json.session.id):eq(again.session_id)
    mp.expect(meshd.get_session(pod, session)):status(401)   -- the old one stays dead
  end
end, { timeout = 20 })

mp.test("a wrong password is refused on every pod", function()
  for _, pod in ipairs(c:pods("mesh")) do
    local res = pod:post("/api/auth/sign-in/email", { email = session.email, password = "wrong password" })
    mp.expect(res):status(401)
    mp.expect(res.json):eq({ error = "invalid email or password" })
  end
end, { timeout = 20 })
