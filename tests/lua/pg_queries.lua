-- pg_queries.lua: the connection API against a private Postgres
-- (pgfixture): one/scalar/exec, SQL errors, the statement cache,
-- LISTEN/NOTIFY, concurrency (other tasks keep running, separate
-- connections overlap, one connection serves tasks in turn), timeouts and
-- cancellation that reach the server, and close/<close>/GC releasing the
-- server's backend.

local mp = require "mpod"
local pgfix = require "pgfixture"
local st = require "selftest"

local server, db, observer

mp.before_all(function()
  server = pgfix.start()
  db = server:connect()
  observer = server:connect()
end)

mp.after_all(function()
  if db then db:close() end
  if observer then observer:close() end
  if server then server:destroy() end
end)

-- Whether the backend pid is still connected.
local function backend_alive(pid)
  return observer:scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid) > 0
end

-- The number of statements running right now whose text contains marker.
local function active_with(marker)
  return observer:scalar("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
    .. "AND pid <> pg_backend_pid() AND strpos(query, $1) > 0", marker)
end

local function gone(pid, label)
  mp.poll_until(function() return not backend_alive(pid) end,
    { timeout = 5, interval = 0.05, label = label })
end

mp.test("c:db() connects to the cluster file's postgres", function()
  local cluster = server.dir .. "/cluster.lua"
  local f = assert(io.open(cluster, "w"))
  f:write(string.format("return { name = 'pg', backend = 'process', postgres = %q, services = {} }\n",
    server.dsn))
  f:close()
  local case = server.dir .. "/cluster_case.lua"
  f = assert(io.open(case, "w"))
  f:write([[
local mp = require "mpod"
mp.test("c:db()", function()
  local db <close> = mp.cluster():db()
  mp.expect(db:scalar("SELECT current_user")):eq("postgres")
end)
]])
  f:close()
  local r = st.run({ "-C", cluster, case })
  mp.expect(r.stdout):matches("ok 1 %- c:db%(%)")
  mp.expect(r.code):eq(0)
end)

mp.test("one, scalar and exec", function()
  db:exec("CREATE TEMP TABLE t_api (id int PRIMARY KEY, v text)")
  mp.expect(db:exec("INSERT INTO t_api VALUES (1, 'a'), (2, 'b'), (3, 'c')")):eq(3)
  mp.expect(db:exec("UPDATE t_api SET v = v || '!' WHERE id > $1", 1)):eq(2)
  mp.expect(db:exec("DELETE FROM t_api WHERE id = $1", 3)):eq(1)
  mp.expect(db:exec("CREATE TEMP TABLE t_api2 (x int)")):eq(0)
  mp.expect(db:one("SELECT id, v FROM t_api WHERE id = $1", 2)):eq { id = 2, v = "b!" }
  mp.expect(db:one("SELECT id FROM t_api WHERE id = $1", 99)):is_nil()
  mp.expect(db:scalar("SELECT v FROM t_api ORDER BY id")):eq("a")
  mp.expect(db:scalar("SELECT v FROM t_api WHERE false")):is_nil()
  local rows, count = db:query("SELECT * FROM t_api ORDER BY id")
  mp.expect(count):eq(2)
  mp.expect(rows.columns):eq { "id", "v" }
end)

mp.test("an SQL error raises kind sql with sqlstate, message, detail, hint, position", function()
  db:exec("CREATE TEMP TABLE t_err (id int PRIMARY KEY)")
  db:exec("INSERT INTO t_err VALUES (1)")
  local err = mp.expect(function() db:exec("INSERT INTO t_err VALUES ($1)", 1) end)
    :raises("duplicate key value violates unique constraint")
  mp.expect(err.kind):eq("sql")
  mp.expect(err.sqlstate):eq("23505")
  mp.expect(err.detail):eq("Key (id)=(1) already exists.")
  mp.expect(err.constraint):eq("t_err_pkey")
  mp.expect(err.table):eq("t_err")
  mp.expect(err.query):eq("INSERT INTO t_err VALUES ($1)")
  err = mp.expect(function() db:query("SELECT lower(1)") end):raises("does not exist")
  mp.expect(err.sqlstate):eq("42883")
  mp.expect(err.position):eq(8)
  mp.expect(err.hint):matches("explicit type casts")
  err = mp.expect(function() db:query("SELEC 1") end):raises('syntax error at or near "SELEC"')
  mp.expect(err.position):eq(1)
  mp.expect(err.severity):eq("ERROR")
  mp.expect(db:scalar("SELECT 'still usable'")):eq("still usable")
end)

