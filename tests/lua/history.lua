-- history.lua: the file's history (mp.history, docs/history.md): user ops
-- and their completions, processes, filters, usage errors, the engine's
-- own ops (HTTP against the fixture server, tests, polls), redaction,
-- the memory bounds, and the export (--history DIR, --dump-logs) of files
-- that pass, fail, and are killed by their timeout.

local mp = require "mpod"
local httpfix = require "httpfix"

local fix
mp.before_all(function() fix = httpfix.start() end)
mp.after_all(function() fix:stop() end)

-- The ops of the running test (every op carries its test's full name).
local function ops_of(test, filter)
  filter = filter or {}
  filter.test = test
  return mp.history():ops(filter)
end

mp.test("one history per file: invoke, ok, fail, info, observe", function()
  local h = mp.history()
  mp.expect(mp.history()):eq(h)
  local w = h:invoke("write", 3, { key = "x" })
  mp.expect(w.f):eq("write")
  mp.expect(w.value):eq(3)
  w:ok()
  local r = h:invoke("read", nil, { key = "x" })
  r:ok(3)
  local c = h:invoke("cas", { 1, 2 })
  c:fail(mp.null)
  local t = h:invoke("write", 4)
  t:info("timed out")
  local seen = h:observe("event", { id = 7 }, { pod = "a" })
  local ops = ops_of("one history per file: invoke, ok, fail, info, observe", { engine = false })
  mp.expect(#ops):eq(9)
  mp.expect(ops[1]):matches { type = "invoke", f = "write", value = 3, key = "x", process = 0 }
  mp.expect(ops[2]):matches { type = "ok", f = "write", value = 3, key = "x", invoke = ops[1].index }
  mp.expect(ops[4]):matches { type = "ok", f = "read", value = 3 }
  mp.expect(ops[6]):matches { type = "fail", f = "cas", value = { 1, 2 } }
  mp.expect(ops[8]):matches { type = "info", f = "write", value = 4,
                              error = { kind = "error", message = "timed out" } }
  mp.expect(ops[9]):matches { type = "ok", point = true, f = "event", value = { id = 7 }, pod = "a",
                              index = seen }
  for i = 2, #ops do
    mp.expect(ops[i].index):gt(ops[i - 1].index)
    mp.expect(ops[i].time >= ops[i - 1].time):truthy()
  end
  mp.expect(ops[1].engine):is_nil()
  mp.expect(c:completed()):eq("fail")
  mp.expect(tostring(w)):matches("^op %d+ write %(ok%)$")
end)

mp.test("an op completes once; bad arguments are usage errors", function()
  local h = mp.history()
  local op = h:invoke("add", 1)
  op:ok()
  local err = mp.expect(function() op:info() end):raises("was already completed: ok")
  mp.expect(err.kind):eq("usage")
  mp.expect(function() h:invoke(nil, 1) end):raises("the operation name f must be a non-empty string")
  mp.expect(function() h:invoke("", 1) end):raises('got ""')
  mp.expect(function() h:invoke("x", 1, 5) end):raises("options must be a table")
  mp.expect(function() h:invoke("x", 1, { process = 1.5 }) end):raises("process must be an integer or a string")
  mp.expect(function() h:ops { color = "red" } end):raises("unknown filter 'color'")
  mp.expect(function() h:set_limits { engine_ops = 0 } end):raises("engine_ops must be a whole number >= 2")
  mp.expect(function() op.ok(5) end):raises("is a method")
end)

mp.test("a value is copied when recorded; h:ops returns copies", function()
  local h = mp.history()
  local v = { items = { 1, 2 } }
  local op = h:invoke("put", v)
  v.items[3] = 3
  op:ok()
  local ops = ops_of("a value is copied when recorded; h:ops returns copies", { f = "put" })
  mp.expect(ops[1].value):eq { items = { 1, 2 } }
  ops[1].value.items[1] = 99
  mp.expect(ops_of("a value is copied when recorded; h:ops returns copies", { f = "put" })[1].value.items[1]):eq(1)
end)

mp.test("processes: 0 for the test's task, the task id for spawned ones, or given", function()
  local h = mp.history()
  local a = h:invoke("p", "main")
  local task = mp.spawn(function() return h:invoke("p", "spawned") end)
  local b = task:wait()
  local c = h:invoke("p", "given", { process = "client-1" })
  mp.expect(a.process):eq(0)
  mp.expect(b.process):eq(task:id())
  mp.expect(b.process):gt(0)
  mp.expect(c.process):eq("client-1")
  b:ok()
  local done = ops_of("processes: 0 for the test's task, the task id for spawned ones, or given",
    { f = "p", type = "ok" })
  mp.expect(done[1].process):eq(task:id())     -- a completion is its invoke's process
end)

mp.test("filters: f, type, pod, key, engine, process", function()
  local h = mp.history()
  h:invoke("k", 1, { key = "a", pod = "p1" }):ok()
  h:invoke("k", 2, { key = "b", pod = { name = "p2" } }):fail()
  local name = "filters: f, type, pod, key, engine, process"
  mp.expect(#ops_of(name, { f = "k" })):eq(4)
  mp.expect(#ops_of(name, { f = "k", key = "a" })):eq(2)
  mp.expect(#ops_of(name, { pod = "p2" })):eq(2)
  mp.expect(#ops_of(name, { type = "fail" })):eq(1)
  mp.expect(#ops_of(name, { engine = true, f = "k" })):eq(0)
  mp.expect(#ops_of(name, { process = 0, f = "k" })):eq(4)
end)

local HTTP_TEST = "HTTP requests: ok with status and redacted detail, info when refused or timed out"
mp.test(HTTP_TEST, function()
  local name = HTTP_TEST
  mp.http.get(fix.url .. "/json?token=abcdefgh", { bearer = "s3cret-bearer-value" })
  mp.http.get(fix.url .. "/status/503")
  mp.expect(function() mp.http.get("http://127.0.0.1:1/nothing") end):raises()
  mp.expect(function() mp.http.get(fix.silent_url .. "/", { timeout = 0.3 }) end):raises()
  local ops = ops_of(name, { f = "http" })
  mp.expect(#ops):eq(8)
  mp.expect(ops[1]):matches { type = "invoke", method = "GET", engine = true, process = 0 }
  mp.expect(ops[1].path):matches("^/json%?token=")
  mp.expect(ops[1].path:find("abcdefgh", 1, true)):is_nil()
  local ok = ops[2]
  mp.expect(ok):matches { type = "ok", status = 200, invoke = ops[1].index, engine = true }
  mp.expect(ok.duration):gt(0)
  mp.expect(ok.bytes):gt(0)
  mp.expect(ok.req_headers.Authorization):eq("***")
  mp.expect(ok.resp_headers["content-type"]):eq("application/json")
  mp.expect(ok.body):matches("^{")
  mp.expect(ops[4]):matches { type = "ok", status = 503 }
  mp.expect(ops[6]):matches { type = "info", error = { kind = "connect" } }   -- maybe served first
  mp.expect(ops[8]):matches { type = "info", error = { kind = "timeout" } }
end)

mp.test("pod requests carry the pod's name", function()
  local c = fix:cluster()
  c:pod("b"):get("/json")
  local ops = ops_of("pod requests carry the pod's name", { f = "http" })
  mp.expect(ops[1]):matches { type = "invoke", pod = "b", path = "/json" }
  mp.expect(ops[2]):matches { type = "ok", pod = "b", status = 200 }
end)

mp.test("SSE streams: open, events, a drop, the resume, the close", function()
  local name = "SSE streams: open, events, a drop, the resume, the close"
  local s = mp.http.sse { url = fix.url .. "/sse/drop", reconnect = true, pod = "a", path = "/sse/drop" }
  s:wait_for("drop 6", 5)
  s:close()
  local ops = {}
  for _, op in ipairs(ops_of(name, { engine = true })) do
    if op.f:match("^sse%.") then ops[#ops + 1] = op end
  end
  local open = ops[1]
  mp.expect(open):matches { type = "invoke", f = "sse.open", path = "/sse/drop", pod = "a" }
  mp.expect(ops[2]):matches { type = "ok", f = "sse.open", invoke = open.index, stream = open.stream,
                              status = 200 }
  mp.expect(ops[2].resp_headers["content-type"]):matches("^text/event%-stream")
  local events, drop, resume, close = {}, nil, nil, nil
  for _, op in ipairs(ops) do
    if op.stream == open.stream then mp.expect(op.pod):eq("a") end
    if op.f == "sse.event" then
      mp.expect(op.point):eq(true)
      events[#events + 1] = op.event_id .. "=" .. op.data
    elseif op.f == "sse.drop" and not drop then drop = op
    elseif op.f == "sse.resume" and not resume then resume = op
    elseif op.f == "sse.close" then close = op end
  end
  mp.expect(events):eq { "1=drop 1", "2=drop 2", "3=drop 3", "4=drop 4", "5=drop 5", "6=drop 6" }
  mp.expect(drop.index < resume.index):truthy()
  mp.expect(resume.last_event_id):eq("3")      -- the fixture cuts the first connection after 3
  mp.expect(close.index):eq(ops[#ops].index)
end)

mp.test("tests are ops: each test's invoke and its completion", function()
  local tests = mp.history():ops { f = "test", engine = true }
  local by_name = {}
  for _, op in ipairs(tests) do by_name[op.value .. "/" .. op.type] = op end
  local first = "one history per file: invoke, ok, fail, info, observe"
  mp.expect(by_name[first .. "/invoke"]):matches { process = 0, test = first }
  mp.expect(by_name[first .. "/ok"]):matches { invoke = by_name[first .. "/invoke"].index }
  local me = "tests are ops: each test's invoke and its completion"
  mp.expect(by_name[me .. "/invoke"]):matches { type = "invoke" }
  mp.expect(by_name[me .. "/ok"]):is_nil()       -- still running
end)

mp.test("polls are ops: poll_until ok with its attempts, consistently, a timeout fails", function()
  local name = "polls are ops: poll_until ok with its attempts, consistently, a timeout fails"
  local n = 0
  mp.poll_until(function() n = n + 1; return n >= 3 end, { interval = 0.01, label = "three tries" })
  mp.consistently(function() return true end, { duration = 0.05, interval = 0.01, label = "steady" })
  mp.expect(function()
    mp.poll_until(function() return false end, { timeout = 0.05, interval = 0.01, label = "never" })
  end):raises("timed out")
  local ops = ops_of(name, { engine = true })
  local polls = {}
  for _, op in ipairs(ops) do
    if op.f == "poll_until" or op.f == "consistently" then polls[#polls + 1] = op end
  end
  mp.expect(#polls):eq(6)
  mp.expect(polls[1]):matches { type = "invoke", f = "poll_until", value = "three tries" }
  mp.expect(polls[2]):matches { type = "ok", attempts = 3, timeout = 10 }
  mp.expect(polls[3]):matches { type = "invoke", f = "consistently", value = "steady" }
  mp.expect(polls[4]):matches { type = "ok", f = "consistently" }
  mp.expect(polls[4].attempts):ge(2)
  mp.expect(polls[6]):matches { type = "fail", value = "never", error = { kind = "timeout" } }
end)

mp.test("memory bounds: detail goes first, then the oldest engine ops, never user ops", function()
  local name = "memory bounds: detail goes first, then the oldest engine ops, never user ops"
  local h = mp.history()
  local before = h:stats()
  h:set_limits { engine_ops = 20, detail_ops = 4 }
  local user = {}
  for i = 1, 15 do
    user[#user + 1] = h:invoke("mine", i)
    mp.http.get(fix.url .. "/json")
  end
  for _, op in ipairs(user) do op:ok() end
  local s = h:stats()
  local http = ops_of(name, { f = "http", type = "ok" })
  h:set_limits { engine_ops = before.limits.engine_ops, detail_ops = before.limits.detail_ops }
  mp.expect(s.limits):eq { engine_ops = 20, detail_ops = 4 }
  mp.expect(s.engine):le(40)                    -- 10 requests, at most 20 other engine ops
  mp.expect(s.dropped_ops - before.dropped_ops):ge(10)
  mp.expect(s.dropped_detail - before.dropped_detail):ge(6)
  mp.expect(#h:ops { f = "mine" }):eq(30)       -- every user op is still there
  mp.expect(#http):eq(10)                       -- the newest 10 requests
  local with_detail = 0
  for _, op in ipairs(http) do
    if op.resp_headers then with_detail = with_detail + 1 else mp.expect(op.detail_dropped):eq(true) end
  end
  mp.expect(with_detail):eq(4)
  mp.expect(http[#http].resp_headers):truthy()  -- the newest keep theirs
  mp.expect(http[1].resp_headers):is_nil()
end)

-- Export ------------------------------------------------------------------------

local st = require "selftest"
local sys = require "mpod.sys"

-- read_jsonl(path) -> list of decoded lines; fails on a line that is not
-- one JSON object
local function read_jsonl(path)
  local f = io.open(path, "rb")
  if not f then mp.fail("no history file " .. path) end
  local ops = {}
  for line in f:lines() do
    local ok, op = pcall(mp.json.decode, line)
    if not ok or type(op) ~= "table" then mp.fail("not a JSON object: " .. line) end
    ops[#ops + 1] = op
  end
  f:close()
  return ops
end

local function by_f(ops, f, kind)
  for _, op in ipairs(ops) do
    if op.f == f and (kind == nil or op.type == kind) then return op end
  end
end

mp.test("--history DIR writes one JSON object a line, fields as in the contract", function()
  local dir = assert(sys.mkdtemp("mpod-history-test"))
  local r = st.run { "--history", dir .. "/h", st.case("history_export") }
  st.expect_code(r, 1)
  local ops = read_jsonl(dir .. "/h/tests__cases__history_export.jsonl")
  for i, op in ipairs(ops) do
    mp.expect(op.index):eq(i - 1)                      -- every op, in index order
    mp.expect(op.time):type("number")
    mp.expect(op.type == "invoke" or op.type == "ok" or op.type == "fail" or op.type == "info"):truthy()
    mp.expect(op.f):type("string")
  end
  local w = by_f(ops, "write", "invoke")
  mp.expect(w):matches { process = 0, key = "k1", test = "writes" }
  mp.expect(w.value.password):eq("***")
  mp.expect(by_f(ops, "write", "ok").invoke):eq(w.index)
  mp.expect(by_f(ops, "read", "ok")):matches { value = 1, process = "reader" }
  mp.expect(by_f(ops, "seen").unencodable):eq { "value" }
  local refused = by_f(ops, "http", "info")
  mp.expect(refused):matches { engine = true, error = { kind = "connect" } }
  mp.expect(by_f(ops, "http", "invoke").path:find("abcdefghij", 1, true)):is_nil()
  mp.expect(by_f(ops, "add", "info").error):eq { kind = "error", message = "lost" }
  local tests = {}
  for _, op in ipairs(ops) do
    if op.f == "test" and op.type ~= "invoke" then tests[op.value] = op end
  end
  mp.expect(tests.writes.type):eq("ok")
  mp.expect(tests.fails):matches { type = "fail", error = { kind = "fail", message = "on purpose" } }
  mp.expect(tests.fails.at):matches("history_export%.lua:%d+$")
  mp.expect(tests.skipped):matches { type = "info", error = { kind = "skip", message = "not today" } }
  sys.rmtree(dir)
end)

mp.test("a failing file's history goes to --dump-logs; a passing file's does not", function()
  local dir = assert(sys.mkdtemp("mpod-history-test"))
  local r = st.run { "--dump-logs", dir, st.case("history_export"), st.case("hooks") }
  st.expect_code(r, 1)
  mp.expect(#read_jsonl(dir .. "/tests__cases__history_export.jsonl")):gt(5)
  mp.expect(sys.stat(dir .. "/tests__cases__hooks.jsonl")):is_nil()
  sys.rmtree(dir)
end)

mp.test("a file killed by its timeout leaves the ops it recorded", function()
  local dir = assert(sys.mkdtemp("mpod-history-test"))
  local r = st.run { "--history", dir, "--timeout", "2", st.case("history_killed") }
  st.expect_code(r, 1)
  mp.expect(r.stdout):contains("ran past its 2 s timeout")
  local ops = read_jsonl(dir .. "/tests__cases__history_killed.jsonl")
  local steps = 0
  for _, op in ipairs(ops) do
    if op.f == "step" and op.type == "ok" then steps = steps + 1 end
  end
  mp.expect(steps):eq(3)
  local forever = by_f(ops, "forever")
  mp.expect(forever.type):eq("invoke")                -- open: the file died during it
  mp.expect(by_f(ops, "test", "invoke").value):eq("hangs")
  mp.expect(by_f(ops, "test", "ok")):is_nil()
  sys.rmtree(dir)
end)

mp.test("pod control, a refused partition and c:heal() are ops", function()
  local procs = require "procs"
  local dir = assert(sys.mkdtemp("mpod-history-test"))
  local e = procs.env()
  e.MPOD_STATE_DIR = dir .. "/state"
  local r = st.run({ "--up", "-C", "tests/clusters/procs.lua", "--history", dir,
                     st.case("history_control") }, { env = e })
  st.expect_code(r, 0)
  local ops = {}
  for _, op in ipairs(read_jsonl(dir .. "/tests__cases__history_control.jsonl")) do
    if op.f:match("^pod%.") or op.f:match("^fault%.") then ops[#ops + 1] = op.f .. " " .. op.type end
  end
  mp.expect(ops):eq { "pod.kill invoke", "pod.kill ok", "pod.start invoke", "pod.start ok",
    "pod.pause invoke", "pod.pause ok", "pod.unpause invoke", "pod.unpause ok",
    "fault.add invoke", "fault.add fail", "pod.heal invoke", "pod.heal ok" }
  local all = read_jsonl(dir .. "/tests__cases__history_control.jsonl")
  local kill = by_f(all, "pod.kill", "invoke")
  mp.expect(kill):matches { pod = "worker", value = { signal = "KILL" }, engine = true, process = 0 }
  mp.expect(by_f(all, "pod.kill", "ok").invoke):eq(kill.index)
  mp.expect(by_f(all, "fault.add", "invoke")):matches { fault = 1,
    value = { kind = "partition", a = { "a" }, b = { "b" }, pods = { "a", "b" } } }
  mp.expect(by_f(all, "fault.add", "fail").error.kind):eq("unsupported")
  sys.rmtree(dir)
end)

mp.test("Toxiproxy faults: fault.add and fault.remove with one id per fault", function()
  local procs = require "procs"
  local build = os.getenv("BUILD") or "build"
  if not sys.stat(build .. "/toxiproxy/toxiproxy-server") then
    local r = mp.exec({ "make", "--no-print-directory", "BUILD=" .. build, "toxiproxy" }, { timeout = 900 })
    if r.code ~= 0 then error("make toxiproxy failed: " .. r.stderr) end
  end
  local dir = assert(sys.mkdtemp("mpod-history-test"))
  local e = procs.env()
  e.MPOD_STATE_DIR = dir .. "/state"
  e.PORT_P = tostring(sys.free_port())
  e.PORT_T = tostring(sys.free_port())
  local r = st.run({ "--up", "-C", "tests/clusters/faults.lua", "--history", dir,
                     st.case("history_faults") }, { env = e })
  st.expect_code(r, 0)
  local seen = {}
  for _, op in ipairs(read_jsonl(dir .. "/tests__cases__history_faults.jsonl")) do
    if op.f:match("^fault%.") and op.type ~= "invoke" then
      mp.expect(op.type):eq("ok")
      seen[#seen + 1] = string.format("%s %d %s", op.f, op.fault, op.value.kind)
    end
  end
  mp.expect(seen):eq { "fault.add 1 latency", "fault.remove 1 latency", "fault.add 2 down",
    "fault.remove 2 down", "fault.add 3 latency", "fault.add 4 timeout", "fault.remove 4 timeout" }
  local all = read_jsonl(dir .. "/tests__cases__history_faults.jsonl")
  mp.expect(by_f(all, "fault.add", "invoke").value):eq { kind = "latency", proxy = "web", ms = 100 }
  sys.rmtree(dir)
end)

mp.test("Postgres queries are ops: ok with rows and count, fail on an SQL error", function()
  local name = "Postgres queries are ops: ok with rows and count, fail on an SQL error"
  local pgfix = require "pgfixture"
  local server = pgfix.start()
  local ok, err = pcall(function()
    local db = server:connect()
    db:query("SELECT 1 AS a UNION ALL SELECT 2")
    db:exec("CREATE TEMP TABLE t (x int)")
    db:exec("INSERT INTO t VALUES ($1), ($2)", 1, 2)
    mp.expect(function() db:query("SELEKT") end):raises()
    db:close()
  end)
  server:destroy()
  if not ok then error(err, 0) end
  local ops = ops_of(name, { engine = true })
  local q = {}
  for _, op in ipairs(ops) do
    if op.f == "pg.query" then q[#q + 1] = op end
  end
  mp.expect(q[1]):matches { type = "invoke", value = "SELECT 1 AS a UNION ALL SELECT 2" }
  mp.expect(q[2]):matches { type = "ok", rows = 2, invoke = q[1].index }
  mp.expect(q[6]):matches { type = "ok", count = 2 }
  mp.expect(q[5].value):eq("INSERT INTO t VALUES ($1), ($2)")
  mp.expect(q[8]):matches { type = "fail", value = "SELEKT", error = { kind = "sql" } }
end)

mp.test("a request's line in the history file and its op in memory agree", function()
  local history = require "mpod.scenario.history"
  local dir = assert(sys.mkdtemp("mpod-history-test"))
  local h = history.new { file = dir .. "/h.jsonl" }
  local lines = { "Authorization: Bearer s3cret-token-xyz", "X-Dup: 1", "X-Dup: 2", "Empty;", "Accept:" }
  local responses = {
    mp.http.get(fix.url .. "/headers/repeat"),
    mp.http.get(fix.url .. "/json?api_key=abcdefghijk"),
    { status = 200, time = 0.01, body = "\0\1 binary",
      head = "HTTP/1.1 200 OK\r\nA: 1\r\n  folded\r\nB: x\r\nb: y\r\nSet-Cookie: sid=zzzzzzzz\r\n\r\n" },
    { status = 201, time = 0.02, body = "a" .. string.rep("\u{e9}", 200), head = "HTTP/1.1 201 Created\r\n\r\n" },
  }
  for i, res in ipairs(responses) do
    local seq = h:_http_invoke("POST", "/r/" .. i .. "?token=abcdefghijk", i % 2 == 0 and "b" or nil)
    h:_http_done(seq, res, lines)
  end
  h:_http_error(h:_http_invoke("GET", "/x", "c"), { kind = "connect", message = "refused \"here\"" })
  local rows, count = h:_pg_query(function() return { { a = 1 }, { a = 2 } }, 2 end, nil, "SELECT 'é'")
  mp.expect(#rows):eq(2)
  mp.expect(count):eq(2)
  local sql_error = require("mpod.error").new("sql", "syntax error at \"SELEKT\"")
  mp.expect(function() h:_pg_query(function() error(sql_error, 0) end, nil, "SELEKT") end):raises("syntax")
  h:_close_file()
  local exported = read_jsonl(dir .. "/h.jsonl")
  local memory = h:ops()
  mp.expect(#exported):eq(14)
  mp.expect(#memory):eq(14)
  for i, op in ipairs(memory) do
    local line = exported[i]
    mp.expect(line.time):near(op.time, 2e-6)
    if op.duration then mp.expect(line.duration):near(op.duration, 2e-6) end
    line.time, op.time, line.duration, op.duration = nil, nil, nil, nil
    mp.expect(line):eq(op)
  end
  mp.expect(memory[2].req_headers):eq { Authorization = "***", ["X-Dup"] = "2", Empty = "", Accept = "" }
  mp.expect(memory[1].path):eq("/r/1?token=***")
  mp.expect(memory[6].resp_headers):eq { a = "1 folded", b = "x, y", ["set-cookie"] = "***" }
  mp.expect(memory[6].body):eq("<9 bytes of binary data>")
  mp.expect(#memory[8].body):eq(255)               -- the cut split an é: left out
  mp.expect(memory[10]):matches { type = "info", error = { kind = "connect", message = 'refused "here"' } }
  mp.expect(memory[11]):matches { f = "pg.query", type = "invoke", value = "SELECT 'é'" }
  mp.expect(memory[12]):matches { f = "pg.query", type = "ok", value = "SELECT 'é'", rows = 2, count = 2 }
  mp.expect(memory[14]):matches { f = "pg.query", type = "fail", error = { kind = "sql" } }
  sys.rmtree(dir)
end)

mp.test("--history needs a folder it can make", function()
  local r = st.run { "--history", "/proc/no/such/dir", st.case("hooks") }
  st.expect_code(r, 2)
  mp.expect(r.stderr):contains("--history")
end)

mp.test("history file names: the path with / as __, without .lua", function()
  local histories = require "mpod.runner.histories"
  mp.expect(histories.slug("scenarios/chaos-meshd.lua")):eq("scenarios__chaos-meshd")
  mp.expect(histories.slug("./login.lua")):eq("login")
  mp.expect(histories.slug("/abs/x.lua")):eq("__abs__x")
  mp.expect(histories.slug("noext")):eq("noext")
end)

mp.test("a file given twice in a run gets a history file of its own each time", function()
  local out = assert(sys.mkdtemp("mpod-history-twice"))
  local r = st.run { "--history", out, st.case("passing"), st.case("passing") }
  st.expect_code(r, 0)
  mp.expect(sys.stat(out .. "/tests__cases__passing.jsonl")):truthy()
  mp.expect(sys.stat(out .. "/tests__cases__passing-2.jsonl")):truthy()
  sys.rmtree(out)
end)
