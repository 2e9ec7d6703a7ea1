-- mpod/runner/report_html.lua: the runner's half of --report DIR
-- (docs/report.md): it makes the folder before the first file runs,
-- follows the files and tests as the reporter sees them, and at the end
-- writes DIR/index.html (the run summary: every file and test with its
-- status, time and failure message, each file linking its timeline),
-- DIR/data/index.json (the same summary as data) and the page's assets
-- DIR/assets/report.js and report.css, which are compiled into the binary
-- (gen_bundle embeds lua/mpod/runner/assets/*.js and *.css).
--
-- Each scenario process writes its own file's data and page
-- (mpod.scenario.report_data) and says how big they were and how long
-- they took: the closing message adds those up. A file whose process did
-- not get that far gets its timeline from its history file (file_history).

local json = require "mpod.json"
local redact = require "mpod.redact"
local sched = require "mpod.sched"
local sys = require "mpod.sys"

local M = {}
local Report = {}
Report.__index = Report

local ASSETS = { "report.js", "report.css" }

local report_files = require "mpod.report_files"
local slug, html = report_files.slug, report_files.html

-- new(dir) -> a report writer | nil, error (the folder cannot be made)
function M.new(dir)
  for _, sub in ipairs { "", "/data", "/files", "/assets" } do
    local ok, err = sys.mkdir_p(dir .. sub)
    if not ok then return nil, string.format("cannot create %s: %s", dir .. sub, tostring(err)) end
  end
  return setmetatable({ dir = dir, files = {}, taken = {}, bytes = 0, seconds = 0, errors = {},
                        started = sched.now() }, Report)
end

-- set_pods(description): the cluster's pods (not one-shot services), for
-- the timelines the runner writes itself
function Report:set_pods(description)
  local names = {}
  for _, p in ipairs((description or {}).pods or {}) do
    if not p.oneshot then names[#names + 1] = p.name end
  end
  table.sort(names)
  self.pods = names
end

-- asset(name) -> the text of an embedded asset
function M.asset(name)
  return require("mpod.runner.assets." .. name)
end

function Report:file(index, name)
  local f = self.files[index]
  if not f then
    f = { name = name, slug = report_files.unique(self.taken, slug(name or "")), tests = {}, started = sched.now() }
    self.files[index] = f
  end
  return f
end

-- slug_of(index) -> the name of the file's pages and data in the report
function Report:slug_of(index)
  return self:file(index).slug
end

-- file_begin(index, file): the runner admitted a file
function Report:file_begin(index, file)
  self:file(index, file)
end

-- test(index, msg): a test event the reporter got
function Report:test(index, msg)
  local f = self:file(index)
  local diag = msg.diag or {}
  local status = msg.directive == "SKIP" and "skip" or msg.directive == "TODO" and "todo"
    or msg.ok and "pass" or "fail"
  f.tests[#f.tests + 1] = { name = msg.name, status = status, elapsed = msg.elapsed or diag.elapsed,
    message = not msg.ok and diag.message or msg.reason, at = diag.at }
end

-- written(index, msg): the scenario process wrote its data ({bytes=,
-- seconds=} or {error=})
function Report:written(index, msg)
  local f = self:file(index)
  if msg.error then
    self.errors[#self.errors + 1] = (f.name or "?") .. ": " .. tostring(msg.error)
    return
  end
  f.has_timeline = true
  self.bytes = self.bytes + (tonumber(msg.bytes) or 0)
  self.seconds = self.seconds + (tonumber(msg.seconds) or 0)
end

-- file_end(index, ok, diag): the file is over (diag: what failed the file
-- itself, a crash or a timeout)
function Report:file_end(index, ok, diag)
  local f = self:file(index)
  f.ok, f.elapsed = ok, sched.now() - f.started
  if diag then f.message = diag.message end
end

-- A file whose process ended before writing its data (killed by the file
-- timeout, crashed): its timeline comes from the history file the process
-- appended to as it ran (mpod.runner.histories), without log lines; its
-- tests are the history's test ops.

-- read_history(path) -> the ops of a JSON lines history file (its first
-- line may be a header without an index: left out)
local function read_history(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local ops = json.array()
  for line in f:lines() do
    local ok, op = pcall(json.decode, line)
    if ok and type(op) == "table" and op.index ~= nil then ops[#ops + 1] = op end
  end
  f:close()
  return ops
end

local TEST_STATUS = { ok = "pass", fail = "fail", info = "skip" }

-- tests_of(ops) -> the tests as the data has them, from the history's
-- test ops (a test never completed ran until the process ended)
local function tests_of(ops, last_time)
  local tests, by_invoke = json.array(), {}
  for _, op in ipairs(ops) do
    if op.f == "test" and op.type == "invoke" then
      local t = { name = op.value, start = op.time, status = "fail",
                  message = "the file's process ended during this test" }
      t["end"] = last_time
      tests[#tests + 1], by_invoke[op.index] = t, t
    elseif op.f == "test" and by_invoke[op.invoke] then
      local t = by_invoke[op.invoke]
      t["end"], t.status = op.time, TEST_STATUS[op.type] or op.type
      t.message = type(op.error) == "table" and op.error.message or nil
      t.at = op.at
      if op.type == "fail" then t.failed_at = op.time end
    end
  end
  return tests
end

-- file_history{index=, file=, history=}: after each file (run.lua's
-- on_file_end); writes the file's data from its history when its process
-- wrote none
function Report:file_history(info)
  local f = self:file(info.index, info.file)
  if f.has_timeline or not info.history then return end
  local started = sched.now()
  local ops = read_history(info.history)
  if not ops then return end
  local last = f.elapsed or 0          -- the file ran at least until its last op
  for _, op in ipairs(ops) do if type(op.time) == "number" and op.time > last then last = op.time end end
  local data = { format = report_files.FORMAT, file = f.name, slug = f.slug, duration = last,
                 pods = json.array(self.pods or {}), tests = tests_of(ops, last), ops = ops,
                 logs = json.array(), from_history = true }
  local bytes, err = report_files.write_file_data(self.dir, f.slug, f.name, redact.redact(json.encode(data)))
  if not bytes then
    self.errors[#self.errors + 1] = f.name .. ": " .. tostring(err)
    return
  end
  self:written(info.index, { bytes = bytes, seconds = sched.now() - started })
end

-- The summary page ---------------------------------------------------------

local function last_index(t)
  local n = 0
  for i in pairs(t) do n = math.max(n, i) end
  return n
end

local function seconds(s)
  return s and string.format("%.2f s", s) or ""
end

local function counts(files)
  local c = { pass = 0, fail = 0, skip = 0, todo = 0 }
  for _, f in pairs(files) do
    for _, t in ipairs(f.tests) do c[t.status] = (c[t.status] or 0) + 1 end
  end
  return c
end

local function test_rows(out, f)
  for _, t in ipairs(f.tests) do
    local link = f.has_timeline and string.format(' <a class="tl" href="files/%s.html#test=%s">timeline</a>',
      html(f.slug), html(t.name:gsub("[^%w%-_.~]", function(c) return string.format("%%%02X", c:byte()) end)))
      or ""
    out[#out + 1] = string.format('<tr class="test %s"><td class="status">%s</td><td class="name">%s%s</td>' ..
      '<td class="time">%s</td><td class="message">%s%s</td></tr>',
      t.status, t.status, html(t.name), link, seconds(t.elapsed), html(t.message or ""),
      t.at and ('<span class="at">' .. html(t.at) .. "</span>") or "")
  end
end

local function file_rows(out, files)
  for i = 1, last_index(files) do
    local f = files[i]
    if f then
      local state = f.ok == false and "fail" or "pass"
      local name = f.has_timeline and string.format('<a href="files/%s.html">%s</a>', html(f.slug), html(f.name))
        or html(f.name)
      out[#out + 1] = string.format('<tbody class="file %s" data-file="%s"><tr class="file-row">' ..
        '<td class="status">%s</td><td class="name">%s</td><td class="time">%s</td>' ..
        '<td class="message">%s</td></tr>', state, html(f.name), state, name, seconds(f.elapsed),
        html(f.message or ""))
      test_rows(out, f)
      out[#out + 1] = "</tbody>"
    end
  end
end

function Report:index_html(totals)
  local c = counts(self.files)
  if totals then               -- the closing line's counts, which count failed files too
    c.pass, c.fail, c.skip, c.todo = totals.passed or c.pass, totals.failed or c.fail,
      totals.skipped or c.skip, totals.todo or c.todo
  end
  local out = { string.format([[<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mpod-lua report</title>
<link rel="stylesheet" href="assets/report.css">
</head><body class="index-page">
<header class="top"><h1>mpod-lua report</h1>
<p class="summary"><span class="pass">%d passed</span>, <span class="fail">%d failed</span>, <span class="skip">%d skipped</span>%s &middot; %s &middot; %s</p></header>
<main><table class="runs"><thead><tr><th>status</th><th>file / test</th><th>time</th><th>message</th></tr></thead>
]], c.pass, c.fail, c.skip, c.todo > 0 and string.format(", %d todo", c.todo) or "",
    html(self.header or ""), os.date("!%Y-%m-%d %H:%M:%S UTC")) }
  file_rows(out, self.files)
  out[#out + 1] = "</table></main>\n</body></html>\n"
  return redact.redact(table.concat(out))
end

function Report:index_data()
  local files = json.array()
  for i = 1, last_index(self.files) do
    local f = self.files[i]
    if f then
      local tests = json.array()
      for j, t in ipairs(f.tests) do tests[j] = t end
      files[#files + 1] = { file = f.name, slug = f.slug, ok = f.ok ~= false, elapsed = f.elapsed,
        message = f.message, tests = tests, timeline = f.has_timeline and ("files/" .. f.slug .. ".html") or nil }
    end
  end
  return { format = report_files.FORMAT, header = self.header, files = files }
end

local function write(path, text)
  local f, err = io.open(path, "wb")
  if not f then return nil, err end
  f:write(text)
  f:close()
  return #text
end

-- finish(totals) -> the closing message (path, size, time) | nil, error
function Report:finish(totals)
  local started = sched.now()
  local bytes = self.bytes
  local pieces = {
    { "/index.html", self:index_html(totals) },
    { "/data/index.json", redact.redact(json.encode(self:index_data())) .. "\n" },
  }
  for _, name in ipairs(ASSETS) do pieces[#pieces + 1] = { "/assets/" .. name, M.asset(name) } end
  for _, p in ipairs(pieces) do
    local n, err = write(self.dir .. p[1], p[2])
    if not n then return nil, string.format("cannot write %s: %s", self.dir .. p[1], tostring(err)) end
    bytes = bytes + n
  end
  local took = self.seconds + (sched.now() - started)
  local text = string.format("report written to %s/index.html (%s, %.2f s to write)",
    self.dir, M.size_text(bytes), took)
  if #self.errors > 0 then
    text = text .. "; no timeline for " .. table.concat(self.errors, "; ")
  end
  return text
end

-- size_text(bytes) -> "812 B", "12.3 KiB", "4.1 MiB"
function M.size_text(bytes)
  if bytes < 1024 then return string.format("%d B", bytes) end
  if bytes < 1024 * 1024 then return string.format("%.1f KiB", bytes / 1024) end
  return string.format("%.1f MiB", bytes / (1024 * 1024))
end

return M
