-- runner_output.lua: the shape of what mpod-lua prints: TAP 13 and 14,
-- escaping, SKIP/TODO, hooks order, notes, the closing line, exit codes,
-- JUnit XML, --filter, --seed, -j with exclusive files, and that prove
-- (TAP::Harness) accepts the output.

local mp = require "mpod"
local st = require "selftest"

local function case_args(names, extra)
  local args = {}
  for _, a in ipairs(extra or {}) do args[#args + 1] = a end
  for _, n in ipairs(names) do args[#args + 1] = st.case(n) end
  return args
end

mp.test("TAP 13 by default, one subtest per file, a plan at the end", function()
  local r = st.run(case_args { "passing" })
  mp.expect(r.code):eq(0)
  local lines = st.lines(r.stdout)
  mp.expect(lines[1]):eq("TAP version 13")
  st.expect_line(r.stdout, "# Subtest: tests/cases/passing.lua")
  st.expect_line(r.stdout, "    ok 1 - one plus one")
  st.expect_line(r.stdout, "    ok 2 - strings")
  st.expect_line(r.stdout, "    1..2")
  st.expect_line(r.stdout, "ok 1 - tests/cases/passing.lua")
  st.expect_line(r.stdout, "1..1")
  mp.expect(r.stderr):matches("mpod%-lua: 2 passed, 0 failed, 0 skipped %(%d+%.%d s%)\n$")
end)

mp.test("--tap-version 14 changes the header only", function()
  local r = st.run(case_args({ "passing" }, { "--tap-version", "14" }))
  mp.expect(st.lines(r.stdout)[1]):eq("TAP version 14")
  st.expect_line(r.stdout, "    ok 1 - one plus one")
end)

mp.test("names escape # and backslash, newlines never break a line", function()
  local r = st.run(case_args { "names" })
  st.expect_line(r.stdout, [[    ok 1 - issue \#42 \\ fixed]])
  st.expect_line(r.stdout, "    ok 2 - two lines")
  st.expect_line(r.stdout, [[    ok 3 - \# SKIP fake directive]])
  mp.expect(r.stderr):contains("3 passed, 0 failed, 0 skipped")
end)

mp.test("SKIP and TODO directives and counts", function()
  local r = st.run(case_args { "skip_todo" })
  mp.expect(r.code):eq(0)
  st.expect_line(r.stdout, "    ok 1 - skipped # SKIP not on this backend")
  st.expect_line(r.stdout, "    ok 2 - skipped by option # SKIP flaky")
  st.expect_line(r.stdout, "    not ok 3 - todo failing # TODO ticket 7")
  st.expect_line(r.stdout, "    ok 4 - todo passing # TODO ticket 8")
  st.expect_line(r.stdout, "    not ok 5 - todo without body # TODO ticket 9")
  mp.expect(r.stderr):contains("0 passed, 0 failed, 2 skipped, 3 todo")
end)

mp.test("hooks run outermost first before, innermost first after", function()
  local r = st.run(case_args { "hooks" })
  local notes = {}
  for line in r.stdout:gmatch("    # ([^\n]+)") do notes[#notes + 1] = line end
  mp.expect(notes):eq {
    "outer before_all", "outer before_each", "top body", "outer after_each",
    "inner before_all", "outer before_each", "inner before_each", "nested body",
    "inner after_each", "outer after_each", "inner after_all", "outer after_all",
  }
  st.expect_line(r.stdout, "    ok 2 - inner > nested")
end)

mp.test("print and mp.note become comments; --seed makes math.random repeat", function()
  local a = st.run(case_args({ "random_notes" }, { "--seed", "42" }))
  local b = st.run(case_args({ "random_notes" }, { "--seed", "42" }))
  local c = st.run(case_args({ "random_notes" }, { "--seed", "43" }))
  local function number(r) return r.stdout:match("# random (%d+)") end
  mp.expect(number(a)):eq(number(b))
  mp.expect(number(a)):ne(number(c))
  st.expect_line(a.stdout, "# mpod-lua 0.1.0, seed 42")
  st.expect_line(a.stdout, "    # printed 1 true")
end)

mp.test("--filter keeps matching tests; a file with none is skipped", function()
  local r = st.run(case_args({ "passing", "hooks" }, { "--filter", "nested" }))
  st.expect_line(r.stdout, "    1..0 # SKIP no test matches the filter")
  st.expect_line(r.stdout, "ok 1 - tests/cases/passing.lua # SKIP no test matches the filter")
  st.expect_line(r.stdout, "    ok 1 - inner > nested")
  mp.expect(st.has_line(r.stdout, "    ok 1 - top")):falsy()
  -- counted as one skip everywhere: the TAP above, the closing line, JUnit
  mp.expect(r.stderr):matches("mpod%-lua: 1 passed, 0 failed, 1 skipped ")
end)

mp.test("exit codes: 0 passed, 1 failed, 2 usage", function()
  mp.expect(st.run(case_args { "passing" }).code):eq(0)
  mp.expect(st.run(case_args { "failing" }).code):eq(1)
  local bad = st.run { "--jobs", "zero", st.case("passing") }
  mp.expect(bad.code):eq(2)
  mp.expect(bad.stderr):contains("--jobs must be a positive integer, not 'zero'")
  local unknown = st.run { "--frobnicate" }
  mp.expect(unknown.code):eq(2)
  mp.expect(unknown.stderr):contains("unknown option --frobnicate")
  mp.expect(unknown.stdout):eq("")
end)

mp.test("--help and --version", function()
  local help = st.run { "--help" }
  mp.expect(help.code):eq(0)
  mp.expect(help.stdout):contains("--tap-version N")
  local version = st.run { "--version" }
  mp.expect(version.stdout):eq("mpod-lua 0.1.0\n")
end)

-- A failed test's `timeline:` (a block of rows) is YAML that prove's own
-- reader (TAP::Parser::YAMLish) takes: the file's subtest, unindented, is
-- given to prove as a TAP stream of its own, where the YAML is parsed.
mp.test("prove reads a failed test's timeline: block", function()
  local dir = require("mpod.sys").mkdtemp("mpod-prove")
  local r = st.run(case_args { "timeline_failure" })
  mp.expect(r.stdout):contains("      timeline: |\n")
  local lines = {}
  for line in r.stdout:gmatch("[^\n]*") do
    local inner = line:match("^    (.*)$")
    if inner then lines[#lines + 1] = inner end
  end
  local path = dir .. "/subtest.tap"
  local f = assert(io.open(path, "w"))
  f:write("TAP version 13\n", table.concat(lines, "\n"), "\n")
  f:close()
  local prove = mp.exec { "prove", "--verbose", "--exec", "cat", path }
  mp.expect(prove.stdout):contains("Failed 1/2 subtests")
  mp.expect(prove.stdout:find("Parse errors", 1, true)):is_nil()
  mp.expect(prove.stderr:find("YAML", 1, true)):is_nil()
  require("mpod.sys").rmtree(dir)
end)

mp.test("prove accepts the output: passing runs pass, failing runs fail", function()
  local dir = require("mpod.sys").mkdtemp("mpod-prove")
  local function prove_on(names)
    local r = st.run(case_args(names))
    local path = dir .. "/out.tap"
    local f = assert(io.open(path, "w"))
    f:write(r.stdout)
    f:close()
    return mp.exec { "prove", "--exec", "cat", path }
  end
  local good = prove_on { "passing", "skip_todo", "names" }
  mp.expect(good.code):eq(0)
  mp.expect(good.stdout):contains("Result: PASS")
  local bad = prove_on { "failing", "passing" }
  mp.expect(bad.code):ne(0)
  mp.expect(bad.stdout):contains("Failed 1/2 subtests")
  require("mpod.sys").rmtree(dir)
end)

mp.test("--junit writes well-formed JUnit XML", function()
  local dir = require("mpod.sys").mkdtemp("mpod-junit")
  local path = dir .. "/report.xml"
  st.run(case_args({ "failing", "skip_todo", "names" }, { "--junit", path }))
  local f = assert(io.open(path))
  local xml = f:read("a")
  f:close()
  mp.expect(xml):contains('<testsuite name="tests/cases/failing.lua" tests="2" failures="1"')
  mp.expect(xml):contains('<testcase name="fails" classname="tests/cases/failing.lua"')
  mp.expect(xml):contains('<failure message="expected values to be equal">')
  mp.expect(xml):contains('<skipped message="not on this backend"/>')
  mp.expect(xml):contains('<testcase name="two&#10;lines"')       -- kept through readers
  local lint = mp.exec { "xmllint", "--noout", path }
  mp.expect(lint.stderr):eq("")
  mp.expect(lint.code):eq(0)
  require("mpod.sys").rmtree(dir)
end)

mp.test("-j runs plain files together and an exclusive file alone", function()
  local dir = require("mpod.sys").mkdtemp("mpod-jobs")
  local log = dir .. "/log"
  local r = st.run(case_args({ "concurrent_1", "concurrent_2", "exclusive_file" }, { "-j", "3" }),
    { env = { MPOD_TEST_LOG = log } })
  mp.expect(r.code):eq(0)
  local spans = {}
  for what, who, t in io.open(log):read("a"):gmatch("(%a+) (%S+) ([%d.]+)") do
    spans[who] = spans[who] or {}
    spans[who][what] = tonumber(t)
  end
  local ex = spans.exclusive
  for _, name in ipairs { "concurrent_1", "concurrent_2" } do
    local s = spans[name]
    local overlaps = s.start < ex["end"] and ex.start < s["end"]
    mp.expect(overlaps):falsy()
  end
  local c1, c2 = spans.concurrent_1, spans.concurrent_2
  mp.expect(c1.start < c2["end"] and c2.start < c1["end"]):truthy()
  -- output stays in file order whatever the timing
  local order = {}
  for name in r.stdout:gmatch("\nok %d %- tests/cases/(%S+)%.lua") do order[#order + 1] = name end
  mp.expect(order):eq { "concurrent_1", "concurrent_2", "exclusive_file" }
  require("mpod.sys").rmtree(dir)
end)

mp.test("when a file ends, what it left open is finalized: files flushed, __gc run", function()
  -- the child skips freeing its memory at exit (child.c), never the finalizers
  local sys = require "mpod.sys"
  local dir = assert(sys.mkdtemp("mpod-finalize"))
  local case = dir .. "/leaves_open.lua"
  local f = assert(io.open(case, "w"))
  f:write(string.format([[
local mp = require "mpod"
mp.test("leaves a file open and a finalizer pending", function()
  OPEN_FILE = assert(io.open(%q, "w"))
  OPEN_FILE:write(string.rep("buffered ", 10))   -- stays in stdio's buffer
  PENDING = setmetatable({}, { __gc = function()
    local g = assert(io.open(%q, "w"))
    g:write("finalized")
    g:close()
  end })
end)
]], dir .. "/written.txt", dir .. "/gc.txt"))
  f:close()
  local r = st.run { case }
  mp.expect(r.code):eq(0)
  mp.expect(io.open(dir .. "/written.txt"):read("a")):eq(string.rep("buffered ", 10))
  mp.expect(io.open(dir .. "/gc.txt"):read("a")):eq("finalized")
  sys.rmtree(dir)
end)

-- On a real terminal (a pty whose size is set to 40 columns, COLUMNS
-- unset): the progress line takes its width from the terminal itself.
local PTY = [[
import fcntl, os, pty, struct, subprocess, sys, termios
master, slave = pty.openpty()
fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 40, 0, 0))
env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "NO_COLOR")}
env["TERM"] = "xterm"
p = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=slave, env=env)
os.close(slave)
out = b""
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
p.wait()
sys.stdout.buffer.write(out)
]]

mp.test("progress on a terminal: fitted to its width (TIOCGWINSZ), cleared at the end", function()
  local r = mp.exec({ "python3", "-c", PTY, st.MPOD, "--seed", "1", st.case("passing") },
                    { timeout = 60, env = { MPOD_CLUSTER = "" } })
  mp.expect(r.code):eq(0)
  local lines = 0
  for segment in r.stdout:gmatch("\r\27%[K([^\r\n]*)") do
    if segment ~= "" and not segment:find("^mpod%-lua: ") then
      lines = lines + 1
      if utf8.len(segment) > 39 then mp.fail("a progress line wider than 39: " .. segment) end
    end
  end
  mp.expect(lines):ge(3)
  mp.expect(r.stdout):contains("\r\27[K[0/1] 0 passed, 0 failed, 0 skipped  ")
  mp.expect(r.stdout):contains("\r\27[Kmpod-lua: 2 passed, 0 failed, 0 skipped")
end)
