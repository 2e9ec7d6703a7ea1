-- pg_failures.lua: what goes wrong around a Postgres connection, against a
-- private server (pgfixture) that these tests also stop and restart: an
-- unreachable server, a connect timeout, a wrong password or a malformed
-- DSN (the password never shows), a server stopped mid-query or while a
-- connection idles, a backend terminated under a query or between queries
-- or killed, and what a connection refuses but survives (COPY, a NUL in
-- the SQL text).

local mp = require "mpod"
local pgfix = require "pgfixture"
local st = require "selftest"
local sys = require "mpod.sys"

local server

mp.before_all(function() server = pgfix.start() end)
mp.after_all(function() if server then server:destroy() end end)

local TERMINATED = "the connection to the server was lost: the server ended this session " ..
  "(terminating connection due to administrator command: pg_terminate_backend() or a server shutdown)"

local function expect_no_secret(err, secret)
  for k, v in pairs(err) do
    if type(v) == "string" and v:find(secret, 1, true) then
      mp.fail(string.format("error field %s shows the password: %s", k, v))
    end
  end
end

mp.test("an unreachable server raises kind connect, quickly", function()
  local port = sys.free_port()
  local dsn = server:dsn_for("postgres", "unreachable-secret", ""):gsub(":%d+/", ":" .. port .. "/")
  local t0 = mp.now()
  local err = mp.expect(function() mp.pg.connect(dsn) end):raises("could not connect to Postgres")
  mp.expect(mp.now() - t0):lt(2)
  mp.expect(err.kind):eq("connect")
  mp.expect(err.message):matches("Connection refused")
  mp.expect(err.host):eq("127.0.0.1")
  mp.expect(err.port):eq(tostring(port))
  mp.expect(err.dsn):eq("postgresql://postgres:***@127.0.0.1:" .. port .. "/postgres")
  expect_no_secret(err, "unreachable-secret")
end)

mp.test("raise = false: a failure to connect returns nil and the error", function()
  local port = sys.free_port()
  local dsn = server:dsn_for("postgres", "unreachable-secret", ""):gsub(":%d+/", ":" .. port .. "/")
  local db, err = mp.pg.connect(dsn, { raise = false })
  mp.expect(db):is_nil()
  mp.expect(err.kind):eq("connect")
  mp.expect(err.message):matches("Connection refused")
  expect_no_secret(err, "unreachable-secret")
  local c = require("mpod.scenario.cluster").build { name = "pg", postgres = dsn }
  db, err = c:db { raise = false }
  mp.expect(db):is_nil()
  mp.expect(err.kind):eq("connect")
  -- a server that answers gives a connection; a misspelt option raises
  local up <close> = mp.pg.connect(server.dsn, { raise = false })
  mp.expect(up:scalar("SELECT 1")):eq(1)
  mp.expect(function() mp.pg.connect(dsn, { raise = 0 }) end):raises("raise must be true or false")
end)

mp.test("a server that does not answer raises kind connect after the timeout", function()
  -- a stopped postmaster: the kernel completes the TCP handshake, nobody
  -- answers the startup packet
  server.proc:kill("STOP")
  local dsn = string.format("host=127.0.0.1 port=%d password=silent-secret", server.port)
  local t0 = mp.now()
  local ok, err = pcall(mp.pg.connect, dsn, { timeout = 0.3 })
  server.proc:kill("CONT")
  mp.expect(ok):falsy()
  mp.expect(err.message):matches("timed out after 0.3 s")
  mp.expect(mp.now() - t0):lt(2)
  mp.expect(err.kind):eq("connect")
  mp.expect(err.dsn):eq(string.format("host=127.0.0.1 port=%d password=***", server.port))
  expect_no_secret(err, "silent-secret")
  local db <close> = server:connect()
  mp.expect(db:scalar("SELECT 1")):eq(1)
end)

mp.test("a wrong password raises kind connect without showing it", function()
  local dsn = server:dsn_for("postgres", "wrong-password-xyz")
  local err = mp.expect(function() mp.pg.connect(dsn) end)
    :raises('password authentication failed for user "postgres"')
  mp.expect(err.kind):eq("connect")
  expect_no_secret(err, "wrong-password-xyz")
end)