mp.test("a failed transaction stays failed until ROLLBACK, then the connection goes on", function()
  local tx = server:connect()
  tx:exec("BEGIN")
  mp.expect(function() tx:query("SELECT 1/0") end):raises("division by zero")
  local err = mp.expect(function() tx:query("SELECT 1") end):raises("current transaction is aborted")
  mp.expect(err.sqlstate):eq("25P02")
  tx:exec("ROLLBACK")
  mp.expect(tx:scalar("SELECT 2")):eq(2)
  tx:close()
end)

mp.test("a query text is prepared on its second use and reused after", function()
  local c <close> = server:connect()
  local sql = "SELECT $1::int + 1 AS n"
  mp.expect(c:scalar(sql, 1)):eq(2)
  local prepared = "SELECT count(*) FROM pg_prepared_statements WHERE statement = $1"
  mp.expect(c:scalar(prepared, sql)):eq(0)
  mp.expect(c:scalar(sql, 2)):eq(3)
  mp.expect(c:scalar(prepared, sql)):eq(1)
  for i = 1, 5 do mp.expect(c:scalar(sql, i)):eq(i + 1) end
  mp.expect(c:scalar(prepared, sql)):eq(1)
end)

mp.test("a cached statement survives a schema change and DISCARD ALL", function()
  local c <close> = server:connect()
  c:exec("CREATE TEMP TABLE t_shape (a int)")
  c:exec("INSERT INTO t_shape VALUES (1)")
  for _ = 1, 3 do mp.expect(c:one("SELECT * FROM t_shape")):eq { a = 1 } end
  c:exec("ALTER TABLE t_shape ADD COLUMN b text DEFAULT 'x'")
  mp.expect(c:one("SELECT * FROM t_shape")):eq { a = 1, b = "x" }
  mp.expect(c:one("SELECT * FROM t_shape")):eq { a = 1, b = "x" }
  c:exec("DISCARD ALL")
  c:exec("CREATE TEMP TABLE t_shape (a int)")
  mp.expect(c:one("SELECT * FROM t_shape")):is_nil()
  c:exec("BEGIN")
  c:exec("ALTER TABLE t_shape ADD COLUMN c int")
  mp.expect(function() c:one("SELECT * FROM t_shape") end)
    :raises("cached plan must not change result type")
  c:exec("ROLLBACK")
  mp.expect(c:query("SELECT * FROM t_shape").columns):eq { "a" }
end)

mp.test("LISTEN/NOTIFY: a notification from another connection", function()
  local listener <close> = server:connect()
  listener:listen("mpod events")
  local sender <close> = server:connect()
  sender:notify("mpod events", "hello, world")
  local n = listener:wait_notify(5)
  mp.expect(n):eq { channel = "mpod events", payload = "hello, world", pid = sender:backend_pid() }
  local none, why = listener:wait_notify(0.1)
  mp.expect(none):is_nil()
  mp.expect(why):eq("timeout")
end)

mp.test("wait_notify wakes when a notification arrives later, and others keep running", function()
  local listener <close> = server:connect()
  listener:listen("later")
  local ticks = 0
  local ticker = mp.spawn(function() while true do mp.sleep(0.01); ticks = ticks + 1 end end)
  mp.spawn(function()
    mp.sleep(0.3)
    local s <close> = server:connect()
    s:exec("NOTIFY later, 'done'")
  end)
  local t0 = mp.now()
  local n = listener:wait_notify(5)
  ticker:cancel()
  mp.expect(n.payload):eq("done")
  mp.expect(mp.now() - t0):ge(0.25)
  mp.expect(ticks):ge(10)
end)

mp.test("notifications that arrive during a query are kept for wait_notify", function()
  local listener <close> = server:connect()
  listener:listen("during")
  mp.spawn(function()
    mp.sleep(0.1)
    local s <close> = server:connect()
    s:exec("NOTIFY during, 'one'")
    s:exec("NOTIFY during, 'two'")
  end)
  listener:query("SELECT pg_sleep(0.4)")
  mp.expect(listener:wait_notify(1).payload):eq("one")
  mp.expect(listener:wait_notify(1).payload):eq("two")
  listener:unlisten("during")
end)

