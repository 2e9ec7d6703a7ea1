-- junit.lua: the JUnit XML of a run, built file by file as the reporter
-- hears of tests, written once when the run finishes.
--
-- One <testsuite> per scenario file, one <testcase> per test point: SKIP
-- and TODO are <skipped> (a TODO is not a failure in TAP either), a
-- failure is <failure> with the test's YAML diagnostics as its body. A file
-- that failed as a whole (crash, timeout, load error) gets an <error>
-- testcase of its own, and a run that bailed out a "Bail out!" suite, so
-- the XML read alone never shows a run with nothing wrong. Attribute
-- values keep their newlines and tabs as character references (&#10;):
-- raw ones would reach every reader as spaces.

local text = require "mpod.runner.report.text"
local yaml = require "mpod.runner.report.yaml"

local M = {}

local NAME_MAX = 1024                   -- bytes of a test name or reason
local OUTPUT_MAX = 1 << 20              -- bytes of one test's output

local xml, attr = text.xml, text.xml_attr

local function cut(s, max) return (text.cut(s, max)) end

-- new_suite(name) -> the JUnit half of one file's report
function M.new_suite(name)
  return { name = name, cases = {}, out = {}, tests = 0, failures = 0, errors = 0, skipped = 0 }
end

-- The line of the failure in the scenario file itself: diag.at when it
-- names that file ("scenarios/login.lua:12"); a helper's line would
-- mislead an annotation of the scenario.
local function failure_line(suite, diag)
  local at = type(diag) == "table" and rawget(diag, "at")
  if type(at) ~= "string" then return nil end
  local file, line = at:match("^(.*):(%d+)$")
  return file == suite.name and line or nil
end

-- <testcase> with `file` (the scenario path, for annotations: readers such
-- as action-junit-report otherwise guess a file from the classname) and
-- `line` when the failure's line in it is known
local function open_case(suite, name, elapsed, diag)
  local line = failure_line(suite, diag)
  local cases = suite.cases
  cases[#cases + 1] = string.format('    <testcase name="%s" classname="%s" file="%s"%s time="%.3f">\n',
    attr(cut(name, NAME_MAX)), attr(suite.name), attr(suite.name),
    line and string.format(' line="%s"', line) or "", elapsed)
end

-- <tag message="diag.message">YAML of diag</tag>; body: that YAML when
-- the caller has it already
local function problem(suite, diag, tag, body)
  local message
  if type(diag) == "table" then
    body = body or yaml.block(diag, 0)
    message = rawget(diag, "message")
    message = (type(message) == "string" or type(message) == "number") and tostring(message) or nil
  end
  local cases = suite.cases
  cases[#cases + 1] = string.format('      <%s message="%s">%s</%s>\n', tag,
    attr(message and cut(message, yaml.SCALAR_MAX) or "failed"), xml(body or ""), tag)
end

-- case(suite, t): one test point; t has name, ok, directive, reason,
-- elapsed, diag and output as the reporter's test() got them, and
-- diag_yaml, the YAML of diag at indentation 0 when the caller made it
function M.case(suite, t)
  open_case(suite, t.name or "", t.elapsed, not t.ok and not t.directive and t.diag or nil)
  suite.tests = suite.tests + 1
  local cases = suite.cases
  if t.directive then
    cases[#cases + 1] = string.format('      <skipped message="%s%s"/>\n',
      t.directive == "TODO" and "TODO: " or "", attr(t.reason and cut(t.reason, NAME_MAX) or ""))
    suite.skipped = suite.skipped + 1
  elseif not t.ok then
    problem(suite, t.diag, "failure", t.diag_yaml)
    suite.failures = suite.failures + 1
  end
  if t.output and #t.output > 0 then
    cases[#cases + 1] = "      <system-out>" .. xml(cut(t.output, OUTPUT_MAX)) .. "</system-out>\n"
  end
  cases[#cases + 1] = "    </testcase>\n"
end

-- file_error(suite, diag, elapsed): the file failed as a whole
function M.file_error(suite, diag, elapsed)
  open_case(suite, "the file as a whole", elapsed, diag)
  problem(suite, diag, "error")
  suite.cases[#suite.cases + 1] = "    </testcase>\n"
  suite.tests = suite.tests + 1
  suite.errors = suite.errors + 1
end

-- file_skipped(suite, reason): the file ran no test (none matched the
-- filter, or it has none): one skipped testcase, so it counts as skipped
-- here as in the TAP and the closing line
function M.file_skipped(suite, reason)
  M.case(suite, { name = "the file as a whole", ok = true, directive = "SKIP", reason = reason,
                  elapsed = 0 })
end

-- output(suite, text): a file-level note, for the suite's <system-out>
function M.output(suite, s)
  suite.out[#suite.out + 1] = xml(s) .. "\n"
end

local function suite_xml(suite, elapsed, timestamp)
  local parts = { string.format('  <testsuite name="%s" tests="%d" failures="%d" errors="%d" '
    .. 'skipped="%d" time="%.3f" timestamp="%s">\n', attr(suite.name), suite.tests,
    suite.failures, suite.errors, suite.skipped, elapsed, timestamp) }
  parts[2] = table.concat(suite.cases)
  if #suite.out > 0 then
    parts[3] = "    <system-out>" .. table.concat(suite.out) .. "</system-out>\n"
  end
  parts[#parts + 1] = "  </testsuite>\n"
  return table.concat(parts)
end

-- The run that bailed out: an errored testcase with the reason, timed
-- from the start of the run to the bail-out.
local function bail_xml(bail)
  return string.format('  <testsuite name="Bail out!" tests="1" failures="0" errors="1" '
    .. 'skipped="0" time="%.3f" timestamp="%s">\n'
    .. '    <testcase name="Bail out!" classname="mpod-lua" time="%.3f">\n'
    .. '      <error message="%s">%s</error>\n    </testcase>\n  </testsuite>\n',
    bail.elapsed, bail.timestamp, bail.elapsed, attr(bail.reason), xml(bail.reason))
end

-- write(path, files, elapsed, bail) -> true | nil, "PATH: reason": files are the
-- reporter's file records ({junit = suite, elapsed =, timestamp =}), bail
-- nil or {reason =, timestamp =, elapsed =}
function M.write(path, files, elapsed, bail)
  local tests, failures, errors = 0, 0, 0
  for _, f in ipairs(files) do
    local s = f.junit
    tests, failures, errors = tests + s.tests, failures + s.failures, errors + s.errors
  end
  if bail then tests, errors = tests + 1, errors + 1 end
  -- no `skipped` here: the Jenkins xunit schema (junit-10.xsd) rejects it
  -- on <testsuites>; each <testsuite> has its own
  local parts = { string.format('<?xml version="1.0" encoding="UTF-8"?>\n'
    .. '<testsuites name="mpod-lua" tests="%d" failures="%d" errors="%d" time="%.3f">\n',
    tests, failures, errors, elapsed) }
  for _, f in ipairs(files) do parts[#parts + 1] = suite_xml(f.junit, f.elapsed, f.timestamp) end
  if bail then parts[#parts + 1] = bail_xml(bail) end
  parts[#parts + 1] = "</testsuites>\n"
  local out, err = io.open(path, "w")
  if not out then return nil, err end                -- "PATH: reason"
  local ok, werr = out:write(table.concat(parts))
  local closed, cerr = out:close()
  if ok and closed then return true end
  return nil, path .. ": " .. tostring(werr or cerr)
end

return M