mp.test("a password that is also the user's name is hidden as a password, not as a word", function()
  local redact = require "mpod.redact"
  local err = mp.expect(function() mp.pg.connect(server:dsn_for("postgres", "postgres")) end)
    :raises('password authentication failed for user "postgres"')
  mp.expect(err.dsn):eq(server:dsn_for("postgres", "***"))
  -- the word stays readable in reports (a test named "postgres stopped")
  mp.expect(redact.redact("with postgres stopped")):eq("with postgres stopped")
  mp.expect(redact.redact("postgresql://postgres:postgres@h/db")):eq("postgresql://postgres:***@h/db")
  -- a password of its own is hidden everywhere
  pcall(mp.pg.connect, server:dsn_for("postgres", "pw-of-its-own"))
  mp.expect(redact.redact("said pw-of-its-own")):eq("said ***")
end)

mp.test("a malformed DSN raises kind connect without showing its password", function()
  local err = mp.expect(function()
    mp.pg.connect("host=127.0.0.1 password=malformed-secret port")
  end):raises("could not connect to Postgres")
  mp.expect(err.kind):eq("connect")
  expect_no_secret(err, "malformed-secret")
  err = mp.expect(function()
    mp.pg.connect("postgresql://u:uri-secret@127.0.0.1:notaport/db")
  end):raises("could not connect to Postgres")
  expect_no_secret(err, "uri-secret")
end)

mp.test("the DSN's password never appears in a failing test's report", function()
  local case = server.dir .. "/password_case.lua"
  local f = assert(io.open(case, "w"))
  f:write(string.format([[
local mp = require "mpod"
mp.test("fails with the connection in hand", function()
  local db = require("mpod.pg").connect(%q)
  db:query("SELECT no_such_column")
end)
mp.test("fails to connect", function()
  require("mpod.pg").connect(%q)
end)
]], server.dsn, server.dsn:gsub("/postgres$", "/no_such_db")))
  f:close()
  local r = st.run({ "-v", case })
  mp.expect(r.code):eq(1)
  mp.expect(r.stdout):matches("no_such_column")
  mp.expect(r.stdout):matches("no_such_db")
  mp.expect(r.stdout:find(server.password, 1, true)):is_nil()
  mp.expect(r.stderr:find(server.password, 1, true)):is_nil()
end)

mp.test("a backend terminated under a query raises kind connection_lost", function()
  local db <close> = server:connect()
  local observer <close> = server:connect()
  local pid = db:backend_pid()
  -- The terminating query's own answer can arrive after db's error; the
  -- task is waited for so that closing observer never cuts it off.
  local terminator = mp.spawn(function()
    mp.sleep(0.2)
    observer:query("SELECT pg_terminate_backend($1)", pid)
  end)
  local err = mp.expect(function() db:query("SELECT pg_sleep(30)") end)
    :raises("the connection to the server was lost during the query")
  terminator:wait(10)
  mp.expect(err.kind):eq("connection_lost")
  mp.expect(err.sqlstate):eq("57P01")
  mp.expect(db:status()):eq("broken")
  err = mp.expect(function() db:query("SELECT 1") end):raises("the connection to the server was lost")
  mp.expect(err.kind):eq("connection_lost")
  mp.expect(err.message):eq(TERMINATED)
end)

