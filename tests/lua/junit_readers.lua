-- junit_readers.lua: the JUnit file read by real readers nobody here
-- wrote: python3-junitparser (Debian's python3-junitparser, the library
-- many CI tools use) and xmllint against the Jenkins xunit rules
-- (tests/golden/junit-10.xsd). One run holds every kind of testcase:
-- passing, failing with a multi-line message, skipped, TODO, a test killed
-- by the file timeout, a file skipped by --filter, a syntax error.

local mp = require "mpod"
local st = require "selftest"
local sys = require "mpod.sys"

-- Reads the file with junitparser and prints what it understood as JSON:
-- per suite its counts, per case its name, file, line, time and results.
local READER = [[
import json, sys
from junitparser import JUnitXml, Failure, Error, Skipped
xml = JUnitXml.fromfile(sys.argv[1])
suites = []
for suite in xml:
    cases = []
    for case in suite:
        cases.append({
            "name": case.name, "classname": case.classname, "time": case.time,
            "file": case._elem.get("file"), "line": case._elem.get("line"),
            "results": [{"kind": type(r).__name__, "message": r.message, "text": r.text}
                        for r in case.result],
        })
    suites.append({"name": suite.name, "tests": suite.tests, "failures": suite.failures,
                   "errors": suite.errors, "skipped": suite.skipped, "cases": cases})
print(json.dumps(suites))
]]

-- A python3 that has junitparser: the one on PATH, else Debian's own
-- (a pyenv or venv python3 on PATH does not see Debian's packages).
local function python_with_junitparser()
  for _, python in ipairs { "python3", "/usr/bin/python3" } do
    local r = mp.exec({ python, "-c", "import junitparser" }, { timeout = 30 })
    if r.code == 0 then return python end
  end
  mp.fail("no python3 can import junitparser: install python3-junitparser "
    .. "(make deps-dev, vendor/debian-packages.txt)")
end

local dir = sys.mkdtemp("mpod-junit-readers")
local junit = dir .. "/junit.xml"
local run

mp.before_all(function()
  -- --filter "a" keeps every test with an "a" in its name; passing.lua has
  -- none ("one plus one", "strings"), so it is skipped as a whole
  run = mp.exec({ st.MPOD, "--seed", "1", "-t", "1", "--filter", "a", "--junit", junit,
                  st.case("failing"), st.case("skip_todo"), st.case("diagnostics"),
                  st.case("sleep_forever"), st.case("passing"), st.case("syntax_error") },
                { timeout = 60, env = { MPOD_CLUSTER = "" } })
end)

mp.after_all(function() sys.rmtree(dir) end)

local function read_back()
  local r = mp.exec({ python_with_junitparser(), "-c", READER, junit }, { timeout = 30 })
  if r.code ~= 0 then mp.fail("junitparser could not read the file:\n" .. r.stderr) end
  local suites = {}
  for _, s in ipairs(mp.json.decode(r.stdout)) do suites[s.name] = s end
  return suites
end

local function case_named(suite, name)
  for _, c in ipairs(suite.cases) do if c.name == name then return c end end
  mp.fail(string.format("%s has no testcase %q", suite.name, name))
end

mp.test("the run ends as expected and the file passes the Jenkins xunit rules", function()
  mp.expect(run.code):eq(1)
  local lint = mp.exec { "xmllint", "--noout", "--schema", "tests/golden/junit-10.xsd", junit }
  mp.expect(lint.stderr):eq(junit .. " validates\n")
end)

mp.test("junitparser: the counts of each suite", function()
  local suites = read_back()
  local function counts(name)
    local s = suites[st.case(name)] or mp.fail("no suite for " .. name)
    return string.format("tests=%d failures=%d errors=%d skipped=%d", s.tests, s.failures,
      s.errors, s.skipped)
  end
  mp.expect(counts("failing")):eq("tests=2 failures=1 errors=0 skipped=0")
  mp.expect(counts("skip_todo")):eq("tests=2 failures=0 errors=0 skipped=2")   -- 2 match "a"
  mp.expect(counts("sleep_forever")):eq("tests=1 failures=1 errors=0 skipped=0")
  mp.expect(counts("passing")):eq("tests=1 failures=0 errors=0 skipped=1")
  mp.expect(counts("syntax_error")):eq("tests=1 failures=0 errors=1 skipped=0")
end)

mp.test("junitparser: a multi-line failure message keeps its newlines", function()
  local suite = read_back()[st.case("diagnostics")]
  local c = case_named(suite, "orders > a multi-line message")
  mp.expect(c.results[1].kind):eq("Failure")
  mp.expect(c.results[1].message):eq("first line\nsecond line\n  indented third line")
end)

mp.test("junitparser: file names the scenario, line the failure's line in it", function()
  local suites = read_back()
  local failing = suites[st.case("failing")]
  local fails = case_named(failing, "fails")
  mp.expect(fails.file):eq(st.case("failing"))
  mp.expect(fails.line):eq("5")
  mp.expect(case_named(failing, "passes").file):eq(st.case("failing"))
  mp.expect(case_named(suites[st.case("syntax_error")], "the file as a whole").file)
    :eq(st.case("syntax_error"))
end)

mp.test("junitparser: a test killed by the file timeout has its time and its reason", function()
  local c = read_back()[st.case("sleep_forever")].cases[1]
  mp.expect(c.time):ge(0.9)
  mp.expect(c.results[1].message):contains("ran past its 1 s timeout and was killed")
end)

mp.test("junitparser: skipped tests and a file skipped by --filter carry their reasons", function()
  local suites = read_back()
  local skipped = case_named(suites[st.case("passing")], "the file as a whole")
  mp.expect(skipped.results[1].kind):eq("Skipped")
  mp.expect(skipped.results[1].message):eq("no test matches the filter")
  local todo = case_named(suites[st.case("skip_todo")], "todo failing")
  mp.expect(todo.results[1].message):eq("TODO: ticket 7")
end)
