-- mpod/scenario/report_data.lua: the data of one file's timeline for
-- --report DIR (docs/report.md), gathered in the scenario process, which
-- has it all: the history (every operation the file made), the tests with
-- their times and diagnostics, and the pods' log lines (asked from the
-- runner once, at the file's end, with their times).
--
-- At the file's end, write() puts DIR/data/<slug>.json, DIR/data/<slug>.js
-- (the same object assigned to a global, so a page opened from file:// can
-- load it with a <script> tag: browsers refuse fetch() there) and
-- DIR/files/<slug>.html, the page that draws it (mpod.runner.report_html
-- writes the shared assets and the index). Times are seconds since the
-- file started, on the monotonic clock the history uses.

local json = require "mpod.json"
local files = require "mpod.report_files"
local redact = require "mpod.redact"
local runtime = require "mpod.scenario.runtime"
local sched = require "mpod.sched"

local M = {}

M.LOG_LINES = 5000          -- log lines kept per pod (the last ones)
M.LOG_LINE_MAX = 300        -- bytes of one log line
M.DIAG_MAX = 8192           -- bytes of one string of a failed test's diagnostics
local LOGS_TIMEOUT = 10

local state = {
  dir = nil,                -- the report folder, nil when --report is off
  t0 = nil,                 -- sched.now() when the file started
  wall0 = nil,              -- the wall clock then
  tests = {},               -- in the order they ran
  current = nil,
}

-- begin(dir, slug): the file starts now; dir is --report's folder (or
-- nil), slug the name of the file's data and page there (the runner's:
-- unique in the run)
function M.begin(dir, slug)
  state.dir, state.slug = dir, slug
  state.t0, state.wall0 = sched.now(), sched.wallclock()
  state.tests, state.current = {}, nil
end

-- origin() -> the sched.now() value time 0 of the file stands for: the
-- history's, when there is one (its ops' times count from it)
function M.origin()
  local ok, history = pcall(require, "mpod.scenario.history")
  local h = ok and type(history) == "table" and history.current and history.current()
  if h and type(h.t0) == "number" then return h.t0 end
  return state.t0 or sched.now()
end

local function micro(t) return math.floor(t * 1e6 + 0.5) / 1e6 end

-- time() -> seconds since the file started (to the microsecond)
function M.time()
  return micro(sched.now() - M.origin())
end

local function status_of(ev)
  if ev.directive == "SKIP" then return "skip" end
  if ev.directive == "TODO" then return ev.ok and "todo-passed" or "todo" end
  return ev.ok and "pass" or "fail"
end

-- A diagnostics value as the data keeps it: strings cut to DIAG_MAX bytes
-- and redacted, numbers and booleans as they are, a table (logs: pod ->
-- lines) one level deep; anything else as text.
local function diag_value(v, depth)
  local tv = type(v)
  if tv == "string" then
    if #v > M.DIAG_MAX then v = v:sub(1, M.DIAG_MAX) .. "... (cut)" end
    return redact.redact(v)
  elseif tv == "number" or tv == "boolean" then
    return v
  elseif tv == "table" and depth < 2 then
    local out = {}
    for k, x in next, v do out[tostring(k)] = diag_value(x, depth + 1) end
    return out
  end
  return redact.redact(tostring(v))
end

-- diag_fields(diag) -> the fields of a failed test's YAML diagnostics, as
-- data (the page shows them as the TAP does)
local function diag_fields(diag)
  local ok, out = pcall(diag_value, diag, 0)
  return ok and out or { message = "(the diagnostics cannot be shown)" }
end

