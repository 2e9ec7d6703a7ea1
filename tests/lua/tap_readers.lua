-- tap_readers.lua: mpod-lua's TAP read by real TAP readers nobody here
-- wrote: tappy (Debian's python3-tap, tap.parser.Parser) and node's
-- tap-parser (Debian's node-tap-parser). prove is tested in
-- runner_output.lua and ci_recipes.lua.
--
-- One run, as TAP 13 and as TAP 14 (--tap-version), holds passing tests,
-- failing ones with multi-line YAML diagnostics and a `timeline:` block,
-- skipped and TODO tests and a file that fails as a whole (a syntax
-- error). Each reader's view is brought to one shape: per file its
-- top-level test point and the test points of its subtest. What each
-- reader reads:
--
-- - node's tap-parser reads subtests itself (a child parser per
--   `# Subtest:`), with their YAML.
-- - tappy reads top-level lines only: an indented line is "unknown" to
--   it. So the whole stream is given to it once (the file-level points,
--   the syntax error's YAML; its unknown lines must all be subtest lines),
--   and each subtest, unindented as its own stream behind the run's
--   `TAP version` line, once more, which is how the subtests' points and
--   YAML are read.
--
-- Checked for each reader and version: no parse error of any kind (tappy:
-- the loader's plan and version rules, a YAML block it could not parse,
-- an unknown line that is not a subtest line; tap-parser: non-TAP
-- `extra` lines, which is where a YAML block it cannot parse goes, and
-- `tapError` failures); the version; each file's verdict and its counts
-- of passed, failed, skipped and TODO tests, and their sum against
-- mpod-lua's closing line; each failed test's YAML read as a mapping with
-- `message` and `at` (naming its file); the `timeline:` read as one
-- multi-line string equal to tests/golden/timeline.tap's, times
-- normalised as golden.lua does; a multi-line message, a stack and typed
-- fields (numbers, booleans). Then the two readers must have read the
-- same thing, every name, directive and YAML value, but for one quirk of
-- tappy's (a block scalar that is a diagnostic's last key reads without
-- its final newline: `chomped` below).

local mp = require "mpod"
local st = require "selftest"

local CASES = { "passing", "failing", "skip_todo", "diagnostics", "timeline_failure",
                "syntax_error" }

-- What the case files hold, counted as mpod-lua's closing line counts:
-- ok is the file's top-level verdict; a file that fails as a whole (no
-- test point in its subtest, `not ok` above it) is one failed test.
local EXPECTED = {
  passing = { ok = true, passed = 2, failed = 0, skipped = 0, todo = 0 },
  failing = { ok = false, passed = 1, failed = 1, skipped = 0, todo = 0 },
  skip_todo = { ok = true, passed = 0, failed = 0, skipped = 2, todo = 3 },
  diagnostics = { ok = false, passed = 1, failed = 7, skipped = 0, todo = 0 },
  timeline_failure = { ok = false, passed = 1, failed = 1, skipped = 0, todo = 0 },
  syntax_error = { ok = false, passed = 0, failed = 1, skipped = 0, todo = 0 },
}

