-- http_basic.lua: requests against the fixture server: JSON, statuses,
-- echo of what was sent (method, query, headers, body, json), repeated
-- headers, redirects, cluster-wide headers, bearer and cookie auth,
-- Set-Cookie parsing, a 50 MB body, malformed JSON, keep-alive, and the
-- Docker Engine API over its unix socket.

local mp = require "mpod"
local http = require "mpod.http"
local inspect = require "mpod.inspect"
local httpfix = require "httpfix"


local fix
mp.before_all(function() fix = httpfix.start() end)
mp.after_all(function() fix:stop() end)

local function get(path, opts)
  local spec = { url = fix.url .. path }
  for k, v in pairs(opts or {}) do spec[k] = v end
  return mp.http.request(spec)
end

mp.test("a JSON endpoint: status, headers, lazy json with exact integers", function()
  local res = get("/json")
  mp.expect(res.status):eq(200)
  mp.expect(res:ok()):truthy()
  mp.expect(res.headers["content-type"]):eq("application/json")
  mp.expect(rawget(res, "json")):is_nil()
  local doc = res.json
  mp.expect(doc.big):eq(9007199254740993)
  mp.expect(math.type(doc.big)):eq("integer")
  mp.expect(doc.unicode):eq("café ✓ 😀")
  mp.expect(doc.escaped):eq("tab\tquote\"backslash\\ é😀")
  mp.expect(doc.nested.nothing):eq(mp.null)
  mp.expect(doc.nested.list):eq { 1, 2, 3 }
  mp.expect(doc.float):eq(3.25)
  mp.expect(res.time):gt(0)
  mp.expect(res.time):lt(5)
  mp.expect(res.method):eq("GET")
  mp.expect(res.path):eq("/json")
end)

mp.test("a non-2xx status is data; expect() raises with a body excerpt", function()
  local res = get("/status/404")
  mp.expect(res.status):eq(404)
  mp.expect(res:ok()):falsy()
  mp.expect(res.json.reason):eq("Not Found")
  mp.expect(tostring(res)):eq('404 {"status":404,"reason":"Not Found"}')
  mp.expect(inspect.inspect(res)):eq(tostring(res))
  local err = mp.expect(function() res:expect(200) end)
    :raises('expected status 200, got 404: {"status":404,"reason":"Not Found"}')
  mp.expect(err.kind):eq("status")
  mp.expect(err.got):eq(404)
  mp.expect(err.path):eq("/status/404")
  mp.expect(err.at):matches("http_basic%.lua:%d+$")
  mp.expect(res:expect(404)):eq(res)
  mp.expect(res:expect { 200, 404 }):eq(res)
  mp.expect(function() get("/status/503"):expect() end):raises("expected status 2xx, got 503")
  mp.expect(get("/status/204").body):eq("")
  mp.expect(get("/status/204").json):is_nil()
end)

mp.test("the echo endpoint sees the method, query, headers and body sent", function()
  local res = get("/echo/x", { method = "PUT", query = { q = "a b&c", list = { 1, 2 }, flag = true },
    headers = { ["X-Trace"] = "t-1", ["X-Empty"] = "" }, body = "raw body" }).json
  mp.expect(res.method):eq("PUT")
  mp.expect(res.path):eq("/echo/x")
  mp.expect(res.query):eq("flag=true&list=1&list=2&q=a%20b%26c")
  mp.expect(res.args.q):eq { "a b&c" }
  mp.expect(res.args.list):eq { "1", "2" }
  mp.expect(res.headers["x-trace"]):eq { "t-1" }
  mp.expect(res.headers["x-empty"]):eq { "" }
  mp.expect(res.headers["user-agent"]):eq { "mpod-lua/" .. mp.version }
  mp.expect(res.body):eq("raw body")
  local q = get("/echo?keep=1", { query = { more = 2 } }).json
  mp.expect(q.query):eq("keep=1&more=2")
  local name = "ann/o'neil ü"
  local seg = get("/echo/" .. http.encode_component(name)).json
  mp.expect(seg.path):eq("/echo/" .. name)
end)

mp.test("json = sets the body and Content-Type; shorthands for any URL", function()
  local res = http.post(fix.url .. "/echo", { a = 1, list = mp.json.array {}, name = "café" }).json
  mp.expect(res.method):eq("POST")
  mp.expect(res.headers["content-type"]):eq { "application/json" }
  mp.expect(mp.json.decode(res.body)):eq { a = 1, list = mp.json.array {}, name = "café" }
  local patched = http.patch(fix.url .. "/echo", { n = 2 }, { headers = { ["Content-Type"] = "application/merge-patch+json" } }).json
  mp.expect(patched.method):eq("PATCH")
  mp.expect(patched.headers["content-type"]):eq { "application/merge-patch+json" }
  local empty = get("/echo", { method = "POST" }).json
  mp.expect(empty.headers["content-length"]):eq { "0" }
  mp.expect(empty.body_length):eq(0)
  mp.expect(http.delete(fix.url .. "/echo").json.method):eq("DELETE")
  local head = http.head(fix.url .. "/json")
  mp.expect(head.status):eq(200)
  mp.expect(head.body):eq("")
  mp.expect(function() mp.http.request { url = fix.url, body = {} } end):raises("body must be a string")
end)

