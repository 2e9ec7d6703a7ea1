-- report.lua: mpod.runner.report, the TAP/JUnit writer, driven directly.
--
-- The pure functions (report.yaml, report.escape_name) run here; the
-- escaping rules one by one are in report_text.lua. A
-- reporter object writes to the process's stdout and stderr, so those
-- tests run it one level down: tests/cases/report_driver.lua runs a chunk
-- of Lua inside a nested mpod-lua, where a scenario child's stdout is the
-- nested runner's stderr, and `drive` returns that stream whole (the TAP
-- the chunk's reporter printed, "@..." marks the chunk wrote between
-- calls, and the reporter's closing line).

local mp = require "mpod"
local report = require "mpod.runner.report"
local st = require "selftest"
local sys = require "mpod.sys"

-- drive(chunk [, env]) -> what the chunk's reporter wrote, with its
-- closing line's duration replaced by "T"
local function drive(chunk, env)
  local vars = { MPOD_REPORT_CHUNK = chunk, MPOD_CLUSTER = "" }
  for k, v in pairs(env or {}) do vars[k] = v end
  local r = mp.exec({ st.MPOD, "--seed", "1", st.case("report_driver") },
    { timeout = 30, env = vars })
  if r.code ~= 0 then
    mp.fail("the report chunk failed:\n" .. r.stdout .. r.stderr)
  end
  local out = r.stderr:gsub("mpod%-lua: 1 passed, 0 failed, 0 skipped %(%d+%.%d s%)\n$", "")
  return (out:gsub("(mpod%-lua: [^\n]*)%(%d+%.%d s%)", "%1(T s)"))
end

local function yaml(t, indent) return report.yaml(t, indent) end

-- YAML diagnostics ---------------------------------------------------------------

mp.test("yaml: message, kind, at, got, expected, diff first; log, logs, stack last; the rest by name", function()
  mp.expect(yaml { stack = "s", zeta = 1, got = "g", at = "a", alpha = 2, message = "m",
                   logs = "ls", expected = "e", log = "l", kind = "k", diff = "d" }):eq [[
---
message: "m"
kind: "k"
at: "a"
got: "g"
expected: "e"
diff: "d"
alpha: 2
zeta: 1
log: "l"
logs: "ls"
stack: "s"
...
]]
end)

mp.test("yaml: numbers, booleans and quoted strings with their escapes", function()
  mp.expect(yaml { i = 3, f = 1.5, third = 1 / 3, inf = math.huge, ninf = -math.huge,
                   nan = 0 / 0, yes = true, no = false, s = 'q"uo\\te',
                   c = "tab\there\0nul\127", empty = "" }):eq [[
---
c: "tab\there\x00nul\x7F"
empty: ""
f: 1.5
i: 3
inf: .inf
nan: .nan
ninf: -.inf
"no": false
s: "q\"uo\\te"
third: 0.33333333333333
"yes": true
...
]]
end)

-- (prove needs "|" rather than "|-": see the read-back tests below)
mp.test("yaml: a multi-line string is a literal block indented under its key", function()
  mp.expect(yaml({ message = "first line\nsecond line\n  indented", at = "x.lua:3" }, 6)):eq(
    "      ---\n" ..
    "      message: |\n" ..
    "        first line\n" ..
    "        second line\n" ..
    "          indented\n" ..
    "      at: \"x.lua:3\"\n" ..
    "      ...\n")
end)

mp.test("yaml: strings that would not read back as a block stay quoted", function()
  mp.expect(yaml { lead = " x\ny", cr = "a\r\nb", ctl = "a\nb\1" }):eq [[
---
cr: "a\r\nb"
ctl: "a\nb\x01"
lead: " x\ny"
...
]]
end)

mp.test("yaml: invalid UTF-8 becomes U+FFFD, one per byte; valid UTF-8 passes", function()
  mp.expect(yaml { bad = "a\255\254b", ok = "héllo ✓" }):eq(
    '---\nbad: "a\u{FFFD}\u{FFFD}b"\nok: "héllo ✓"\n...\n')
end)