-- Reads the TAP file argv[1] with tappy and prints JSON:
-- {version, files: [{name, ok, diag, tests: [...]}], problems: [...]}.
local TAPPY = [[
import contextlib, io, json, sys, unittest
from tap.loader import Loader
from tap.parser import Parser
from tap.rules import Rules

class Recording(Parser):
    """tappy's parser, keeping the text of the lines it does not know"""
    def __init__(self):
        self.unknown = []
    def parse_line(self, text, fh=None):
        line = super().parse_line(text, fh)
        if line.category == "unknown":
            self.unknown.append(text)
        return line

def point(line):
    # tappy keeps the " - " separator in the description
    name = line.description[2:] if line.description.startswith("- ") else line.description
    return {"id": line.number, "name": name, "ok": line.ok,
            "skip": line.skip and line.directive.reason, "todo": line.todo and line.directive.reason,
            "diag": line.yaml_block}

def read(text, where, problems):
    """the stream's version and test points; its problems appended"""
    parser, lines, printed = Recording(), [], io.StringIO()
    class Checking(Rules):
        def _add_error(self, message):
            problems.append(where + ": " + message)
    def keep(gen):
        for line in gen:
            lines.append(line)
            yield line
    suite = unittest.TestSuite()
    with contextlib.redirect_stdout(printed):   # tappy prints YAML errors
        # the loader's own rules: one plan, at either end, matching the count
        Loader()._load_lines(where, keep(parser.parse_text(text)), suite, Checking(where, suite))
        points = [point(l) for l in lines if l.category == "test"]
    version = [l.version for l in lines if l.category == "version"]
    if printed.getvalue():
        problems.append(where + ": " + printed.getvalue())
    for p, l in zip(points, [l for l in lines if l.category == "test"]):
        if l._yaml_block is not None and p["diag"] is None:
            problems.append(where + ": no YAML read for " + p["name"])
    return version, points, parser.unknown

def subtests(text):
    """{name: the subtest's lines unindented} of the stream"""
    out, name = {}, None
    for raw in text.split("\n"):
        if raw.startswith("# Subtest: "):
            name = raw[len("# Subtest: "):]
            out[name] = []
        elif name is not None and raw.startswith("    "):
            out[name].append(raw[4:])
        else:
            name = None
    return out

text = open(sys.argv[1]).read()
problems = []
version, files, unknown = read(text, "stream", problems)
problems += ["stream: unknown line " + l for l in unknown if not l.startswith("    ")]
first = text.split("\n", 1)[0]
for name, body in subtests(text).items():
    _, tests, unknown = read(first + "\n" + "\n".join(body) + "\n", name, problems)
    problems += [name + ": unknown line " + l for l in unknown]
    for f in files:
        if f["name"] == name:
            f["tests"] = tests
print(json.dumps({"version": version[0] if version else None, "files": files,
                  "problems": problems}))
]]

-- Reads the TAP file argv[1] with node's tap-parser, prints the same JSON.
local TAP_PARSER = [[
const Parser = require('tap-parser')
const fs = require('fs')
const problems = []

function point (a) {
  return { id: a.id, name: a.name, ok: a.ok, skip: a.skip || false, todo: a.todo || false,
           diag: a.diag === undefined ? null : a.diag }
}

// watch(parser, where) -> {version, points, children}, filled as it reads
function watch (parser, where) {
  const seen = { version: null, points: [], children: [] }
  parser.on('version', v => { seen.version = v })
  parser.on('assert', a => seen.points.push(point(a)))
  parser.on('extra', e => problems.push(where + ': not TAP: ' + e))
  parser.on('child', c => seen.children.push({ name: c.name, seen: watch(c, c.name) }))
  parser.on('complete', r => r.failures.filter(f => f.tapError)
    .forEach(f => problems.push(where + ': ' + JSON.stringify(f.tapError))))
  return seen
}

const parser = new Parser()
const top = watch(parser, 'stream')
parser.end(fs.readFileSync(process.argv[1], 'utf8'))
const files = top.points.map(p => {
  const child = top.children.find(c => c.name === p.name)
  return Object.assign(p, { tests: child ? child.seen.points : null })
})
process.stdout.write(JSON.stringify({ version: top.version, files, problems }))
]]

-- A python3 that has tappy with its YAML support: Debian's own first (a
-- pyenv or venv python3 on PATH does not see Debian's packages).
local function python_with_tappy()
  for _, python in ipairs { "/usr/bin/python3", "python3" } do
    local r = mp.exec({ python, "-c", "import tap.parser as p; assert p.ENABLE_VERSION_13" },
      { timeout = 30 })
    if r.code == 0 then return python end
  end
  mp.fail("no python3 can import tappy with YAML: install python3-tap, python3-yaml and "
    .. "python3-more-itertools (make deps-dev, vendor/debian-packages.txt)")
end

-- reader -> {command(path) -> argv, env, what to install when it fails}
local READERS = {
  tappy = {
    command = function(path) return { python_with_tappy(), "-c", TAPPY, path } end,
    install = "python3-tap",
  },
  ["tap-parser"] = {
    command = function(path) return { "node", "-e", TAP_PARSER, path } end,
    env = { NODE_PATH = "/usr/share/nodejs" },   -- where Debian installs node modules
    install = "node-tap-parser",
  },
}