mp.test("a second task waiting for notifications on the same connection is a usage error", function()
  local listener <close> = server:connect()
  listener:listen("busy")
  local t = mp.spawn(function() return listener:wait_notify(1) end)
  mp.sleep(0.05)
  local err = mp.expect(function() listener:wait_notify(1) end):raises("already waiting")
  mp.expect(err.kind):eq("usage")
  t:cancel()
end)

mp.test("16 MB each way: a big parameter is flushed as the socket drains", function()
  local big = string.rep("0123456789abcdef", 1 << 20)
  local ticks = 0
  local ticker = mp.spawn(function() while true do mp.sleep(0.001); ticks = ticks + 1 end end)
  local back = db:scalar("SELECT $1::text", big)
  ticker:cancel()
  mp.expect(#back):eq(#big)
  mp.expect(back == big):truthy()
  mp.expect(db:scalar("SELECT length($1::bytea)", big .. "\0")):eq(#big + 1)
  mp.expect(ticks):gt(0)
end)

mp.test("a slow query does not stop other tasks", function()
  local ticks = 0
  local ticker = mp.spawn(function() while true do mp.sleep(0.01); ticks = ticks + 1 end end)
  db:query("SELECT pg_sleep(0.5)")
  ticker:cancel()
  mp.expect(ticks):ge(25)
end)

mp.test("queries on separate connections from spawned tasks run at once", function()
  local conns = {}
  for i = 1, 4 do conns[i] = server:connect() end
  local spans = {}
  local tasks = {}
  for i = 1, 4 do
    tasks[i] = mp.spawn(function()
      local from = mp.now()
      local pid = conns[i]:scalar("SELECT pg_backend_pid() FROM pg_sleep(1)")
      spans[i] = { from = from, to = mp.now(), pid = pid }
    end)
  end
  local seen = 0
  mp.spawn(function()
    mp.sleep(0.3)
    seen = active_with("pg_sleep(1)")
  end)
  mp.wait_all(tasks, 10)
  local latest_start, earliest_end = 0, math.huge
  for _, s in ipairs(spans) do
    latest_start = math.max(latest_start, s.from)
    earliest_end = math.min(earliest_end, s.to)
  end
  mp.expect(latest_start < earliest_end):truthy()   -- they overlapped
  mp.expect(seen):eq(4)
  for i = 1, 4 do conns[i]:close() end
end)

mp.test("tasks sharing one connection take turns in order", function()
  local c <close> = server:connect()
  local order = {}
  local tasks = {}
  local t0 = mp.now()
  for i = 1, 3 do
    tasks[i] = mp.spawn(function()
      local v = c:scalar("SELECT $1::int FROM pg_sleep(0.15)", i)
      order[#order + 1] = v
    end)
  end
  mp.expect(c:status() == "busy" or c:status() == "idle"):truthy()
  mp.wait_all(tasks, 10)
  mp.expect(order):eq { 1, 2, 3 }
  mp.expect(mp.now() - t0):ge(0.45)
  mp.expect(c:status()):eq("idle")
end)

mp.test("a query past its timeout is cancelled on the server; the connection goes on", function()
  local c <close> = server:connect({ query_timeout = 0.3 })
  mp.expect(c:timeout()):eq(0.3)
  local t0 = mp.now()
  local err = mp.expect(function() c:query("SELECT pg_sleep(30) -- timeout-marker") end)
    :raises("query timed out after 0.3 s; cancelled on the server")
  mp.expect(mp.now() - t0):lt(3)
  mp.expect(err.kind):eq("timeout")
  mp.expect(err.cancelled):eq(true)
  mp.expect(err.query):eq("SELECT pg_sleep(30) -- timeout-marker")
  mp.expect(active_with("timeout-marker")):eq(0)
  c:set_timeout(nil)
  mp.expect(c:timeout()):is_nil()
  mp.expect(c:scalar("SELECT 'after'")):eq("after")
  mp.expect(c:status()):eq("idle")
end)

mp.test("a cancelled task cancels its query on the server", function()
  local c <close> = server:connect()
  local t = mp.spawn(function() c:query("SELECT pg_sleep(30) -- cancel-marker") end)
  mp.poll_until(function() return active_with("cancel-marker") == 1 end,
    { timeout = 5, interval = 0.02, label = "query running" })
  t:cancel("enough")
  mp.expect(function() t:wait(1) end):raises("task cancelled: enough")
  mp.poll_until(function() return active_with("cancel-marker") == 0 end,
    { timeout = 2, interval = 0.02, label = "query cancelled on the server" })
  mp.expect(c:scalar("SELECT 'next'")):eq("next")
end)

mp.test("the deadline of mp.poll_until cancels an attempt's query on the server", function()
  local c <close> = server:connect()
  mp.expect(function()
    mp.poll_until(function() return c:scalar("SELECT pg_sleep(30) -- poll-marker") end,
      { timeout = 0.3, label = "slow attempt" })
  end):raises("slow attempt")
  mp.poll_until(function() return active_with("poll-marker") == 0 end,
    { timeout = 2, interval = 0.02, label = "query cancelled on the server" })
  mp.expect(c:scalar("SELECT 'next'")):eq("next")
end)

mp.test("a test timeout cancels the test's query on the server", function()
  local case = server.dir .. "/timeout_case.lua"
  local f = assert(io.open(case, "w"))
  f:write(string.format([[
local mp = require "mpod"
mp.test("sleeps too long", function()
  local db = require("mpod.pg").connect(%q)
  db:query("SELECT pg_sleep(60) -- test-timeout-marker")
end, { timeout = 1 })
]], server.dsn))
  f:close()
  local r = st.run({ case })
  mp.expect(r.code):eq(1)
  mp.expect(r.stdout):matches("timed out after 1 s")
  mp.expect(r.stdout:find(server.password, 1, true)):is_nil()
  mp.poll_until(function() return active_with("test-timeout-marker") == 0 end,
    { timeout = 3, interval = 0.05, label = "query cancelled on the server" })
end)

mp.test("waiting for one's turn counts against the timeout", function()
  local c <close> = server:connect()
  local first = mp.spawn(function() return c:scalar("SELECT 'first' FROM pg_sleep(0.5)") end)
  mp.sleep(0.05)
  c:set_timeout(0.1)
  local err = mp.expect(function() c:query("SELECT 'second'") end)
    :raises("while waiting for its turn on the connection")
  mp.expect(err.kind):eq("timeout")
  mp.expect(err.cancelled):eq(false)
  c:set_timeout(nil)
  mp.expect(first:wait(5)):eq("first")
  mp.expect(c:scalar("SELECT 'third'")):eq("third")
end)

mp.test("close, <close> and garbage collection release the server backend", function()
  local c = server:connect()
  local pid = c:backend_pid()
  mp.expect(backend_alive(pid)):truthy()
  c:close()
  c:close()
  gone(pid, "backend of a closed connection")
  local err = mp.expect(function() c:query("SELECT 1") end):raises("attempt to use a closed connection")
  mp.expect(err.kind):eq("closed")
  mp.expect(c:status()):eq("closed")
  mp.expect(tostring(c)):eq("mpod.pg.Conn (closed)")

  do
    local scoped <close> = server:connect()
    pid = scoped:backend_pid()
  end
  gone(pid, "backend of a <close> connection")

  local dropped = server:connect()
  pid = dropped:backend_pid()
  dropped = nil   -- luacheck: ignore
  collectgarbage()
  collectgarbage()
  gone(pid, "backend of a collected connection")
end)

mp.test("closing a connection under a running query fails that query and cancels it", function()
  local c = server:connect()
  local t = mp.spawn(function() c:query("SELECT pg_sleep(30) -- close-marker") end)
  mp.poll_until(function() return active_with("close-marker") == 1 end,
    { timeout = 5, interval = 0.02, label = "query running" })
  c:close()
  local err = mp.expect(function() t:wait(2) end):raises("closed while the query waited or ran")
  mp.expect(err.kind):eq("closed")
  mp.poll_until(function() return active_with("close-marker") == 0 end,
    { timeout = 3, interval = 0.05, label = "query gone from the server" })
end)

mp.test("usage errors", function()
  mp.expect(function() mp.pg.connect(42) end):raises("expects a DSN string")
  mp.expect(function() db:listen("") end):raises("expects a channel name")
  mp.expect(function() db:set_timeout(-1) end):raises("a timeout is seconds")
  mp.expect(function() db.query({}, "SELECT 1") end):raises("mpod.pg.Conn expected")
end)