mp.test("yaml: nested tables, sequences, empty tables, mp.null", function()
  mp.expect(yaml { map = { b = 1, a = { c = {} } }, list = { 1, "two" }, null = mp.null }):eq [[
---
list:
  - 1
  - "two"
map:
  a:
    c: {}
  b: 1
"null": "null"
...
]]
end)

-- The runner reports whatever a scenario raised: walking it must not run
-- a metamethod that raises (or loops), and a protected metatable hides
-- nothing.
mp.test("yaml: tables are read raw; no metamethod runs, __tostring included", function()
  local function boom() error("a metamethod ran") end
  local hostile = { __index = boom, __pairs = boom, __len = boom, __tostring = boom,
                    __eq = boom, __lt = boom, __concat = boom, __name = boom }
  local locked = setmetatable({}, { __metatable = "locked", __index = boom })
  local list = setmetatable({ "x", "y" }, hostile)
  local map = setmetatable({ status = 503 }, hostile)
  local keyed = setmetatable({ [setmetatable({}, hostile)] = 1 }, hostile)
  local text = yaml { list = list, map = map, keyed = keyed, locked = locked,
                      handle = setmetatable({}, { __tostring = boom, __name = "mpod.Thing" }) }
  mp.expect(text):matches('\nkeyed:\n  "%[table: 0x%x+%]": 1\n')
  mp.expect(text):contains("\nlist:\n  - \"x\"\n  - \"y\"\n")
  mp.expect(text):contains("\nlocked: {}\n")
  mp.expect(text):contains("\nmap:\n  status: 503\n")
  mp.expect(text):contains("\nhandle: {}\n")
end)