local dir = require("mpod.sys").mkdtemp("mpod-tap-readers")
local runs = {}   -- version -> {path, result}

mp.before_all(function()
  local args = {}
  for _, name in ipairs(CASES) do args[#args + 1] = st.case(name) end
  for _, version in ipairs { 13, 14 } do
    local r = st.run({ "--seed", "1", "--tap-version", tostring(version), table.unpack(args) },
      { env = { MPOD_CLUSTER = "" } })
    local path = string.format("%s/tap%d.tap", dir, version)
    local f = assert(io.open(path, "w"))
    f:write(r.stdout)
    f:close()
    runs[version] = { path = path, result = r }
  end
end)

mp.after_all(function() require("mpod.sys").rmtree(dir) end)

-- read(reader, version) -> what the reader read of that run (cached)
local readings = {}
local function read(reader, version)
  local key = reader .. version
  if not readings[key] then
    local how = READERS[reader]
    local r = mp.exec(how.command(runs[version].path), { timeout = st.slow(30), env = how.env })
    if r.code ~= 0 then
      mp.fail(string.format("%s could not read the TAP %d (exit %s; is %s installed? "
        .. "make deps-dev):\n%s", reader, version, tostring(r.code or r.signal), how.install,
        r.stderr))
    end
    readings[key] = mp.json.decode(r.stdout)
  end
  return readings[key]
end

-- The closing line's counts: {passed=, failed=, skipped=, todo=}.
local function closing_counts(stderr)
  local line = stderr:match("mpod%-lua: (%d+ passed, [^\n]*)")
    or mp.fail("no closing line in:\n" .. stderr)
  local counts = {}
  for n, what in line:gmatch("(%d+) (%a+)") do counts[what] = tonumber(n) end
  return { passed = counts.passed, failed = counts.failed, skipped = counts.skipped,
           todo = counts.todo or 0 }
end

-- The file's counts as mpod-lua's closing line counts them.
local function file_counts(file)
  local c = { ok = file.ok, passed = 0, failed = 0, skipped = 0, todo = 0 }
  if file.tests == mp.null then mp.fail(file.name .. ": no subtest read") end
  for _, t in ipairs(file.tests) do
    if t.todo then c.todo = c.todo + 1
    elseif t.skip then c.skipped = c.skipped + 1
    elseif t.ok then c.passed = c.passed + 1
    else c.failed = c.failed + 1 end
  end
  if #file.tests == 0 and not file.ok then c.failed = 1 end   -- failed as a whole
  return c
end

-- The `timeline:` rows of tests/golden/timeline.tap, as one string.
local function golden_timeline()
  local f = assert(io.open("tests/golden/timeline.tap"))
  local text = f:read("a")
  f:close()
  local indent, block = text:match("\n( *)timeline: |\n(.-)\n%1%.%.%.\n")
  if not block then mp.fail("tests/golden/timeline.tap has no timeline: block") end
  local rows = {}
  for line in block:gmatch("[^\n]+") do rows[#rows + 1] = line:sub(#indent + 3) .. "\n" end
  return table.concat(rows)
end

-- tappy gives PyYAML a YAML block without the line break after its last
-- line (tap/parser.py joins the lines with "\n"), so a block scalar (`|`)
-- that is a diagnostic's last key (`timeline:` and `stack:` here) reads
-- without its final newline there, with it in node's tap-parser (and
-- prove). Comparisons of such values drop that one newline.
local function chomped(s)
  return (s:gsub("\n$", ""))
end

-- value with every string in it chomped, deeply
local function all_chomped(value)
  if type(value) == "string" then return chomped(value) end
  if type(value) ~= "table" then return value end
  local out = {}
  for k, v in pairs(value) do out[k] = all_chomped(v) end
  return out
end

-- A timeline's time offsets normalised as tests/lua/golden.lua does.
local function normalised(timeline)
  return (timeline:gsub("%f[^\n%z][-+]%d+%.%d%d%d s  ", "<t> s  "))
end

local function test_named(file, name)
  for _, t in ipairs(file.tests) do if t.name == name then return t end end
  mp.fail(string.format("%s: no test %q read", file.name, name))
end

local function file_named(reading, case)
  for _, f in ipairs(reading.files) do if f.name == st.case(case) then return f end end
  mp.fail("no file read for " .. case)
end

mp.test("the runs end as expected", function()
  for _, version in ipairs { 13, 14 } do
    st.expect_code(runs[version].result, 1)
    mp.expect(runs[version].result.stdout):contains("      timeline: |\n")
  end
end)

for _, reader in ipairs { "tappy", "tap-parser" } do
  for _, version in ipairs { 13, 14 } do
    local label = string.format("%s, TAP %d: ", reader, version)

    mp.test(label .. "no parse errors, the version", function()
      local reading = read(reader, version)
      mp.expect(reading.problems):eq({})
      mp.expect(reading.version):eq(version)
    end)

    mp.test(label .. "each file's verdict and counts, and the closing line's", function()
      local reading = read(reader, version)
      local names, total = {}, { passed = 0, failed = 0, skipped = 0, todo = 0 }
      for _, file in ipairs(reading.files) do names[#names + 1] = file.name end
      local wanted = {}
      for i, case in ipairs(CASES) do wanted[i] = st.case(case) end
      mp.expect(names):eq(wanted)
      for i, case in ipairs(CASES) do
        local counts = file_counts(reading.files[i])
        mp.expect({ [case] = counts }):eq({ [case] = EXPECTED[case] })
        for k in pairs(total) do total[k] = total[k] + counts[k] end
      end
      mp.expect(total):eq(closing_counts(runs[version].result.stderr))
    end)

    mp.test(label .. "every failed test's YAML: a mapping with message and at", function()
      local reading = read(reader, version)
      local failed = 0
      for _, file in ipairs(reading.files) do
        local failures = {}
        for _, t in ipairs(file.tests) do
          if not t.ok and not t.todo then failures[#failures + 1] = t end
        end
        if #file.tests == 0 and not file.ok then failures[#failures + 1] = file end
        for _, t in ipairs(failures) do
          local where = file.name .. ": " .. t.name
          mp.expect({ [where] = type(t.diag) }):eq({ [where] = "table" })
          mp.expect(t.diag.message):type("string")
          mp.expect(t.diag.at):type("string"):matches("^" .. file.name:gsub("%p", "%%%0") .. ":%d+$")
          failed = failed + 1
        end
      end
      mp.expect(failed):eq(closing_counts(runs[version].result.stderr).failed)
    end)

    mp.test(label .. "multi-line values: timeline, message, stack, typed fields", function()
      local reading = read(reader, version)
      local lost = test_named(file_named(reading, "timeline_failure"), "a write is lost")
      mp.expect(lost.diag.timeline):type("string")
      mp.expect(chomped(normalised(lost.diag.timeline))):eq(chomped(golden_timeline()))
      local diagnostics = file_named(reading, "diagnostics")
      -- a block scalar (`|`) keeps one final newline
      mp.expect(test_named(diagnostics, "orders > a multi-line message").diag.message)
        :eq("first line\nsecond line\n  indented third line\n")
      mp.expect(chomped(test_named(diagnostics, "orders > totals > a stack of scenario frames")
        .diag.stack)):matches("^tests/cases/diagnostics.lua:10: in upvalue 'check_total'\n.*'test'$")
      local own = test_named(diagnostics, "an error with fields of its own").diag
      mp.expect({ own.got_version, own.retried, own.details })
        :eq({ 2, false, '{id = 17, table = "orders"}' })
      mp.expect(test_named(file_named(reading, "skip_todo"), "skipped").skip)
        :eq("not on this backend")
    end)
  end
end

mp.test("tappy and node's tap-parser read the same names, directives and YAML", function()
  for _, version in ipairs { 13, 14 } do
    mp.expect(all_chomped(read("tappy", version).files))
      :eq(all_chomped(read("tap-parser", version).files))
  end
end)