-- on_event(ev [, failed_at]): follow the test events the file emits;
-- failed_at is the sched.now() of the failure, when known
function M.on_event(ev, failed_at)
  if not state.dir then return end
  if ev.ev == "test_start" then
    state.current = { name = ev.name, start = M.time() }
  elseif ev.ev == "test" then
    local t = state.current
    if not t or t.name ~= ev.name then t = { name = ev.name, start = M.time() } end
    state.current = nil
    t["end"] = M.time()
    t.status = status_of(ev)
    t.reason = ev.reason
    if ev.diag then
      t.message = ev.diag.message and redact.redact(tostring(ev.diag.message)) or nil
      t.at = ev.diag.at
      t.diag = diag_fields(ev.diag)
    end
    if failed_at and not ev.ok then t.failed_at = micro(failed_at - M.origin()) end
    state.tests[#state.tests + 1] = t
  end
end

-- Log lines ---------------------------------------------------------------

-- Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm):
-- os.time would read the fields in the local time zone.
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (m + (m > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- iso_seconds(text) -> the wall-clock seconds of "2026-01-31T12:00:00.123Z"
-- (any number of fraction digits, as Docker writes them), or nil
function M.iso_seconds(text)
  local y, mo, d, h, mi, s, frac = text:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)T(%d%d):(%d%d):(%d%d)(%.?%d*)Z$")
  if not y then return nil end
  local secs = days_from_civil(tonumber(y), tonumber(mo), tonumber(d)) * 86400
    + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s)
  return secs + (tonumber("0" .. frac) or 0)
end

-- parse_logs(text, pod, into): the stamped lines of text (the runner's
-- `logs` with stamps) as {time, pod, line} rows
function M.parse_logs(text, pod, into, wall0)
  for stamp, line in text:gmatch("(%S+) ([^\n]*)\n") do
    local wall = M.iso_seconds(stamp)
    if wall then
      if #line > M.LOG_LINE_MAX then line = line:sub(1, M.LOG_LINE_MAX) .. "..." end
      into[#into + 1] = { math.floor((wall - wall0) * 1000 + 0.5) / 1000, pod, line }
    end
  end
end

-- The lines each pod wrote since the file started (the last LOG_LINES of
-- each), redacted, in time order.
local function pod_logs(pods)
  local rows = json.array()
  if not runtime.channel then return rows end
  for _, pod in ipairs(pods) do
    local ok, text = pcall(runtime.request, { op = "pod", pod = pod, action = "logs",
      args = { since = state.wall0, tail = M.LOG_LINES, stamps = true } }, LOGS_TIMEOUT)
    if ok and type(text) == "string" then M.parse_logs(redact.redact(text), pod, rows, state.wall0) end
  end
  table.sort(rows, function(a, b) return a[1] < b[1] end)
  return rows
end

-- The pods of the run's cluster (not one-shot services), sorted.
local function cluster_pods()
  local names = {}
  for _, p in ipairs((runtime.cluster or {}).pods or {}) do
    if not p.oneshot then names[#names + 1] = p.name end
  end
  table.sort(names)
  return names
end

-- The history's operations (h:ops(): copies, redacted by the history) as
-- a JSON array, and its counters; an empty list when there is no history.
local function history_ops()
  local ok, history = pcall(require, "mpod.scenario.history")
  if not ok or type(history) ~= "table" or not history.current then return json.array(), nil end
  local h = history.current()
  if not h then return json.array(), nil end
  return json.array(h:ops()), h.stats and h:stats() or nil
end

-- Writing -----------------------------------------------------------------

-- data(file) -> the file's report data (a table ready for JSON)
function M.data(file)
  local ops, stats = history_ops()
  local pods = cluster_pods()
  local tests = json.array()
  for i, t in ipairs(state.tests) do tests[i] = t end
  return {
    format = files.FORMAT, file = file, slug = state.slug or files.slug(file),
    started = os.date("!%Y-%m-%dT%H:%M:%S", math.floor(state.wall0 or 0)) .. "Z",
    duration = math.floor(M.time() * 1000 + 0.5) / 1000,
    pods = json.array(pods), tests = tests, ops = ops, stats = stats,
    logs = pod_logs(pods),
  }
end

-- write(file) -> bytes written, seconds taken | nil, error: the file's
-- data and page in the report folder (nothing without --report)
function M.write(file)
  if not state.dir then return 0, 0 end
  local started = sched.now()
  -- one pass over the whole text: the history redacted the headers and
  -- bodies it keeps already; this catches the cluster's secrets anywhere
  local text = redact.redact(json.encode(M.data(file)))
  local bytes, err = files.write_file_data(state.dir, state.slug or files.slug(file), file, text)
  if not bytes then return nil, err end
  return bytes, sched.now() - started
end

return M
