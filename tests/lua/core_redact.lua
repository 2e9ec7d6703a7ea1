-- core_redact.lua: secrets never reach a report. The rules of mpod.redact
-- one by one (header values, secret names, Bearer tokens, URL passwords,
-- registered values, the cluster file's own secrets), ordinary text that
-- must stay, linear time on hostile texts; then end to end, against
-- tests/clusters/leaky.lua (a service printing secrets of every form): a
-- failed bring-up (Bail out!, stderr, JUnit, exit 3), a scenario that notes
-- and fails with them (TAP and its YAML, JUnit, -v's stderr, --dump-logs)
-- and `mpod-lua status`. Each output must lack every secret AND still hold
-- the words around them, so printing nothing cannot pass.
local mp = require "mpod"
local procs = require "procs"
local redact = require "mpod.redact"
local st = require "selftest"
local sys = require "mpod.sys"

local function each_eq(cases)
  for _, c in ipairs(cases) do mp.expect(redact.redact(c[1])):eq(c[2]) end
end

mp.test("header values: any case, : or =, to the end of the line or inside quotes", function()
  each_eq {
    { "Authorization: Bearer abc123def456", "Authorization: ***" },
    { "AUTHORIZATION=Basic dXNlcjpwYXNz\nnext line", "AUTHORIZATION=***\nnext line" },
    { "authorization: token xyz", "authorization: ***" },
    { "Proxy-Authorization: Basic eA==", "Proxy-Authorization: ***" },
    { "Cookie: meshd_session=abc; theme=dark", "Cookie: ***" },
    { "Set-Cookie: sid=abc; Path=/", "Set-Cookie: ***" },
    { 'headers = {Cookie = "sid=abc", Accept = "json"}', 'headers = {Cookie = "***", Accept = "json"}' },
    { "{'cookie': 'sid=abc', 'x': 1}", "{'cookie': '***', 'x': 1}" },
    { '{"Authorization":"Bearer x","user":"u"}', '{"Authorization":"***","user":"u"}' },
  }
end)

mp.test("values under a name that says secret, in any case: quoted, or one word", function()
  each_eq {
    { "host=x password=secret user=y", "host=x password=*** user=y" },
    { "host=x password='it is' user=y", "host=x password='***' user=y" },
    { '{"email":"a@b","password":"hunter2"}', '{"email":"a@b","password":"***"}' },
    { '{"Password": "p4ss", "API_KEY": 12345, "name": "x"}', '{"Password": "***", "API_KEY": ***, "name": "x"}' },
    { "PGPASSWORD=abc DB_Passwd: 'x y'", "PGPASSWORD=*** DB_Passwd: '***'" },
    { "https://x/?next_token=abc&page=2", "https://x/?next_token=***&page=2" },
    { '["api-key"] = "zzz", ["x"] = 1', '["api-key"] = "***", ["x"] = 1' },
    { "client_secret: s3 ok", "client_secret: *** ok" },
    { "stripe_apikey=sk_live_1 AWS_ACCESS_KEY=AKIA private-key: x", "stripe_apikey=*** AWS_ACCESS_KEY=*** private-key: ***" },
    { 'error { message = "boom", token = "t0k3n" }', 'error { message = "boom", token = "***" }' },
    { 'password="unterminated\nnext', 'password="***\nnext' },
  }
end)

mp.test("Bearer, then a credential of 6 characters or more, digits or not; URL passwords of any scheme", function()
  each_eq {
    { "got Bearer mk_1234abcd in a message", "got Bearer *** in a message" },
    { "got Bearer lettersonlytoken here", "got Bearer *** here" },
    { "BEARER eyJhbGciOi.x-y_z~ ok", "BEARER *** ok" },
    { "postgresql://postgres:secret@127.0.0.1/db", "postgresql://postgres:***@127.0.0.1/db" },
    { "redis://:pw12@host:6379/0 and amqp://u:p@h/vh", "redis://:***@host:6379/0 and amqp://u:***@h/vh" },
    { "mongodb+srv://app:p@ss@cluster0/x", "mongodb+srv://app:***@cluster0/x" },
  }
end)

mp.test("ordinary text stays as it is", function()
  for _, text in ipairs {
    "bearer and cookie auth", "a Bearer token", "cookies: 3",
    "password authentication failed for user \"app\"",
    "tests/cases/secrets_report.lua:22: token expired", "token == nil", "password:\n  next: 1",
    '{"primary_key": "k1", "sort_key": 2, "monkey": "banana", "key": "users/1"}',
    "http://host:8080/a@b", "ssh://git@github.com/x", "mpod-lua: 3 passed, 0 failed",
    "secrets are redacted", "a password_file", "",
  } do
    mp.expect(redact.redact(text)):eq(text)
  end
  mp.expect(redact.redact(42)):eq(42)
end)

mp.test("registered values: every occurrence, the longest first, none under 6 bytes", function()
  redact.add_secret("tok-123456789")
  redact.add_secret("tok-123456789-and-more")
  redact.add_secret("short")
  redact.add_secret({})
  mp.expect(redact.redact("a tok-123456789-and-more b tok-123456789 c")):eq("a *** b *** c")
  mp.expect(redact.redact("short stays")):eq("short stays")
end)

mp.test("redact_all: strings deeply, values under secret keys, tables read raw", function()
  local hostile = setmetatable({ note = "Cookie: sid=abc" }, {
    __index = function() error("__index ran") end,
    __pairs = function() error("__pairs ran") end,
    __metatable = "locked",
  })
  local out = redact.redact_all {
    message = "Authorization: Bearer abcdef123456", n = 1, ok = true,
    nested = { db_password = "hunter2", API_KEY = 7, tokens = 5, hostile = hostile },
    logs = { ["token-service"] = "started\nready" },
  }
  mp.expect(out.message):eq("Authorization: ***")
  mp.expect(out.nested.db_password):eq("***")
  mp.expect(out.nested.API_KEY):eq("***")
  mp.expect(out.nested.tokens):eq(5)
  mp.expect(rawget(out.nested.hostile, "note")):eq("Cookie: ***")
  mp.expect(out.logs["token-service"]):eq("started\nready")
  mp.expect(out.n):eq(1)
end)

mp.test("the secrets a cluster file sets (env and header values by name, DSN and URL passwords)", function()
  redact.add_cluster_secrets {
    postgres = "postgresql://app:pgsecret-1@db:5432/app",
    http = { headers = { Authorization = "Basic hdrsecret-1", Origin = "http://origin-1" } },
    services = {
      { name = "a", env = { DB_PASSWORD = "envsecret-1", SESSION_SECRET_KEY = "envsecret-2",
                            API_TOKEN = "envsecret-3", PORT = "1300001", DATABASE_URL =
                              "postgresql://u:urlsecret-1@db/app" },
        url = "http://probe:urlsecret-2@127.0.0.1:9" },
    },
  }
  local text = "pgsecret-1 hdrsecret-1 envsecret-1 envsecret-2 envsecret-3 urlsecret-1 urlsecret-2"
  mp.expect(redact.redact(text)):eq("*** *** *** *** *** *** ***")
  mp.expect(redact.redact("port 1300001 from http://origin-1")):eq("port 1300001 from http://origin-1")
  -- a password equal to a name reports show (the DSN's user or database, a
  -- service) hides only where it stands as a password
  redact.add_cluster_secrets {
    name = "c", postgres = "postgresql://postgres:postgres@127.0.0.1:1/postgres",
    services = { { name = "migrate", env = { PGPASSWORD = "postgres", DB_SECRET = "migrate" } } },
  }
  mp.expect(redact.redact("user postgres, db postgres, pod migrate"))
    :eq("user postgres, db postgres, pod migrate")
  mp.expect(redact.redact("postgresql://postgres:postgres@db")):eq("postgresql://postgres:***@db")
end)

mp.test("hostile texts take linear time", function()
  -- each of these made a rule look at the rest of the text at every hit
  -- (quadratic: minutes for a MiB); linear, they take milliseconds
  local MiB = 1024 * 1024
  local texts = {
    string.rep("token", MiB // 5), string.rep('"password":"x', MiB // 13),
    string.rep("api_key", MiB // 7), string.rep("://a", MiB // 4),
    string.rep("Bearer ", MiB // 7), string.rep("x", MiB),
  }
  local start = mp.now()
  for _, text in ipairs(texts) do redact.redact(text) end
  mp.expect(mp.now() - start):lt(st.slow(5))
end)

mp.test("a value the scenario process registers is redacted on the way out", function()
  local dir = require("mpod.sys").mkdtemp("mpod-redact")
  local path = dir .. "/leak.lua"
  local f = assert(io.open(path, "w"))
  f:write([[
local mp = require "mpod"
require("mpod.redact").add_secret("s3cr3t-token-value")
mp.test("leaks", function()
  mp.note("token is s3cr3t-token-value")
  mp.expect("postgresql://app:pa55word@db/x"):eq("Authorization: Bearer abcdef123456")
end)
]])
  f:close()
  local r = st.run { path }
  mp.expect(r.stdout):contains("# token is ***")
  mp.expect(r.stdout):contains("postgresql://app:***@db/x")
  mp.expect(r.stdout):contains("Authorization: ***")
  mp.expect(r.stdout:find("pa55word", 1, true)):is_nil()
  mp.expect(r.stdout:find("s3cr3t", 1, true)):is_nil()
  mp.expect(r.stdout:find("abcdef123456", 1, true)):is_nil()
  require("mpod.sys").rmtree(dir)
end)

-- End to end ------------------------------------------------------------------------

local CLUSTER = "tests/clusters/leaky.lua"

-- every secret leaky.lua and secrets_report.lua print or raise
local SECRETS = {
  "dsnpw-7731", "cookie-7731", "luacookie-7731", "authtok-7731", "lettersonlytoken",
  "kvpw-7731", "redispw-7731", "amqppw-7731", "upperauth-7731", "lowerauth-7731",
  "jsonpw-7731", "jsonkey-7731", "envpw-7731", "pgpw-7731", "urlpw-7731",
  "probepw-7731", "probecookie-7731", "faildsn-7731", "failtok-7731", "tabletok-7731",
  "tablepw-7731",
}

-- the pod's log lines as every report must show them
local LOG_LINES = {
  "leak-dsn postgresql://app:***@db:5432/app", "leak-cookie Cookie: ***",
  'leak-luacookie headers = {Cookie = "***", Accept = "json"}',
  "leak-auth Authorization: ***", "leak-bearer got Bearer ***",
  "leak-kv host=db password=*** user=app", "leak-redis redis://:***@cache:6379/0",
  "leak-amqp amqp://mq:***@mq/vh", "leak-upper AUTHORIZATION=***",
  "leak-lower authorization: ***",
  'leak-json {"Password": "***", "API_KEY": "***", "name": "app"}',
  "leak-env *** as a bare word", "leak-pg *** as a bare word", "leak-url *** as a bare word",
}

local PROBE = "probe-dsn postgresql://app:***@db/app probe-env *** probe-pg *** probe-end Cookie: ***"

local state_dir, dir

mp.before_all(function()
  state_dir = assert(sys.mkdtemp("mpod-state"))
  dir = assert(sys.mkdtemp("mpod-redact"))
end)

mp.after_all(function()
  sys.rmtree(state_dir)
  sys.rmtree(dir)
end)

local function env(ready_exit)
  local e = procs.env()
  e.MPOD_STATE_DIR = state_dir
  e.READY_EXIT = ready_exit
  return e
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then mp.fail("no file " .. path) end
  local text = f:read("a")
  f:close()
  return text
end

local function xml(text)
  return (text:gsub("&", "&amp;"):gsub('"', "&quot;"):gsub("'", "&apos;"):gsub("<", "&lt;"))
end

-- clean(text, what, kept): no secret in text, and every string of kept is
local function clean(text, what, kept)
  for _, secret in ipairs(SECRETS) do
    if text:find(secret, 1, true) then
      mp.fail(string.format("%s shows %s:\n%s", what, secret, text))
    end
  end
  for _, wanted in ipairs(kept) do
    if not text:find(wanted, 1, true) then
      mp.fail(string.format("%s lacks %q:\n%s", what, wanted, text))
    end
  end
end

local function with(list, ...)
  local out = table.move(list, 1, #list, 1, {})
  for _, x in ipairs { ... } do out[#out + 1] = x end
  return out
end

local function map(list, fn)
  local out = {}
  for i, x in ipairs(list) do out[i] = fn(x) end
  return out
end

local function gone(tag)
  local ok = pcall(mp.poll_until, function() return procs.count(tag) == 0 end, { timeout = st.slow(30) })
  if not ok then mp.fail("processes of " .. tag .. " left behind:\n" .. table.concat(procs.list(tag), "\n")) end
end

mp.test("a bring-up that fails quotes the service redacted: Bail out!, stderr, JUnit, exit 3", function()
  local e = env("1")
  local junit = dir .. "/bringup.xml"
  local r = st.run({ "--up", "-C", CLUSTER, "--junit", junit, st.case("passing") }, { env = e })
  st.expect_code(r, 3)
  local reason = "cluster leaky-" .. e.TAG .. " could not be brought up: leaky not ready after 2 s: " ..
    "/bin/sh exited with code 1: " .. PROBE
  clean(r.stdout, "stdout", { "Bail out! " .. reason })
  clean(r.stderr, "stderr", with(LOG_LINES, "mpod-lua: " .. reason))
  clean(read(junit), "the JUnit file", { '<error message="' .. xml(reason) })
  gone(e.TAG)
end)

mp.test("a scenario's notes, failures and failure context are redacted in TAP, JUnit, -v and --dump-logs", function()
  local e = env("0")
  local junit, dump = dir .. "/run.xml", dir .. "/dump"
  local r = st.run({ "-v", "--up", "-C", CLUSTER, "--junit", junit, "--dump-logs", dump,
                     st.case("secrets_report") }, { env = e })
  st.expect_code(r, 1)
  local failures = { "fail-dsn postgresql://app:***@db/app", "fail-token token=***",
                     "fail-table Authorization: ***", 'detail: "fail-detail *** ok"',
                     'password: "***"' }
  clean(r.stdout, "stdout", with(with(map(LOG_LINES, function(l) return "    # " .. l end),
    table.unpack(LOG_LINES)), table.unpack(failures)))
  -- the logs: block of the YAML holds the log lines too, after the notes
  local yaml = r.stdout:match("not ok 2 %- fails quoting secrets\n(.-)\n      %.%.%.")
  clean(yaml or "", "the YAML of the failed test", with(LOG_LINES, "logs:"))
  clean(r.stderr, "-v's stderr", with(LOG_LINES,
    "# tests/cases/secrets_report.lua: not ok - fails quoting secrets"))
  clean(read(junit), "the JUnit file", with(map(LOG_LINES, xml), "fail-table Authorization: ***"))
  clean(read(dump .. "/leaky.log"), "--dump-logs", LOG_LINES)
  gone(e.TAG)
end)

mp.test("`mpod-lua status` hides the url's password; `logs` prints the log as written", function()
  local e = env("0")
  -- down at the end, whatever fails first
  local _ <close> = setmetatable({}, { __close = function()
    st.run({ "down", "-C", CLUSTER }, { env = e })
  end })
  local up = st.run({ "up", "-C", CLUSTER }, { env = e })
  st.expect_code(up, 0)
  local row = "http://probe:***@127.0.0.1:9"
  clean(up.stdout, "up", { row })
  local status = st.run({ "status", "-C", CLUSTER }, { env = e })
  st.expect_code(status, 0)
  clean(status.stdout, "status", { row })
  mp.expect(status.stdout):matches("\nleaky%s+running%s+ready%s+http://probe:%*%*%*@")
  local logs = st.run({ "logs", "leaky", "-C", CLUSTER }, { env = e })
  mp.expect(logs.stdout):contains("leak-dsn postgresql://app:dsnpw-7731@db:5432/app")
  st.expect_code(st.run({ "down", "-C", CLUSTER }, { env = e }), 0)
  gone(e.TAG)
end)
