-- http_errors.lua: transport failures as structured errors (timeout on a
-- request never answered and on the silent port, reset, refused, dns, tls,
-- url, too_big, replies that are not HTTP or whose head is too large),
-- their TAP diagnostics, cancellation mid-transfer, and the
-- secrets a request registers.

local mp = require "mpod"
local sys = require "mpod.sys"
local redact = require "mpod.redact"
local httpfix = require "httpfix"
local selftest = require "selftest"

local fix
mp.before_all(function() fix = httpfix.start() end)
mp.after_all(function() fix:stop() end)

-- failure(fn) -> the error fn raised, and how long it took
local function failure(fn)
  local t0 = mp.now()
  local ok, err = pcall(fn)
  if ok then mp.fail("expected a transport error, got a response: " .. tostring(err)) end
  return err, mp.now() - t0
end

mp.test("a request accepted and never answered times out within its timeout", function()
  local err, took = failure(function()
    mp.http.request { url = fix.url .. "/hang", timeout = 0.5 }
  end)
  mp.expect(err.kind):eq("timeout")
  mp.expect(took):ge(0.45)
  mp.expect(took):lt(5)                   -- the default timeout is 30 s
  mp.expect(err.method):eq("GET")
  mp.expect(err.path):eq("/hang")
  mp.expect(err.url):eq(fix.url .. "/hang")
  mp.expect(err.message):matches("^GET /hang: .*timed out")
end)

mp.test("the silent port times out with the cluster file's http.timeout", function()
  local c = require("mpod.scenario.cluster").build { name = "silent", http = { timeout = 0.4 },
    pods = { { name = "quiet", url = fix.silent_url } } }
  local err, took = failure(function() c:pod("quiet"):get("/json") end)
  mp.expect(err.kind):eq("timeout")
  mp.expect(err.pod):eq("quiet")
  mp.expect(took):ge(0.35)
  mp.expect(took):lt(5)                   -- the default timeout is 30 s
  mp.expect(err.message):matches("^GET /json on quiet: ")
end)

mp.test("a connection reset raises kind reset", function()
  local err = failure(function() mp.http.request { url = fix.reset_url .. "/json", timeout = 5 } end)
  mp.expect(err.kind):eq("reset")
  mp.expect(err.curl_code):type("number")
end)

mp.test("a refused connection raises kind connect with the pod and path", function()
  local c = require("mpod.scenario.cluster").build { name = "dead",
    pods = { { name = "gone", url = "http://127.0.0.1:" .. sys.free_port() } } }
  local err, took = failure(function() c:pod("gone"):post("/runs", { n = 1 }) end)
  mp.expect(err.kind):eq("connect")
  mp.expect(err.pod):eq("gone")
  mp.expect(err.method):eq("POST")
  mp.expect(err.path):eq("/runs")
  mp.expect(took):lt(5)                   -- no retry until the 30 s timeout
end)

mp.test("dns, tls and url failures have kinds of their own", function()
  mp.expect(failure(function()
    mp.http.request { url = "http://no-such-host.invalid/", timeout = 10 }
  end).kind):eq("dns")
  mp.expect(failure(function()
    mp.http.request { url = "https://127.0.0.1:" .. fix.port .. "/json", timeout = 5 }
  end).kind):eq("tls")
  mp.expect(failure(function() mp.http.request { url = "nope://x/" } end).kind):eq("url")
end)