mp.test("a 3 MB upload arrives whole while collections run, without Expect: 100-continue", function()
  local body = string.rep("0123456789abcdef", 3 * 65536)
  local busy = true
  local collector = mp.spawn(function()
    while busy do collectgarbage(); mp.sleep(0.001) end
  end)
  local res = mp.http.request { url = fix.url .. "/echo", method = "PUT", body = body:sub(1) }.json
  busy = false
  collector:wait(1)
  mp.expect(res.body_length):eq(#body)
  mp.expect(res.body == body):truthy()
  mp.expect(res.headers.expect):is_nil()
end)

mp.test("repeated headers are kept: joined in headers, each in header_list", function()
  local res = get("/headers/repeat")
  mp.expect(res.headers["x-multi"]):eq("one, two")
  mp.expect(res:header_values("X-Multi")):eq { "one", "two" }
  local multi = {}
  for _, h in ipairs(res.header_list) do
    if h.name == "x-multi" then multi[#multi + 1] = h.value end
  end
  mp.expect(multi):eq { "one", "two" }
end)

mp.test("redirects are followed only when asked", function()
  local res = get("/redirect")
  mp.expect(res.status):eq(302)
  mp.expect(res.headers.location):eq("/json")
  local followed = get("/redirect", { follow = true })
  mp.expect(followed.status):eq(200)
  mp.expect(followed.json.name):eq("httpfix")
  mp.expect(followed.url):eq(fix.url .. "/json")
  mp.expect(followed.headers.location):is_nil()
end)

mp.test("the cluster file's http.headers (Origin) apply to every pod", function()
  local c = fix:cluster { headers = { Origin = "http://localhost:3000" } }
  for _, pod in ipairs(c:pods()) do
    local res = pod:get("/echo")
    mp.expect(res.json.headers.origin):eq { "http://localhost:3000" }
    mp.expect(res.pod):eq(pod.name)
  end
  local other = c:pod("b"):get("/echo", { headers = { Origin = "http://other" } })
  mp.expect(other.json.headers.origin):eq { "http://other" }
  local lower = c:pod("b"):get("/echo", { headers = { origin = "http://lower" } })
  mp.expect(lower.json.headers.origin):eq { "http://lower" }
  local none = c:pod("c"):get("/echo", { headers = { Origin = false } })
  mp.expect(none.json.headers.origin):is_nil()
  local posted = c:pod("a"):post("/echo", { x = 1 })
  mp.expect(posted.json.method):eq("POST")
  mp.expect(posted.json.body):eq('{"x":1}')
  mp.expect(posted.json.headers.origin):eq { "http://localhost:3000" }
end)

mp.test("header lines kept for a reused headers table follow its changes", function()
  -- the lines are kept from a table's second use on; every change must show
  local c = fix:cluster { headers = { Origin = "http://one" } }
  local pod = c:pod("a")
  local function origin(opts) return pod:get("/echo", opts).json.headers.origin end
  for _ = 1, 3 do mp.expect(origin()):eq { "http://one" } end
  c.http.headers.Origin = "http://two"
  mp.expect(origin()):eq { "http://two" }
  c.http.headers["X-Extra"] = "x"
  mp.expect(pod:get("/echo").json.headers["x-extra"]):eq { "x" }
  c.http.headers["X-Extra"] = nil
  mp.expect(pod:get("/echo").json.headers["x-extra"]):is_nil()
  local mine = { Accept = "text/plain" }
  for i = 1, 3 do
    mine.Accept = "text/v" .. i
    mp.expect(pod:get("/echo", { headers = mine }).json.headers.accept):eq { "text/v" .. i }
    local plain = mp.http.get(fix.url .. "/echo", { headers = mine })
    mp.expect(plain.json.headers.accept):eq { "text/v" .. i }
  end
  mp.expect(mp.http.get(fix.url .. "/echo", { headers = mine, bearer = "tok-123456" })
    .json.headers.authorization):eq { "Bearer tok-123456" }
  mp.expect(mp.http.get(fix.url .. "/echo", { headers = mine }).json.headers.authorization):is_nil()
  pod.url = fix.url .. "/nowhere/"
  mp.expect(pod:get("/echo").status):eq(404)
  pod.url = fix.url .. "//"
  mp.expect(pod:get("echo").status):eq(200)
end)

mp.test("auth by token and by cookie, and a login cookie passed on", function()
  local a = fix:cluster():pod("a")
  mp.expect(a:get("/auth").status):eq(401)
  mp.expect(a:get("/auth", { bearer = "good-token" }).json.via):eq("bearer")
  mp.expect(a:get("/auth", { bearer = "bad-token" }).status):eq(401)
  mp.expect(a:get("/auth", { cookie = "session=abc" }).json.via):eq("cookie")
  mp.expect(a:get("/auth", { cookie = { session = "abc" } }).json.via):eq("cookie")
  local login = a:post("/cookies/login")
  mp.expect(login:cookie_header()):eq("session=abc")
  mp.expect(a:get("/auth", { cookie = login:cookie_header() }).json.via):eq("cookie")
  mp.expect(a:get("/auth", { cookie = login.cookies }).json.via):eq("cookie")
end)

mp.test("Set-Cookie variants: deletion by Max-Age=0 and past Expires, odd spelling", function()
  local res = get("/cookies/set")
  mp.expect(res.cookies):eq { plain = "1", lasting = "2", odd = "4" }
  mp.expect(res:cookie_header()):eq("plain=1; lasting=2; odd=4")
  mp.expect(#res.set_cookies):eq(5)
  local by_name = {}
  for _, c in ipairs(res.set_cookies) do by_name[c.name] = c end
  mp.expect(by_name.session.expired):eq(true)
  mp.expect(by_name.session.max_age):eq(0)
  mp.expect(by_name.old.expired):eq(true)
  mp.expect(by_name.old.expires):eq(0)
  mp.expect(by_name.lasting.max_age):eq(3600)
  mp.expect(by_name.odd):eq { name = "odd", value = "4", path = "/", http_only = true,
    max_age = 60, same_site = "lax", expired = false }
  mp.expect(#res:header_values("set-cookie")):eq(5)
end)

mp.test("Set-Cookie parsing: Max-Age wins over Expires, future dates live", function()
  local future = http.parse_set_cookie("a=1; Expires=Wed, 01 Jan 2100 00:00:00 GMT")
  mp.expect(future.expired):eq(false)
  mp.expect(future.expires):eq(4102444800)
  local both = http.parse_set_cookie("a=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=10")
  mp.expect(both.expired):eq(false)
  mp.expect(http.parse_set_cookie("a=1; Max-Age=-5").expired):eq(true)
  mp.expect(http.parse_set_cookie("a=1; Max-Age=soon").max_age):is_nil()
  mp.expect(http.parse_set_cookie("  tok = x=y ; Secure").value):eq("x=y")
  mp.expect(http.parse_set_cookie("=nameless")):is_nil()
end)

mp.test("a 50 MB body arrives whole and in order", function()
  local res = get("/big", { query = { mb = 50 }, timeout = 60 })
  local body = res.body
  local records = 50 * 1024 * 1024 // 16
  mp.expect(#body):eq(records * 16)
  for i = 0, records - 1, 997 do           -- every 997th record, exactly
    if body:sub(i * 16 + 1, i * 16 + 16) ~= string.format("%015d\n", i) then
      mp.fail("record " .. i .. " is wrong: " .. body:sub(i * 16 + 1, i * 16 + 16))
    end
  end
  mp.expect(body:sub(-16)):eq(string.format("%015d\n", records - 1))
end)

mp.test("malformed JSON: res.json raises a json error with the position", function()
  local res = get("/malformed-json")
  mp.expect(res.status):eq(200)
  local err = mp.expect(function() return res.json end):raises("GET /malformed-json: ")
  mp.expect(err.kind):eq("json")
  mp.expect(err.position):eq(29)
  mp.expect(err.line):eq(1)
  mp.expect(err.path):eq("/malformed-json")
  mp.expect(err.body):eq('{"truncated": [1, 2, {"key": ')
  mp.expect(function() return res.json end):raises("line 1")
end)

mp.test("sequential requests to one host reuse one keep-alive connection", function()
  get("/json")
  local before = fix:connections()
  for _ = 1, 20 do get("/json") end
  mp.expect(fix:connections()):eq(before)
  mp.expect(before):ge(1)
end)

mp.test("unix_socket: the Docker Engine API on its socket", function()
  local sock = "/var/run/docker.sock"
  if #require("mpod.sys").glob(sock) == 0 then
    mp.note("skipped: no " .. sock)
    return
  end
  local res = mp.http.request { url = "http://docker/_ping", unix_socket = sock, timeout = 10 }
  mp.expect(res.status):eq(200)
  mp.expect(res.body):eq("OK")
end)

mp.test("mp.http.excerpt: one line, bounded, binary named", function()
  mp.expect(mp.http.excerpt("a\n  b\tc")):eq("a b c")
  mp.expect(mp.http.excerpt(string.rep("x", 300))):eq(string.rep("x", 200) .. "...")
  mp.expect(mp.http.excerpt("abcdef", 3)):eq("abc...")
  mp.expect(mp.http.excerpt("\0\1binary")):eq("<8 bytes of binary data>")
  mp.expect(mp.http.excerpt(nil)):eq("")
  -- a cut never splits a UTF-8 character
  mp.expect(mp.http.excerpt("ab\u{e9}", 3)):eq("ab...")
end)
