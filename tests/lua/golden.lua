-- golden.lua: the exact TAP, closing line and JUnit XML that mpod-lua
-- prints for every kind of file (passing, failing, skipped, todo, timed
-- out, busy loop, crash, syntax error, load error, error values, os.exit,
-- several files at once, a failed test's timeline), compared whole with
-- tests/golden/<case>.tap, .stderr and .xml after normalising only what
-- varies from run to run: elapsed times, the time offsets of timeline
-- rows, the time and timestamp attributes, the closing line's duration.
-- MPOD_GOLDEN_UPDATE=1 rewrites the golden files instead
-- (tests/golden/README.md). The JUnit output must also parse with xmllint,
-- match tests/golden/junit.rng and the Jenkins xunit rules
-- (tests/golden/junit-10.xsd), and its counts must add up.

local mp = require "mpod"
local st = require "selftest"
local sys = require "mpod.sys"

local GOLDEN = "tests/golden/"
local UPDATE = os.getenv("MPOD_GOLDEN_UPDATE") == "1"

-- name: the golden files' base name; files: cases in tests/cases/;
-- args: extra options; code: the exit status the run must end with.
local CASES = {
  { name = "passing", code = 0 },
  { name = "failing", code = 1 },
  { name = "skip_todo", code = 0 },
  { name = "test_timeout", code = 1 },
  { name = "file_timeout", files = { "sleep_forever", "passing" }, args = { "-t", "1" }, code = 1 },
  { name = "busy_loop", code = 1 },
  { name = "signal_crash", code = 1 },
  { name = "syntax_error", code = 1 },
  { name = "load_error", code = 1 },
  { name = "error_values", code = 1 },
  { name = "os_exit", code = 1 },
  { name = "hooks", code = 0 },
  { name = "hook_failures", code = 1 },
  { name = "names", code = 0 },
  { name = "matchers", code = 1 },
  { name = "diagnostics", code = 1 },
  { name = "timeline", files = { "timeline_failure" }, code = 1 },
  { name = "missing_file", files = { "does_not_exist", "passing" }, code = 1 },
  { name = "filter", files = { "passing", "hooks" }, args = { "--filter", "nested" }, code = 0 },
  { name = "tap14", files = { "passing", "failing" }, args = { "--tap-version", "14" }, code = 1 },
  { name = "several", code = 1, files = {
      "passing", "failing", "skip_todo", "test_timeout", "error_values", "signal_crash",
      "syntax_error", "os_exit", "load_error", "hooks", "names" } },
}

-- Normalising -----------------------------------------------------------------

local function map_lines(text, fn)
  local out = {}
  for line in (text .. "\n"):gmatch("(.-)\n") do out[#out + 1] = fn(line) end
  return table.concat(out, "\n")
end

-- YAML "elapsed: 0.301" (in TAP and inside JUnit <failure> bodies), and
-- the time offsets of a `timeline:` row ("  -0.012 s  -  write 1  ok")
local function elapsed_line(line)
  line = line:gsub("^(%s+)[-+]%d+%.%d%d%d s  ", "%1<t> s  ")
  return (line:gsub("^(%s*elapsed: )%-?[%d.]+$", "%1<elapsed>"))
end

local function normalise_tap(text)
  return map_lines(text, elapsed_line)
end

local function normalise_stderr(text)
  return map_lines(text, function(line)
    return (line:gsub("^(mpod%-lua: %d+ passed, .*)%(%d+%.%d s%)$", "%1(<T> s)"))
  end)
end

local function normalise_xml(text)
  return map_lines(text, function(line)
    line = line:gsub(' time="[%d.]+"', ' time="<T>"')
    line = line:gsub(' timestamp="[^"]*"', ' timestamp="<TS>"')
    return elapsed_line(line)
  end)
end

-- Files -------------------------------------------------------------------------

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- A unified diff of the golden file against the actual text.
local function udiff(path, actual)
  local dir = sys.mkdtemp("mpod-golden-diff")
  write(dir .. "/actual", actual)
  local r = mp.exec { "diff", "-u", "--label", path, "--label", "actual output",
                      path, dir .. "/actual" }
  sys.rmtree(dir)
  return r.stdout
end

-- compare(path, actual [, update]): fails with a diff unless the golden
-- file holds exactly `actual`; rewrites it instead when `update` (default:
-- MPOD_GOLDEN_UPDATE=1).
local function compare(path, actual, update)
  local expected = read(path)
  if update == nil then update = UPDATE end
  if update then
    if expected ~= actual then
      write(path, actual)
      mp.note("updated " .. path)
    end
    return
  end
  if not expected then
    mp.fail("no golden file " .. path .. " (MPOD_GOLDEN_UPDATE=1 writes it)")
  end
  if expected ~= actual then
    mp.fail(path .. " differs from the output (- golden, + actual; "
      .. "MPOD_GOLDEN_UPDATE=1 accepts the new output):\n" .. udiff(path, actual))
  end
end

-- Running -----------------------------------------------------------------------

-- run(case [, extra_args]) -> {code=, tap=, stderr=, xml=, raw_xml=}, normalised
local function run(case, extra)
  local dir = sys.mkdtemp("mpod-golden")
  local junit = dir .. "/junit.xml"
  -- no core files from the crash case, whatever the caller's ulimit
  local argv = { "/bin/sh", "-c", 'ulimit -c 0; exec "$@"', "sh", st.MPOD,
                 "--seed", "1", "--junit", junit }
  for _, a in ipairs(extra or {}) do argv[#argv + 1] = a end
  for _, a in ipairs(case.args or {}) do argv[#argv + 1] = a end
  for _, f in ipairs(case.files or { case.name }) do argv[#argv + 1] = st.case(f) end
  local r = mp.exec(argv, { timeout = 60, env = { MPOD_CLUSTER = "" } })
  local xml = read(junit)
  sys.rmtree(dir)
  if not xml then mp.fail("no JUnit file was written; stderr:\n" .. r.stderr) end
  return { code = r.code, tap = normalise_tap(r.stdout), stderr = normalise_stderr(r.stderr),
           xml = normalise_xml(xml), raw_xml = xml }
end

-- xmllint(xml, extra_args...) -> result of xmllint on the text
local function xmllint(xml, ...)
  local dir = sys.mkdtemp("mpod-golden-xml")
  local path = dir .. "/junit.xml"
  write(path, xml)
  local argv = { "xmllint", ... }
  argv[#argv + 1] = path
  local r = mp.exec(argv)
  sys.rmtree(dir)
  return r
end

local function check_xml(xml)
  local lint = xmllint(xml, "--noout")
  if lint.code ~= 0 then mp.fail("xmllint rejects the JUnit XML:\n" .. lint.stderr) end
  local schema = xmllint(xml, "--noout", "--relaxng", GOLDEN .. "junit.rng")
  if schema.code ~= 0 then
    mp.fail("the JUnit XML does not match tests/golden/junit.rng:\n" .. schema.stderr)
  end
  local xsd = xmllint(xml, "--noout", "--schema", GOLDEN .. "junit-10.xsd")
  if xsd.code ~= 0 then
    mp.fail("the JUnit XML breaks the Jenkins xunit rules (tests/golden/junit-10.xsd):\n"
      .. xsd.stderr)
  end
end

-- The schema check can fail: junit-10.xsd rejects what it must.
mp.test("tests/golden/junit-10.xsd rejects skipped on testsuites, accepts it on a testsuite", function()
  local ok = '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="x" tests="1" '
    .. 'failures="0" errors="0" time="0.001">\n  <testsuite name="a" tests="1" failures="0" '
    .. 'errors="0" skipped="1" time="0.001">\n    <testcase name="t" classname="a" file="a.lua" '
    .. 'line="3" time="0.000"><skipped message="m"/></testcase>\n  </testsuite>\n</testsuites>\n'
  mp.expect(xmllint(ok, "--noout", "--schema", GOLDEN .. "junit-10.xsd").code):eq(0)
  local bad = ok:gsub('errors="0" time', 'errors="0" skipped="1" time', 1)
  local r = xmllint(bad, "--noout", "--schema", GOLDEN .. "junit-10.xsd")
  mp.expect(r.code):ne(0)
  mp.expect(r.stderr):contains("attribute 'skipped': The attribute 'skipped' is not allowed")
end)

local outputs = {}       -- case name -> the raw JUnit text, for the count checks

for _, case in ipairs(CASES) do
  mp.test("golden: " .. case.name, function()
    local out = run(case)
    compare(GOLDEN .. case.name .. ".tap", out.tap)
    compare(GOLDEN .. case.name .. ".stderr", out.stderr)
    compare(GOLDEN .. case.name .. ".xml", out.xml)
    mp.expect(out.code):eq(case.code)
    check_xml(out.raw_xml)
    outputs[case.name] = out.raw_xml
  end)
end

mp.test("-j 4 prints exactly what -j 1 prints (golden: several)", function()
  local case
  for _, c in ipairs(CASES) do if c.name == "several" then case = c end end
  local out = run(case, { "-j", "4" })
  -- never rewritten from here: -j 4 must match what the -j 1 run wrote
  compare(GOLDEN .. "several.tap", out.tap, false)
  compare(GOLDEN .. "several.stderr", out.stderr, false)
  compare(GOLDEN .. "several.xml", out.xml, false)
  mp.expect(out.code):eq(1)
end)

-- Counts ------------------------------------------------------------------------

-- Once xmllint has found the document well-formed and shaped as junit.rng
-- says, every literal "<" starts a tag, so counting tags is exact.
local function attrs(tag)
  local t = {}
  for k, v in tag:gmatch('([%w_-]+)="([^"]*)"') do t[k] = v end
  return t
end

local function count(text, element)
  local _, n = text:gsub("<" .. element .. "[%s/>]", "")
  return n
end

local COUNTED = { tests = "testcase", failures = "failure", errors = "error", skipped = "skipped" }
local ATTRS = { "tests", "failures", "errors", "skipped" }

-- problems(xml) -> list of the counts that do not add up
local function count_problems(xml)
  local problems, sums = {}, { tests = 0, failures = 0, errors = 0, skipped = 0 }
  for tag, body in xml:gmatch("<testsuite (.-)>(.-)</testsuite>") do
    local a = attrs(tag)
    for _, attr in ipairs(ATTRS) do
      sums[attr] = sums[attr] + (tonumber(a[attr]) or 0)
      local n = count(body, COUNTED[attr])
      if tonumber(a[attr]) ~= n then
        problems[#problems + 1] = string.format('%s: %s="%s" but it holds %d <%s>',
          a.name, attr, a[attr], n, COUNTED[attr])
      end
    end
  end
  local root = attrs(xml:match("<testsuites (.-)>") or "")
  if root.skipped then
    problems[#problems + 1] = "<testsuites> has a skipped attribute (junit-10.xsd rejects it)"
  end
  for _, attr in ipairs { "tests", "failures", "errors" } do
    if tonumber(root[attr]) ~= sums[attr] then
      problems[#problems + 1] = string.format('<testsuites %s="%s"> but its testsuites add up to %d',
        attr, root[attr], sums[attr])
    end
  end
  return problems
end

mp.test("JUnit counts add up: a testsuite's counts match its testcases, "
        .. "the testsuites element's match the sum of its testsuites", function()
  local problems = {}
  for _, case in ipairs(CASES) do
    if not outputs[case.name] then
      problems[#problems + 1] = case.name .. ": the case did not run (see its test)"
    else
      for _, p in ipairs(count_problems(outputs[case.name])) do
        problems[#problems + 1] = case.name .. ": " .. p
      end
    end
  end
  if #problems > 0 then mp.fail(table.concat(problems, "\n")) end
end)

mp.test("a test killed with its file has its time in JUnit, not 0", function()
  local xml = outputs.file_timeout or mp.fail("the file_timeout case did not run")
  local time = xml:match('<testcase name="waits" [^>]*time="([%d.]+)"')
  mp.expect(tonumber(time)):ge(0.9)          -- it ran until the 1 s file timeout
end)

mp.test("a file that fails as a whole says why in JUnit too", function()
  for name, why in pairs {
    syntax_error = "expected (to close", load_error = "attempt to index a nil value",
    missing_file = "cannot open the scenario file",
  } do
    if not (outputs[name] or ""):find(why, 1, true) then
      mp.fail(string.format("%s: the JUnit XML never mentions %q (the TAP does)", name, why))
    end
  end
end)