-- What a scenario process sends is cut to these sizes before the report
-- sees it (mpod.scenario.limits); the report must then show it as it is.
mp.test("limits: a cut string fits its limit with its suffix, between UTF-8 characters; N is what was left out", function()
  local limits = require "mpod.scenario.limits"
  mp.expect(limits.cut("short", 16)):eq("short")
  mp.expect(limits.cut(string.rep("a", 16), 16)):eq(string.rep("a", 16))
  local cut = limits.cut(string.rep("a", 100), 30)
  mp.expect(cut):eq("aaaaaaaaa ... (91 more bytes)")
  mp.expect(#cut):le(30)
  cut = limits.cut(string.rep("é", 50), 30)            -- 2 bytes a character
  mp.expect(utf8.len(cut)):type("number")
  local kept, more = cut:match("^(.-) %.%.%. %((%d+) more bytes%)$")
  mp.expect(#kept + tonumber(more)):eq(100)
  -- a secret across the cut is redacted before it, not left half shown
  cut = limits.cut(string.rep("x", 15) .. "hunter2hunter2" .. string.rep("y", 55), 40,
    function(text) return (text:gsub("hunter2hunter2", "***")) end)
  mp.expect(cut:find("hunt", 1, true)):is_nil()
  mp.expect(cut):matches("^x+%*%*%*y* %.%.%. %(%d+ more bytes%)$")
  local big = limits.event({ ev = "test", name = string.rep("n", 5000), ok = false,
    diag = { message = string.rep("m", 20000), [string.rep("k", 300)] = 1 } })
  mp.expect(#big.name):le(limits.NAME)
  mp.expect(#big.diag.message):le(limits.FIELD)
  for key in pairs(big.diag) do mp.expect(#key):le(limits.KEY) end
  local note = limits.event({ ev = "note", text = string.rep("l", 20000) .. "\nshort" })
  mp.expect(note.text):matches("^l+ %.%.%. %(%d+ more bytes%)\nshort$")
end)

-- Perl's TAP::Parser (prove) reads the YAML block after a top-level test
-- point. It reads a subset of YAML: no "|-", no "- " with the item's
-- content on the next lines.
local YAMLISH = [[
use TAP::Parser::YAMLish::Reader; use JSON::PP;
local $/; my @lines = split /\n/, <STDIN>; my $i = 0;
my $d = eval { TAP::Parser::YAMLish::Reader->new->read(sub { $lines[$i++] }) };
print $@ ? "ERROR: $@" : JSON::PP->new->canonical->encode($d);
]]

-- The reader gives every scalar as a string, and a literal block keeps
-- one final newline ("|"): compare in those terms.
local function plain(v)
  if type(v) == "table" then
    local out = {}
    for k, x in pairs(v) do out[k] = plain(x) end
    return out
  end
  return (tostring(v):gsub("\n$", ""))
end

local function read_back(text)
  local r = mp.exec({ "perl", "-e", YAMLISH }, { stdin = text })
  if r.stdout:match("^ERROR: ") then return nil, r.stdout:gsub("%s+$", "") end
  return mp.json.decode(r.stdout)
end

-- read_back_problems(cases) -> what the reader got wrong, one line each
local function read_back_problems(cases)
  local problems = {}
  for _, case in ipairs(cases) do
    local got, err = read_back(yaml(case.t))
    if not got then
      problems[#problems + 1] = case.what .. ": " .. err
    else
      for _, d in ipairs(require("mpod.inspect").diff(plain(got), plain(case.t))) do
        problems[#problems + 1] = case.what .. ": " .. d
      end
    end
  end
  return problems
end

mp.test("yaml: diagnostics read back through prove's YAML reader, multi-line strings too", function()
  local problems = read_back_problems {
    { what = "flat fields", t = { message = "boom", at = "x.lua:1", attempts = 3, ok = false } },
    { what = "a nested mapping", t = { message = "m", pod = { name = "mesh-1", state = "paused" } } },
    { what = "a list of scalars", t = { message = "m", pods = { "mesh-1", "mesh-2" } } },
    { what = "a multi-line message", t = { message = "line one\nline two" } },
    { what = "a stack", t = { message = "m", stack = "x.lua:2: in function 'f'\nx.lua:5: in main chunk" } },
    { what = "a message with an empty line", t = { message = "summary:\n\ndetails", at = "x.lua:1" } },
  }
  if #problems > 0 then mp.fail(table.concat(problems, "\n")) end
end)

mp.test("yaml: a list of mappings reads back through prove's YAML reader", function()
  local problems = read_back_problems {
    { what = "a list of mappings", t = { message = "m", events = { { id = "1" }, { id = "2" } } } },
  }
  if #problems > 0 then mp.fail(table.concat(problems, "\n")) end
end)

-- prove reads the YAML of subtests too, so any multi-line value (a body,
-- pod logs, a stack, a diff) in any failing test is at stake.
mp.test("prove reads runs whose diagnostics span several lines", function()
  local dir = sys.mkdtemp("mpod-report-prove")
  local r = st.run { "--seed", "1", st.case("multiline_load_error"), st.case("diagnostics"),
                     st.case("passing") }
  local path = dir .. "/out.tap"
  local f = assert(io.open(path, "w"))
  f:write(r.stdout)
  f:close()
  local p = mp.exec { "prove", "--exec", "cat", path }
  sys.rmtree(dir)
  if p.stdout:find("Parse errors", 1, true) then
    mp.fail("prove could not parse the TAP:\n" .. p.stdout .. "\n--- TAP was:\n" .. r.stdout)
  end
  mp.expect(p.stdout):contains("Failed 2/3 subtests")
end)

mp.test("escape_name: # and \\ escaped, control characters to spaces, invalid UTF-8 replaced", function()
  mp.expect(report.escape_name("issue #42 \\ fixed")):eq("issue \\#42 \\\\ fixed")
  mp.expect(report.escape_name("two\nlines\tand\1ctl\127")):eq("two lines and ctl ")
  mp.expect(report.escape_name("a\255b ✓")):eq("a\u{FFFD}b ✓")
  mp.expect(report.escape_name("")):eq("")
end)

-- A reporter, one level down -----------------------------------------------------

mp.test("one file: header, subtest, directives, plan, file point, closing line, totals", function()
  mp.expect(drive [[
local r = report.new {}
local f = r:file_begin("checkout.lua")
r:test(f, { name = "pays", ok = true, elapsed = 0.2 })
r:test(f, { name = "refunds", ok = false, diag = { message = "got 500", at = "checkout.lua:9" } })
r:test(f, { name = "later", ok = true, directive = "SKIP", reason = "no stripe" })
r:test(f, { name = "wishful", ok = false, directive = "TODO", reason = "ticket #7" })
r:test(f, { name = "lucky", ok = true, directive = "TODO" })
mark(tostring(r:file_end(f, {})))
local t = r:finish()
mark(string.format("passed=%d failed=%d skipped=%d todo=%d files=%d files_failed=%d",
  t.passed, t.failed, t.skipped, t.todo, t.files, t.files_failed))
]]):eq [[
TAP version 13
# Subtest: checkout.lua
    ok 1 - pays
    not ok 2 - refunds
      ---
      message: "got 500"
      at: "checkout.lua:9"
      ...
    ok 3 - later # SKIP no stripe
    not ok 4 - wishful # TODO ticket \#7
    ok 5 - lucky # TODO
    1..5
not ok 1 - checkout.lua
@false
1..1
mpod-lua: 1 passed, 1 failed, 1 skipped, 2 todo (T s)
@passed=1 failed=1 skipped=1 todo=2 files=1 files_failed=1
]]
end)

mp.test("-j: files print in file order; the head file streams, later files wait", function()
  mp.expect(drive [[
local r = report.new {}
r:comment("mpod-lua 0.1.0, seed 1")
local a = r:file_begin("a.lua")
local b = r:file_begin("b.lua")
local c = r:file_begin("c.lua")
mark("three files begun")
r:test(b, { name = "b1", ok = true })
r:note(c, "c is waiting")
r:test(c, { name = "c1", ok = true })
r:file_end(c, {})
mark("b and c ran, c ended")
r:test(a, { name = "a1", ok = true })
mark("a1 ran")
r:file_end(b, {})
mark("b ended")
r:file_end(a, {})
mark("a ended")
r:finish()
]]):eq [[
TAP version 13
# mpod-lua 0.1.0, seed 1
# Subtest: a.lua
@three files begun
@b and c ran, c ended
    ok 1 - a1
@a1 ran
@b ended
    1..1
ok 1 - a.lua
# Subtest: b.lua
    ok 1 - b1
    1..1
ok 2 - b.lua
# Subtest: c.lua
    # c is waiting
    ok 1 - c1
    1..1
ok 3 - c.lua
@a ended
1..3
mpod-lua: 3 passed, 0 failed, 0 skipped (T s)
]]
end)

mp.test("notes go inside their file; comments with an index follow that file's point", function()
  mp.expect(drive [[
local r = report.new {}
local a = r:file_begin("a.lua")
local b = r:file_begin("b.lua")
r:note(a, "two\nlines # with a hash")
r:file_end(b, {})
r:comment("healed: mesh-2 restarted", b)
r:comment("healed: nothing", a)
r:note(a, "after the end of b")
r:file_end(a, {})
r:note(a, "too late for the TAP")
r:finish()
]]):eq [[
TAP version 13
# Subtest: a.lua
    # two
    # lines \# with a hash
    # after the end of b
    1..0
ok 1 - a.lua
# healed: nothing
# Subtest: b.lua
    1..0
ok 2 - b.lua
# healed: mesh-2 restarted
1..2
mpod-lua: 0 passed, 0 failed, 0 skipped (T s)
]]
end)

mp.test("file_end: a file that failed itself counts one failure; a skipped one (1..0 # SKIP) one skip", function()
  mp.expect(drive [[
local r = report.new {}
local a = r:file_begin("broken.lua")
r:file_end(a, { ok = false, diag = { message = "syntax error: unexpected symbol", at = "broken.lua:3" } })
local b = r:file_begin("empty.lua")
r:file_end(b, { directive = "SKIP", reason = "no test matches the filter" })
local c = r:file_begin("half.lua")
r:test(c, { name = "ran", ok = true })
r:file_end(c, { ok = false, diag = { message = "the scenario process was killed by SIGKILL (9)" } })
local t = r:finish()
mark(string.format("failed=%d files_failed=%d skipped=%d", t.failed, t.files_failed, t.skipped))
]]):eq [[
TAP version 13
# Subtest: broken.lua
    1..0
not ok 1 - broken.lua
  ---
  message: "syntax error: unexpected symbol"
  at: "broken.lua:3"
  ...
# Subtest: empty.lua
    1..0 # SKIP no test matches the filter
ok 2 - empty.lua # SKIP no test matches the filter
# Subtest: half.lua
    ok 1 - ran
    1..1
not ok 3 - half.lua
  ---
  message: "the scenario process was killed by SIGKILL (9)"
  ...
1..3
mpod-lua: 1 passed, 2 failed, 1 skipped (T s)
@failed=2 files_failed=2 skipped=1
]]
end)

mp.test("Bail out! ends the TAP: nothing after it, no plan; the closing line still comes", function()
  mp.expect(drive [[
local r = report.new {}
local a = r:file_begin("a.lua")
r:test(a, { name = "first", ok = true })
r:bail("cannot reach the cluster: mesh-1 refused\non # 13001")
r:comment("not printed")
r:test(a, { name = "not printed", ok = true })
r:file_end(a, {})
local b = r:file_begin("b.lua")
r:file_end(b, {})
r:finish()
]]):eq [[
TAP version 13
# Subtest: a.lua
    ok 1 - first
Bail out! cannot reach the cluster: mesh-1 refused on \# 13001
mpod-lua: 2 passed, 0 failed, 0 skipped (T s)
]]
end)

mp.test("every text the reporter is given is redacted; a Bail out! is in the JUnit file", function()
  local dir = sys.mkdtemp("mpod-report-redact")
  local path = dir .. "/r.xml"
  local out = drive([=[
local r = report.new { junit = os.getenv("JUNIT") }
local a = r:file_begin("a.lua")
r:test(a, { name = "as user password=sekrit-1", ok = false,
            diag = { message = "Authorization: Bearer sekrit-2", api_key = "sekrit-3" } })
r:note(a, 'headers = {Cookie = "sekrit-4"}')
r:comment("healed: redis://:sekrit-5@cache")
r:file_end(a, {})
r:bail("cluster down: postgresql://app:sekrit-6@db/app")
r:finish()
]=], { JUNIT = path })
  local f = assert(io.open(path))
  local xml = f:read("a")
  f:close()
  local lint = mp.exec { "xmllint", "--noout", "--relaxng", "tests/golden/junit.rng", path }
  sys.rmtree(dir)
  mp.expect(out:find("sekrit", 1, true)):is_nil()
  mp.expect(xml:find("sekrit", 1, true)):is_nil()
  st.expect_line(out, "    not ok 1 - as user password=***")
  st.expect_line(out, '      message: "Authorization: ***"')
  st.expect_line(out, '      api_key: "***"')
  st.expect_line(out, '    # headers = {Cookie = "***"}')
  st.expect_line(out, "# healed: redis://:***@cache")
  st.expect_line(out, "Bail out! cluster down: postgresql://app:***@db/app")
  mp.expect(xml):contains('<testsuites name="mpod-lua" tests="2" failures="1" errors="1" time=')
  mp.expect(xml):contains('<testsuite name="Bail out!" tests="1" failures="0" errors="1" skipped="0" ')
  mp.expect(xml):matches('<testcase name="Bail out!" classname="mpod%-lua" time="%d+%.%d%d%d">\n')
  mp.expect(xml):contains('">\n'
    .. '      <error message="cluster down: postgresql://app:***@db/app">'
    .. "cluster down: postgresql://app:***@db/app</error>")
  mp.expect(lint.stderr):eq(path .. " validates\n")
end)

mp.test("tap_version 14 changes the header only", function()
  mp.expect(drive [[
local r = report.new { tap_version = 14 }
local a = r:file_begin("a.lua")
r:test(a, { name = "t", ok = true })
r:file_end(a, {})
r:finish()
]]):eq [[
TAP version 14
# Subtest: a.lua
    ok 1 - t
    1..1
ok 1 - a.lua
1..1
mpod-lua: 1 passed, 0 failed, 0 skipped (T s)
]]
end)

mp.test("misuse raises: bad tap_version, unknown file, a file used after its end, finish twice", function()
  mp.expect(drive [[
mark(select(2, pcall(report.new, { tap_version = 12 })))
local r = report.new {}
mark(select(2, pcall(r.test, r, 1, { name = "x", ok = true })))
local f = r:file_begin("f.lua")
r:file_end(f, {})
mark(select(2, pcall(r.test, r, f, { name = "x", ok = true })))
mark(select(2, pcall(r.file_end, r, f, {})))
r:finish()
mark(select(2, pcall(r.finish, r)))
]]):eq [[
@report.new: tap_version must be 13 or 14, not 12
@report: no such file index 1
TAP version 13
# Subtest: f.lua
    1..0
ok 1 - f.lua
@report: file f.lua already ended
@report: file f.lua already ended
1..1
mpod-lua: 0 passed, 0 failed, 0 skipped (T s)
@report: the run already finished
]]
end)

-- The progress line's environment is set here whatever the caller's
-- terminal: TERM and NO_COLOR choose its mode, COLUMNS its width.
local LIVE = { TERM = "xterm", NO_COLOR = "", COLUMNS = "200" }

mp.test("progress: a live line on stderr, cleared before the closing line", function()
  local out = drive([[
local r = report.new { progress = true, total = 2 }
local a = r:file_begin("a.lua")
r:test(a, { name = "t", ok = true })
r:file_end(a, {})
r:finish()
]], LIVE)
  local CLEAR = "\r\27[K"
  mp.expect(out):contains(CLEAR .. "[0/2] 0 passed, 0 failed, 0 skipped  a.lua")
  mp.expect(out):contains(CLEAR .. "[0/2] 1 passed, 0 failed, 0 skipped  a.lua > t")
  mp.expect(out):contains(CLEAR .. "[1/2] 1 passed, 0 failed, 0 skipped  a.lua")
  mp.expect(out):contains("1..1\n" .. CLEAR .. "mpod-lua: 1 passed, 0 failed, 0 skipped (T s)\n")
end)

local PROGRESS_CHUNK = [[
local r = report.new { progress = true, total = 1 }
local a = r:file_begin("scenarios/a_rather_long_name_for_a_scenario.lua")
r:test(a, { name = "a test whose name is long enough to wrap\nand has a newline, é ✓", ok = true })
r:file_end(a, {})
r:finish()
]]

-- (the driver's stream holds the TAP too: each progress line is followed
-- by the TAP the reporter wrote next, or by the next line's "\r")
mp.test("progress: cut to COLUMNS - 1 characters, on one line, never wrapped", function()
  local CLEAR = "\r\27[K"
  local out = drive(PROGRESS_CHUNK, { TERM = "xterm", NO_COLOR = "", COLUMNS = "30" })
  mp.expect(out):contains(CLEAR .. "[0/1] 0 passed, 0 failed, 0 s    ok 1 - ")
  mp.expect(out):contains(CLEAR .. "[0/1] 1 passed, 0 failed, 0 s    1..1\n")
  mp.expect(out):contains(CLEAR .. "[1/1] 1 passed, 0 failed, 0 s1..1\n")
  -- wide enough: the whole line, the name's newline as a space
  out = drive(PROGRESS_CHUNK, { TERM = "xterm", NO_COLOR = "", COLUMNS = "200" })
  mp.expect(out):contains(CLEAR .. "[0/1] 1 passed, 0 failed, 0 skipped  "
    .. "scenarios/a_rather_long_name_for_a_scenario.lua > a test whose name is long enough "
    .. "to wrap and has a newline, é ✓    1..1\n")
end)

mp.test("progress: TERM=dumb or NO_COLOR: no control sequence, a plain line per file", function()
  for _, env in ipairs { { TERM = "dumb", NO_COLOR = "", COLUMNS = "30" },
                         { TERM = "xterm", NO_COLOR = "1", COLUMNS = "30" } } do
    local out = drive(PROGRESS_CHUNK, env)
    mp.expect(out:find("[\r\27]")):is_nil()
    st.expect_line(out, "[1/1] 1 passed, 0 failed, 0 skipped  scenarios/a_rather_long_name_for_a_scenario.lua")
  end
end)

mp.test("JUnit from the reporter: escaping, failure bodies, file and line, well-formed, the documented shape", function()
  local dir = sys.mkdtemp("mpod-report-junit")
  local path = dir .. "/r.xml"
  drive([=[
local r = report.new { junit = os.getenv("JUNIT") }
local a = r:file_begin("a&b.lua")
r:test(a, { name = [[<tag> & "quotes" 'apos']] .. "\1\255", ok = false, elapsed = 1.25,
            diag = { message = "a < b", got = "]]>" } })
r:test(a, { name = "skipped", ok = true, directive = "SKIP", reason = "no <db>" })
r:test(a, { name = "with output", ok = true, output = "stdout & more" })
r:test(a, { name = "two\nlines", ok = false, diag = { message = "first\nsecond\r\tthird" } })
r:test(a, { name = "here", ok = false, diag = { message = "m", at = "a&b.lua:7" } })
r:test(a, { name = "in a helper", ok = false, diag = { message = "m", at = "lib/h.lua:3" } })
r:note(a, "note <1>")
r:file_end(a, {})
r:finish()
]=], { JUNIT = path })
  local f = assert(io.open(path))
  local xml = f:read("a")
  f:close()
  mp.expect(xml):contains('<testsuite name="a&amp;b.lua" tests="6" failures="4" errors="0" skipped="1" ')
  -- file: the scenario; line: where the failure is in it, never a helper's line
  mp.expect(xml):contains('<testcase name="here" classname="a&amp;b.lua" file="a&amp;b.lua" line="7" time=')
  mp.expect(xml):contains('<testcase name="in a helper" classname="a&amp;b.lua" file="a&amp;b.lua" time=')
  -- attributes keep newlines (raw ones would read back as spaces); bodies stay raw
  mp.expect(xml):contains('<testcase name="two&#10;lines" ')
  mp.expect(xml):contains('<failure message="first&#10;second&#13;&#9;third">---\n'
    .. 'message: &quot;first\\nsecond\\r\\tthird&quot;\n...\n</failure>')
  mp.expect(xml):contains('<testcase name="&lt;tag&gt; &amp; &quot;quotes&quot; &apos;apos&apos;'
    .. "\u{FFFD}\u{FFFD}" .. '" classname="a&amp;b.lua" file="a&amp;b.lua" time="1.250">')
  mp.expect(xml):contains('<failure message="a &lt; b">---\nmessage: &quot;a &lt; b&quot;\n'
    .. 'got: &quot;]]&gt;&quot;\n...\n</failure>')
  mp.expect(xml):contains('<skipped message="no &lt;db&gt;"/>')
  mp.expect(xml):contains("<system-out>stdout &amp; more</system-out>")
  mp.expect(xml):contains("    <system-out>note &lt;1&gt;\n</system-out>\n  </testsuite>")
  local lint = mp.exec { "xmllint", "--noout", "--relaxng", "tests/golden/junit.rng", path }
  sys.rmtree(dir)
  mp.expect(lint.stderr):eq(path .. " validates\n")
  mp.expect(lint.code):eq(0)
end)