mp.test("a reply that is not HTTP, a header line of 3 MiB and endless headers raise kind protocol", function()
  local cases = {
    ["/not-http"] = [[the server's reply is not HTTP (it does not start with a status line such as "HTTP/1.1 200 OK")]],
    ["/huge-header"] = "a response header line is longer than 100 KiB (libcurl's limit)",
    ["/endless-headers"] = "the response head is larger than 256 KiB",
  }
  for path, message in pairs(cases) do
    local err = failure(function() mp.http.request { url = fix.odd_url .. path, timeout = 10 } end)
    mp.expect(err.kind):eq("protocol")
    mp.expect(err.message):eq("GET " .. path .. ": " .. message)
    mp.expect(err.path):eq(path)
    err = failure(function() mp.http.sse { url = fix.odd_url .. path, timeout = 10 } end)
    mp.expect(err.kind):eq("protocol")
    mp.expect(err.message):eq("SSE GET " .. path .. ": " .. message)
  end
end)

mp.test("max_body bounds what a response may bring", function()
  local err = failure(function()
    mp.http.request { url = fix.url .. "/big?mb=2", max_body = 100000 }
  end)
  mp.expect(err.kind):eq("too_big")
  mp.expect(err.message):matches("larger than max_body")
end)

mp.test("cancelling a task mid-transfer closes its connection at once", function()
  local before = fix:connections()
  local t = mp.spawn(function() return mp.http.request { url = fix.url .. "/slow?ms=20000" } end)
  mp.poll_until(function() return fix:connections() > before end, { timeout = 5, interval = 0.02 })
  local during = fix:connections()
  t:cancel("enough")
  mp.expect(function() t:wait(1) end):raises("task cancelled: enough")
  mp.poll_until(function() return fix:connections() == during - 1 end,
    { timeout = 2, interval = 0.02, label = "the cancelled transfer's connection closed" })
  mp.expect(mp.http.request { url = fix.url .. "/json" }.status):eq(200)
end)

mp.test("poll_until's deadline cancels a request still in flight", function()
  local t0 = mp.now()
  local err = mp.expect(function()
    mp.poll_until(function()
      return mp.http.request { url = fix.url .. "/hang", timeout = 30 }.status == 200
    end, { timeout = 0.3, label = "hang" })
  end):raises("poll_until timed out: hang")
  mp.expect(err.last_error):matches("still running at the deadline")
  mp.expect(mp.now() - t0):lt(2)
end)

mp.test("Authorization and Cookie values sent, and cookies received, are secrets", function()
  local registered = {}
  local add = redact.add_secret
  redact.add_secret = function(v) registered[#registered + 1] = v; add(v) end
  local ok, err = pcall(function()
    mp.http.request { url = fix.url .. "/auth", bearer = "bearer-secret-1" }
    mp.http.request { url = fix.url .. "/echo", headers = { Authorization = "Basic c2VjcmV0OnNlY3JldA==" } }
    mp.http.request { url = fix.url .. "/echo", cookie = { sid = "cookie-secret-2" } }
    mp.http.request { url = fix.url .. "/cookies/login", method = "POST" }
  end)
  redact.add_secret = add
  if not ok then error(err, 0) end
  mp.expect(registered):contains("bearer-secret-1")
  mp.expect(registered):contains("Basic c2VjcmV0OnNlY3JldA==")
  mp.expect(registered):contains("cookie-secret-2")
  mp.expect(registered):contains("abc")
  mp.expect(redact.redact("token bearer-secret-1 and cookie-secret-2")):eq("token *** and ***")
end)

mp.test("TAP diagnostics show a transport error whole, secrets redacted", function()
  local dir = assert(sys.mkdtemp("mpod-http"))
  local case = dir .. "/refused.lua"
  local f = assert(io.open(case, "w"))
  f:write(string.format([[
local mp = require "mpod"
local c = require("mpod.scenario.cluster").build { name = "t", pods = { { name = "a", url = %q } } }
mp.test("refused", function() c:pod("a"):get("/json", { bearer = "tap-secret-77" }) end)
mp.test("leaky", function()
  mp.http.request { url = %q, bearer = "tap-secret-77" }
  error("the token was tap-secret-77")
end)
]], "http://127.0.0.1:" .. sys.free_port(), fix.url .. "/auth"))
  f:close()
  local r = selftest.run({ case }, { timeout = 30 })
  sys.rmtree(dir)
  mp.expect(r.code):eq(1)
  selftest.expect_line(r.stdout, '      kind: "connect"')
  selftest.expect_line(r.stdout, '      pod: "a"')
  selftest.expect_line(r.stdout, '      method: "GET"')
  selftest.expect_line(r.stdout, '      path: "/json"')
  mp.expect(r.stdout):matches('\n      url: "http://127%.0%.0%.1:%d+/json"')
  mp.expect(r.stdout):matches('\n      message: "GET /json on a: [^\n]*"')
  mp.expect(r.stdout:find("tap-secret-77", 1, true)):is_nil()
  mp.expect(r.stdout):matches("the token was %*%*%*")
end)

mp.test("raise = false: a transport failure returns nil and the error the request would raise", function()
  local dead = "http://127.0.0.1:" .. sys.free_port()
  local c = require("mpod.scenario.cluster").build { name = "dead", pods = { { name = "gone", url = dead } } }
  local res, err = mp.http.request { url = dead .. "/json", raise = false }
  mp.expect(res):is_nil()
  mp.expect(err.kind):eq("connect")
  mp.expect(err.message):matches("^GET /json: ")
  mp.expect(err.url):eq(dead .. "/json")
  res, err = mp.http.get(fix.url .. "/hang", { timeout = 0.3, raise = false })
  mp.expect(res):is_nil()
  mp.expect(err.kind):eq("timeout")
  local pod = c:pod("gone")
  for _, call in ipairs {
    function() return pod:get("/live", { raise = false }) end,
    function() return pod:post("/runs", { n = 1 }, { raise = false }) end,
    function() return pod:request { method = "PATCH", path = "/runs", raise = false } end,
  } do
    res, err = call()
    mp.expect(res):is_nil()
    mp.expect(err.kind):eq("connect")
    mp.expect(err.pod):eq("gone")
    mp.expect(err.message):matches(" on gone: ")
  end
  -- an answer is a response, whatever its status; raise = true is the default
  res, err = mp.http.get(fix.url .. "/status/503", { raise = false })
  mp.expect(res.status):eq(503)
  mp.expect(err):is_nil()
  mp.expect(function() pod:get("/live", { raise = true }) end):raises("GET /live on gone")
  mp.expect(function() pod:get("/live", { raise = "no" }) end)
    :raises("raise must be true or false, got no")
end)

mp.test("raise = false leaves a cancellation raising", function()
  local t = mp.spawn(function() return mp.http.get(fix.url .. "/hang", { raise = false }) end)
  mp.sleep(0.1)
  t:cancel("stop")
  mp.expect(function() t:wait(1) end):raises("task cancelled: stop")
end)