mp.test("a session ended between queries or killed says so, not \"invalid socket\"", function()
  local observer <close> = server:connect()
  local idle <close> = server:connect()
  local listening <close> = server:connect()
  listening:listen("never")
  observer:query("SELECT pg_terminate_backend($1)", idle:backend_pid())
  observer:query("SELECT pg_terminate_backend($1)", listening:backend_pid())
  mp.sleep(0.2)
  local err = mp.expect(function() idle:query("SELECT 1") end):raises("lost")
  mp.expect(err.message):eq(TERMINATED:gsub("was lost", "was lost during the query"))
  err = mp.expect(function() idle:query("SELECT 1") end):raises("lost")
  mp.expect(err.message):eq(TERMINATED)
  err = mp.expect(function() listening:wait_notify(5) end):raises("lost")
  mp.expect(err.message):eq(TERMINATED)
  local killed <close> = server:connect()
  local pid = killed:backend_pid()
  -- SIGKILL of a backend makes the server restart every session; whoever
  -- is killed first says nothing, so libpq's own words are what is left
  local query = mp.spawn(function() return killed:query("SELECT pg_sleep(30)") end)
  mp.sleep(0.2)
  assert(mp.exec({ "kill", "-KILL", tostring(pid) }).code == 0)
  err = mp.expect(function() query:wait(10) end):raises("lost")
  mp.expect(err.message):eq("the connection to the server was lost during the query: the server " ..
    "closed the connection unexpectedly (it stopped or crashed, or ended this session)")
  mp.poll_until(function()
    local ok, fresh = pcall(server.connect, server)
    if ok then fresh:close() end
    return ok
  end, { timeout = 30, label = "the server takes sessions again" })
end)

mp.test("COPY TO STDOUT and FROM STDIN raise usage; the connection stays usable", function()
  local db <close> = server:connect()
  db:exec("CREATE TEMP TABLE copied (n int)")
  local copies = {
    "COPY (SELECT g FROM generate_series(1, 200000) g) TO STDOUT",   -- rows to drop
    "COPY copied FROM STDIN",
    "  /* a comment */ copy copied (n) from stdin with (format csv)",
  }
  for _ = 1, 2 do             -- the second time through the prepared statement
    for _, sql in ipairs(copies) do
      local err = mp.expect(function() db:query(sql) end):raises("are not supported by mpod.pg")
      mp.expect(err.kind):eq("usage")
      mp.expect(err.query):eq(sql)
      mp.expect(err.message):eq("COPY ... TO STDOUT and COPY ... FROM STDIN are not supported " ..
        "by mpod.pg (the connection is still usable): read rows with SELECT, write them with " ..
        "INSERT, or COPY to or from a file on the server")
      mp.expect(db:status()):eq("idle")
      mp.expect(db:scalar("SELECT count(*) FROM copied")):eq(0)
    end
  end
  db:exec("INSERT INTO copied VALUES (1)")
  mp.expect(db:scalar("SELECT sum(n) FROM copied")):eq(1)
end)

mp.test("SQL text with a NUL byte raises usage; the connection stays usable", function()
  local db <close> = server:connect()
  local err = mp.expect(function() db:query("SELECT 'a\0b'") end):raises("cannot hold a NUL byte")
  mp.expect(err.kind):eq("usage")
  mp.expect(err.message):eq("SQL text cannot hold a NUL byte (byte 10 is one); pass such data as a parameter ($1)")
  mp.expect(db:scalar("SELECT $1::bytea", "a\0b")):eq("a\0b")
end)

mp.test("a server stopped mid-query raises connection_lost; a new connection works after restart", function()
  local db <close> = server:connect()
  local idle <close> = server:connect()
  local listener <close> = server:connect()
  listener:listen("never")
  local waiting = mp.spawn(function() return listener:wait_notify(30) end)
  local query = mp.spawn(function() return db:query("SELECT pg_sleep(30)") end)
  mp.sleep(0.3)
  local t0 = mp.now()
  server:stop("INT")
  local err = mp.expect(function() query:wait(10) end):raises("lost")
  mp.expect(err.kind):eq("connection_lost")
  mp.expect(mp.now() - t0):lt(10)
  err = mp.expect(function() waiting:wait(10) end):raises("lost")
  mp.expect(err.kind):eq("connection_lost")
  err = mp.expect(function() idle:query("SELECT 1") end):raises("lost")
  mp.expect(err.kind):eq("connection_lost")
  mp.expect(err.message:find("invalid socket", 1, true)):is_nil()
  mp.expect(idle:status()):eq("broken")
  err = mp.expect(function() server:connect() end):raises("could not connect")
  mp.expect(err.kind):eq("connect")
  server:start()
  local fresh <close> = server:connect()
  mp.expect(fresh:scalar("SELECT 1")):eq(1)
end)
