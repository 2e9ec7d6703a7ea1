-- bad_inputs.lua: every bad input a scenario author or an environment can
-- produce, fed to mpod-lua: syntax errors, errors that are tables, code
-- that never ends, os.exit, unknown and unreachable pods, a stopped
-- Postgres, a missing Docker socket, malformed cluster files, huge outputs
-- and bytes that are not UTF-8. Each test checks the exact message the user
-- sees and that the rest of the run still reports (the file after it runs,
-- the closing line counts it), and that TAP and JUnit stay well-formed.

local mp = require "mpod"
local httpfix = require "httpfix"
local procs = require "procs"
local st = require "selftest"
local sys = require "mpod.sys"

local dir

mp.before_all(function() dir = assert(sys.mkdtemp("mpod-bad")) end)
mp.after_all(function() sys.rmtree(dir) end)

-- run(args [, opts]) -> result of mpod-lua with --seed 1 and args, where
-- the case files of tests/cases/ are named without folder and .lua
local function run(args, opts)
  local argv = { "--seed", "1" }
  for _, a in ipairs(args) do
    argv[#argv + 1] = a:match("^[%w_]+$") and sys.stat(st.case(a)) and st.case(a) or a
  end
  return st.run(argv, opts)
end

-- lines(text, pattern) -> the lines of text matching a Lua pattern
local function lines_matching(text, pattern)
  local found = {}
  for _, line in ipairs(st.lines(text)) do
    if line:match(pattern) then found[#found + 1] = line end
  end
  return found
end

-- expect_pattern_line(text, pattern): a whole line of text matches pattern
local function expect_pattern_line(text, pattern)
  if #lines_matching(text, "^" .. pattern .. "$") == 0 then
    mp.fail("no line matches " .. pattern .. "\n--- output was:\n" .. text)
  end
end

-- passing_after(r, n, passed, failed [, skipped]): passing.lua ran as file
-- n, the last, and the closing line has the counts
local function passing_after(r, n, passed, failed, skipped)
  st.expect_line(r.stdout, "ok " .. n .. " - tests/cases/passing.lua")
  st.expect_line(r.stdout, "1.." .. n)
  mp.expect(r.stderr):contains(string.format("mpod-lua: %d passed, %d failed, %d skipped",
    passed, failed, skipped or 0))
end

-- Scenario files ------------------------------------------------------------------

mp.test("syntax errors: an unfinished string, a helper that does not parse, a binary chunk, a folder; an empty file", function()
  local r = run { "bad_unterminated", "bad_require", "bad_binary", "tests/cases/lib", "bad_empty", "passing" }
  st.expect_code(r, 1)
  st.expect_line(r.stdout, "not ok 1 - tests/cases/bad_unterminated.lua")
  st.expect_line(r.stdout, [[  message: "syntax error: unfinished string near '\"unterminated) end)'"]])
  st.expect_line(r.stdout, [[  at: "tests/cases/bad_unterminated.lua:3"]])
  st.expect_line(r.stdout, "not ok 2 - tests/cases/bad_require.lua")
  st.expect_line(r.stdout, "    error while loading: error loading module 'bad_syntax_lib' from file " ..
    "'tests/cases/lib/bad_syntax_lib.lua':")
  st.expect_line(r.stdout, "    \ttests/cases/lib/bad_syntax_lib.lua:3: <name> or '...' expected near 'return'")
  st.expect_line(r.stdout, [[  at: "tests/cases/bad_require.lua:3"]])
  st.expect_line(r.stdout, "not ok 3 - tests/cases/bad_binary.lua")
  st.expect_line(r.stdout, [[  message: "not Lua source: a precompiled (binary) chunk; scenario files are loaded as text"]])
  st.expect_line(r.stdout, "not ok 4 - tests/cases/lib")
  st.expect_line(r.stdout, [[  message: "cannot open the scenario file: tests/cases/lib: Is a directory"]])
  st.expect_line(r.stdout, "ok 5 - tests/cases/bad_empty.lua # SKIP the file has no tests")
  passing_after(r, 6, 2, 4, 1)              -- the empty file counts as one skip
end)

mp.test("errors that are tables, with and without a message, and values that are not strings", function()
  local r = run { "bad_errors", "passing" }
  st.expect_code(r, 1)
  local want = {
    { "a table with a message", [[message: "boom"]] },
    { "a table without a message", [[message: "error raised with a table value: {code = 5, detail = \"x\"}"]] },
    { "a table whose message is a table", [[message: "error raised with a table value: {message = {nested = true}}"]] },
    { "an empty table", [[message: "error raised with a table value: {}"]] },
    { "__tostring that raises", [[message: "error raised with a table value: <unprintable>"]] },
    { "__tostring that returns a number", [[message: "error raised with a table value: 42"]] },
    { "a boolean", [[message: "error raised with a boolean value: false"]] },
    { "a table raised inside pcall and raised again", [[message: "inner"]] },
  }
  for i, w in ipairs(want) do
    local number = ({ 1, 2, 3, 4, 5, 6, 8, 10 })[i]
    st.expect_line(r.stdout, string.format("    not ok %d - %s", number, w[1]))
    st.expect_line(r.stdout, "      " .. w[2])
  end
  st.expect_line(r.stdout, "      code: 7")
  expect_pattern_line(r.stdout, [[      message: "error raised with a function value: function: [%w: ]*0x%x+"]])
  expect_pattern_line(r.stdout, [[      message: "error raised with a thread value: thread: 0x%x+"]])
  st.expect_line(r.stdout, "    ok 11 - the run goes on")
  passing_after(r, 2, 3, 10)
end)

mp.test("error values whose metamethods raise are reported like any other; keys that are not strings are kept", function()
  local r = run { "bad_hostile_errors", "passing" }
  st.expect_code(r, 1)
  local want = {
    { "__index, __pairs, __len, __eq, __concat raise", [[message: "error raised with a table value: {code = 5}"]] },
    { "a list whose __len raises", [[message: "error raised with a table value: {\"a\", \"b\"}"]] },
    { "a protected metatable", [[message: "error raised with a table value: {code = 6}"]] },
    { "a metatable protected by a table that raises", [[message: "error raised with a table value: {code = 7}"]] },
    { "__name that is not a string", [[message: "error raised with a table value: {}"]] },
    { "__tostring that yields", [[message: "error raised with a table value: <unprintable>"]] },
    { "a message field whose __tostring raises", [[message: "error raised with a table value: {message = <unprintable>}"]] },
    { "an mpod error with a hostile field", [[rows: "{1}"]] },
  }
  for i, w in ipairs(want) do
    st.expect_line(r.stdout, string.format("    not ok %d - %s", i, w[1]))
    st.expect_line(r.stdout, "      " .. w[2])
  end
  mp.expect(r.stdout):contains(table.concat({
    [[      message: "mixed keys"]], [[      kind: "error"]],
    [[      at: "tests/cases/bad_hostile_errors.lua:30"]], [[      "1": "text"]],
    [[      "[1]": "one"]], [[      "[2.5]": "half"]], [[      "[true]": "yes"]] }, "\n"))
  mp.expect(r.stdout):contains(table.concat({
    [[      message: "numbered"]], [[      kind: "data"]],
    [[      at: "tests/cases/bad_hostile_errors.lua:33"]],
    [[      "[1]": "first"]], [[      "[false]": "no"]] }, "\n"))
  st.expect_line(r.stdout, "    ok 11 - the run goes on")
  passing_after(r, 2, 3, 10)
end)

mp.test("code that never ends: a loop that swallows errors, a looping hook, endless recursion", function()
  local r = run({ "-t", "60", "bad_loops", "passing" }, { timeout = 120 })
  st.expect_line(r.stdout, "    not ok 1 - a hook that loops > never starts")
  st.expect_line(r.stdout, [[      message: "test timed out after 0.3 s: time limit reached while running Lua code without waiting (a busy loop?)"]])
  st.expect_line(r.stdout, [[      at: "tests/cases/bad_loops.lua:6"]])
  st.expect_line(r.stdout, "    not ok 2 - a loop that swallows every error")
  st.expect_line(r.stdout, [[      at: "tests/cases/bad_loops.lua:10"]])
  st.expect_line(r.stdout, "    not ok 3 - endless recursion")
  st.expect_line(r.stdout, [[      message: "stack overflow"]])
  st.expect_line(r.stdout, [[      at: "tests/cases/bad_loops.lua:13"]])
  st.expect_line(r.stdout, "    ok 4 - the run goes on")
  passing_after(r, 2, 3, 3)
end, { timeout = 150 })

mp.test("code that never ends: a top level that loops, a C call that never returns", function()
  local t0 = mp.now()
  local r = run({ "--test-timeout", "1", "-t", "3", "bad_loop_load", "bad_c_loop", "passing" }, { timeout = 60 })
  mp.expect(mp.now() - t0):lt(30)
  st.expect_line(r.stdout, "not ok 1 - tests/cases/bad_loop_load.lua")
  st.expect_line(r.stdout, [[  message: "error while loading: loading the file timed out after 1 s: time limit reached while running Lua code without waiting (a busy loop?)"]])
  st.expect_line(r.stdout, [[  at: "tests/cases/bad_loop_load.lua:4"]])
  st.expect_line(r.stdout, "    not ok 1 - stuck in string.find")
  st.expect_line(r.stdout, [[      message: "the file ran past its 3 s timeout and was killed (during this test)"]])
  mp.expect(st.has_line(r.stdout, "    ok 2 - never runs")):falsy()
  passing_after(r, 3, 2, 2)
end, { timeout = 90 })

mp.test("os.exit while the file loads and from a spawned task", function()
  local r = run { "bad_exit_load", "bad_exit_task", "passing" }
  st.expect_line(r.stdout, "not ok 1 - tests/cases/bad_exit_load.lua")
  st.expect_line(r.stdout, [[  message: "os.exit(0) was called; the tests after it did not run"]])
  st.expect_line(r.stdout, [[  at: "tests/cases/bad_exit_load.lua:4"]])
  st.expect_line(r.stdout, "    ok 1 - before")
  st.expect_line(r.stdout, "    not ok 2 - a task calls os.exit(true)")
  st.expect_line(r.stdout, [[      message: "os.exit(0) was called; the tests after it did not run (during this test)"]])
  st.expect_line(r.stdout, [[      at: "tests/cases/bad_exit_task.lua:5"]])
  mp.expect(st.has_line(r.stdout, "    ok 3 - never runs")):falsy()
  passing_after(r, 3, 3, 2)
end)

mp.test("os.exit with a fraction or a table raises as in Lua; a numeric string is its number", function()
  local r = run { "bad_exit_code", "passing" }
  st.expect_line(r.stdout, "    not ok 1 - a fraction is refused")
  st.expect_line(r.stdout, [[      message: "bad argument #1 to 'os.exit' (number has no integer representation)"]])
  st.expect_line(r.stdout, [[      at: "tests/cases/bad_exit_code.lua:5"]])
  st.expect_line(r.stdout, "    not ok 2 - a table is refused")
  st.expect_line(r.stdout, [[      message: "bad argument #1 to 'os.exit' (number expected, got table)"]])
  st.expect_line(r.stdout, "    not ok 3 - a numeric string is its number")
  st.expect_line(r.stdout, [[      message: "os.exit(7) was called; the tests after it did not run (during this test)"]])
  mp.expect(st.has_line(r.stdout, "    ok 4 - never runs")):falsy()
  passing_after(r, 2, 2, 3)
end)

mp.test("mp.exclusive() inside a test or a hook is a usage error naming the line", function()
  local r = run { "bad_exclusive", "passing" }
  local message = "mp.exclusive must be called while the file loads, not inside a test"
  st.expect_line(r.stdout, "    not ok 1 - asks to run alone too late")
  st.expect_line(r.stdout, [[      message: "]] .. message .. [["]])
  st.expect_line(r.stdout, [[      at: "tests/cases/bad_exclusive.lua:5"]])
  st.expect_line(r.stdout, "    not ok 2 - a block > its test")
  st.expect_line(r.stdout, [[      message: "before_all hook failed: ]] .. message .. [["]])
  st.expect_line(r.stdout, [[      at: "tests/cases/bad_exclusive.lua:8"]])
  st.expect_line(r.stdout, "    ok 3 - after")
  passing_after(r, 2, 3, 2)
end)

mp.test("every misuse of the scenario API is a usage error naming the line of the mistake", function()
  local r = run { "bad_usage", "passing" }
  local misuses = {
    { "a test without a name", "a test needs a name (string)", 11 },
    { "a test whose body is not a function", "test 'x': the body must be a function", 12 },
    { "a test whose options are not a table", "test 'x': options must be a table", 13 },
    { "a test without a body", "test 'x' has no body", 14 },
    { "a block without a function", "mp.describe(name, fn) needs a name and a function", 15 },
    { "a hook that is not a function", "mp.before_each expects a function", 16 },
    { "a test registered inside a test", "mp.test must be called while the file loads, not inside a test", 19 },
    { "mp.spawn without a function", "mp.spawn expects a function, got number", 23 },
    { "mp.exec without a command", "mp.exec expects a list of arguments or a command string", 27 },
  }
  for i, m in ipairs(misuses) do
    mp.expect(r.stdout):contains(table.concat({
      string.format("    not ok %d - %s", i, m[1]), "      ---",
      string.format("      message: %q", m[2]), [[      kind: "usage"]],
      string.format([[      at: "tests/cases/bad_usage.lua:%d"]], m[3]),
    }, "\n"))
  end
  passing_after(r, 2, 2, 9)
end)

-- Pods, Postgres, Docker -----------------------------------------------------------

mp.test("pods and databases that are not there: unknown, refused, silent, a stopped Postgres", function()
  local fix = httpfix.start()
  local refused = tostring(sys.free_port())
  local e = procs.env()
  e.PORT_UP, e.PORT_REFUSED, e.PORT_SILENT = tostring(fix.port), refused, tostring(fix.silent_port)
  e.BAD_PG_DSN = "postgresql://postgres@127.0.0.1:" .. refused .. "/postgres"
  local r = run({ "-C", "tests/clusters/bad_pods.lua", "bad_pods", "passing" }, { env = e })
  fix:stop()
  local cluster = "bad-pods-" .. e.TAG
  st.expect_line(r.stdout, "    not ok 1 - an unknown pod")
  st.expect_line(r.stdout, [[      message: "no pod named 'nope' in cluster ]] .. cluster ..
    [[ (known: refused, silent, up)"]])
  st.expect_line(r.stdout, "    not ok 2 - a pod that refuses connections")
  expect_pattern_line(r.stdout, [[      message: "GET /health on refused: Failed to connect to 127%.0%.0%.1 port ]] ..
    refused .. [[ after %d+ ms: Couldn't connect to server %(Connection refused%)"]])
  st.expect_line(r.stdout, [[      kind: "connect"]])
  st.expect_line(r.stdout, "    not ok 3 - a pod that never answers")
  expect_pattern_line(r.stdout, [[      message: "GET /health on silent: Operation timed out after %d+ milliseconds with 0 bytes received"]])
  st.expect_line(r.stdout, [[      kind: "timeout"]])
  local pg = [[      message: "could not connect to Postgres: connection to server at \"127.0.0.1\", port ]] ..
    refused .. [[ failed: Connection refused Is the server running on that host and accepting TCP/IP connections?"]]
  st.expect_line(r.stdout, "    not ok 4 - a stopped Postgres through c:db()")
  st.expect_line(r.stdout, "    not ok 5 - a stopped Postgres through mp.pg.connect")
  mp.expect(#lines_matching(r.stdout, "^" .. pg:gsub("%p", "%%%0") .. "$")):eq(2)
  st.expect_line(r.stdout, "    ok 6 - the run goes on")
  passing_after(r, 2, 3, 5)
end)

mp.test("a missing Docker socket: --up and attach say where they looked", function()
  local e = procs.env()
  e.MPOD_STATE_DIR = dir
  e.DOCKER_HOST = "unix:///nonexistent"
  local why = "cannot reach the Docker Engine at unix:///nonexistent: no such socket " ..
    "(is Docker running? DOCKER_HOST chooses another engine)"
  local up = run({ "--up", "-C", "tests/clusters/docker.lua", "passing" }, { env = e })
  st.expect_code(up, 3)
  st.expect_line(up.stdout, "Bail out! cluster dselftest-" .. e.TAG .. " could not be brought up: " .. why)
  mp.expect(up.stderr):contains("mpod-lua: 0 passed, 0 failed, 0 skipped")
  local attach = run({ "-C", "tests/clusters/docker.lua", "passing" }, { env = e })
  st.expect_code(attach, 3)
  st.expect_line(attach.stdout, "Bail out! cluster dselftest-" .. e.TAG .. " cannot be reached: " .. why)
  mp.expect(sys.glob(dir .. "/dselftest-" .. e.TAG .. ".*")):eq {}
end)

-- Cluster files ---------------------------------------------------------------------

mp.test("malformed cluster files stop the run with exit 2 and name the file and field", function()
  local cases = {
    bad_syntax = "cannot load: tests/clusters/bad_syntax.lua:3: unexpected symbol near <eof>",
    bad_not_table = "must return a table, not a string",
    bad_field = "unknown field 'servces' (known: backend, compose, http, log_limit, name, postgres, " ..
      "proxies, ready_timeout, services, toxiproxy)",
    bad_cycle = "services depend on each other in a cycle: a -> b -> a",
    bad_headers = ".http.headers: must map header names to strings",
    bad_self = ".http.again: a table that holds itself",
    bad_loop = "did not finish within 5 s (an endless loop?)",
    missing = "no such cluster file",
  }
  for name, message in pairs(cases) do
    local path = "tests/clusters/" .. name .. ".lua"
    local r = run { "-C", path, "passing" }
    st.expect_code(r, 2)
    local sep = message:sub(1, 1) == "." and "" or ": "
    st.expect_line(r.stdout, "Bail out! " .. path .. sep .. message)
    st.expect_line(r.stderr, "mpod-lua: " .. path .. sep .. message)
    mp.expect(r.stderr):contains("mpod-lua: 0 passed, 0 failed, 0 skipped")
  end
end, { timeout = 120 })

-- Huge outputs ----------------------------------------------------------------------

mp.test("huge outputs: megabytes of notes, an 8 MB message, a huge table; TAP and JUnit stay bounded", function()
  local junit = dir .. "/huge.xml"
  -- 40,000 notes are CPU work that never waits: under valgrind (a time
  -- scale of 10) they took longer than the default 60 s test timeout
  local r = run({ "--junit", junit, "--test-timeout", tostring(st.slow(60)),
                  "bad_huge_output", "passing" }, { timeout = 240 })
  st.expect_line(r.stdout, "    # (notes past 1 MiB in this file are left out)")
  st.expect_line(r.stdout, "    ok 1 - prints megabytes of notes")
  st.expect_line(r.stdout, "    ok 2 - one note of 4 MB")
  st.expect_line(r.stdout, "    not ok 3 - a huge error message")
  -- cut where the scenario process sends it: 16 KiB with the suffix, and
  -- the count is of the 8 MiB left out
  local es, more = r.stdout:match('\n      message: "(e+) %.%.%. %((%d+) more bytes%)"\n')
  mp.expect(es):type("string")
  mp.expect(#es + tonumber(more)):eq(8 * 1024 * 1024)
  mp.expect(#es + #(" ... (" .. more .. " more bytes)")):le(16384)
  st.expect_line(r.stdout, "    not ok 4 - a huge diagnostic table")
  st.expect_line(r.stdout, [[      message: "huge table"]])
  st.expect_line(r.stdout, "    ok 5 - still reports")
  passing_after(r, 2, 5, 2)
  mp.expect(#r.stdout):lt(1200 * 1024)                   -- 1 MiB of notes and a little
  for _, line in ipairs(st.lines(r.stdout)) do
    if #line > 17 * 1024 then mp.fail("a TAP line of " .. #line .. " bytes") end
  end
  local path = dir .. "/huge.tap"
  local f = assert(io.open(path, "w"))
  f:write(r.stdout)
  f:close()
  local p = mp.exec { "prove", "--exec", "cat", path }
  mp.expect(p.stdout:find("Parse errors", 1, true)):is_nil()
  mp.expect(p.stdout):contains("Failed 1/2 subtests")
  mp.expect(sys.stat(junit).size):lt(1200 * 1024)
  local x = mp.exec { "xmllint", "--noout", junit }
  if x.code ~= 0 then mp.fail("the JUnit file is not well-formed XML:\n" .. x.stderr) end
end, { timeout = 300 })

-- cut_line(text, prefix) -> the kept start's length and the count of the
-- " ... (N more bytes)" that ends the line starting with prefix, or fails
local function cut_line(text, prefix, closing)
  for _, line in ipairs(st.lines(text)) do
    if line:sub(1, #prefix) == prefix then
      local kept, more = line:sub(#prefix + 1):match("^(.-) %.%.%. %((%d+) more bytes%)" ..
        (closing or "") .. "$")
      if kept then return #kept, tonumber(more), #line end
    end
  end
  mp.fail("no cut line starts with " .. prefix)
end

mp.test("strings of 64 MiB (note, message, field, key, name, reason) are cut where they are sent; the file goes on", function()
  local HUGE = 64 << 20
  local t0 = mp.now()
  -- the file timeout is what the run took when a 64 MiB line broke the
  -- channel (the file hung until it); it now takes seconds
  local r = run({ "-t", tostring(st.slow(60)), "bad_huge_messages", "passing" }, { timeout = 240 })
  local took = mp.now() - t0
  st.expect_code(r, 1)
  mp.expect(r.stdout:find("timeout", 1, true)):is_nil()
  mp.expect(took):lt(st.slow(50))
  local kept, more, len = cut_line(r.stdout, "    # ")
  mp.expect(kept + more):eq(HUGE)
  mp.expect(len - 6):le(16384)
  st.expect_line(r.stdout, "    ok 1 - a note of 64 MiB")
  st.expect_line(r.stdout, "    not ok 2 - an error message of 64 MiB")
  kept, more, len = cut_line(r.stdout, '      message: "', '"')
  mp.expect(kept + more):eq(HUGE)
  mp.expect(len):le(16384 + #'      message: ""')
  kept, more = cut_line(r.stdout, '      rows: "', '"')
  mp.expect(kept + more):eq(HUGE)
  kept, more = cut_line(r.stdout, '      "', '": 1')
  mp.expect(kept + more):eq(HUGE)
  mp.expect(kept):le(256)
  kept, more, len = cut_line(r.stdout, "    ok 4 - a test name of 64 MiB: ")
  mp.expect(kept + more + #"a test name of 64 MiB: "):eq(HUGE + #"a test name of 64 MiB: ")
  mp.expect(len - #"    ok 4 - "):le(1024)
  kept, more = cut_line(r.stdout, "    ok 5 - a SKIP reason of 64 MiB # SKIP ")
  mp.expect(kept + more):eq(HUGE)
  st.expect_line(r.stdout, "    # (notes past 1 MiB in this file are left out)")
  st.expect_line(r.stdout, "    ok 6 - a multi-line note of 3 MiB")
  st.expect_line(r.stdout, "    ok 7 - still reports")
  passing_after(r, 2, 6, 2, 1)
end, { timeout = st.slow(100) })

mp.test("a broken channel (a line over 16 MiB, not JSON, not an object) fails the file at once, saying so", function()
  local cases = {
    long = "a message longer than 16 MiB",
    garbage = "a message that is not a JSON object: not json at all",
    list = "a message that is not a JSON object: [1, 2, 3]",
  }
  for how, problem in pairs(cases) do
    local t0 = mp.now()
    local r = run({ "-t", tostring(st.slow(60)), "bad_channel", "passing" },
                  { env = { BAD_CHANNEL = how }, timeout = 240 })
    mp.expect(mp.now() - t0):lt(st.slow(30))      -- not the file's 60 s timeout
    st.expect_line(r.stdout, "    ok 1 - before the break")
    st.expect_line(r.stdout, "    not ok 2 - writes past the protocol")
    st.expect_line(r.stdout, string.format([[      message: "the channel from the scenario ]] ..
      [[process broke (%s); the file was stopped (during this test)"]], problem))
    st.expect_line(r.stdout, [[      kind: "protocol"]])
    mp.expect(r.stdout:find("never runs", 1, true)):is_nil()
    passing_after(r, 2, 3, 1)
  end
end, { timeout = st.slow(100) })

-- Bytes that are not UTF-8 ------------------------------------------------------------

mp.test("bytes that are not UTF-8 in names, notes, errors, reasons, bodies and paths", function()
  local fix = httpfix.start()
  local odd = dir .. "/odd\xffname.lua"
  assert(mp.exec({ "cp", st.case("passing"), odd }).code == 0)
  local junit = dir .. "/utf8.xml"
  local r = run({ "--junit", junit, "bad_utf8", odd, "passing" }, { env = { BAD_HTTP_URL = fix.url } })
  fix:stop()
  local R = "\u{FFFD}"
  st.expect_line(r.stdout, "    ok 1 - name " .. R .. R .. " with bad bytes")
  st.expect_line(r.stdout, "    # note " .. R .. R .. " overlong, " .. R .. R .. R .. " surrogate")
  st.expect_line(r.stdout, [[      message: "bad ]] .. R .. [[ byte"]])
  st.expect_line(r.stdout, "    ok 4 - a skipped test # SKIP reason " .. R)
  st.expect_line(r.stdout, "    not ok 5 - a response body with bad bytes")
  mp.expect(r.stdout):contains([["body\":\"]] .. R .. R .. " body " .. R .. [[\"]])
  st.expect_line(r.stdout, "    ok 6 - the run goes on")
  st.expect_line(r.stdout, "ok 2 - " .. dir .. "/odd" .. R .. "name.lua")
  passing_after(r, 3, 7, 2, 1)
  if not utf8.len(r.stdout) then mp.fail("the TAP is not valid UTF-8") end
  local f = assert(io.open(junit))
  local xml = f:read("a")
  f:close()
  if not utf8.len(xml) then mp.fail("the JUnit file is not valid UTF-8") end
  local x = mp.exec { "xmllint", "--noout", junit }
  if x.code ~= 0 then mp.fail("the JUnit file is not well-formed XML:\n" .. x.stderr) end
end)
