-- report: the runner's reporter (mpod.runner.report): TAP on stdout,
-- JUnit XML, the progress line and the closing line on stderr.
--
-- One reporter per run. Each scenario file is a TAP subtest: its lines are
-- kept per file and written in file order, so with -j N the output is the
-- same as with -j 1, while the file at the head of the order streams live.
-- stdout carries TAP only. A file's top-level point is "not ok" when a
-- test in it failed or the runner reported the file itself failed (crash,
-- timeout, load error); the latter counts as one failure of its own.
--
-- Every argument a method is given passes through mpod.redact's
-- redact_all before it is stored or written, so no secret reaches stdout,
-- the JUnit file or the progress line, whoever calls the reporter. The
-- formats are in the modules beside this one: text (escaping), yaml (the
-- diagnostics blocks), junit, progress.

local errors = require "mpod.error"
local junit = require "mpod.runner.report.junit"
local progress = require "mpod.runner.report.progress"
local redact_all = require("mpod.redact").redact_all
local sched = require "mpod.sched"
local sys = require "mpod.sys"
local text = require "mpod.runner.report.text"
local yaml = require "mpod.runner.report.yaml"

local M = {}

local SUBTEST_INDENT = "    "
local NAME_MAX = 1024                   -- bytes of a test name or reason
local NOTE_LINE_MAX = 16384             -- bytes of one comment line
local NOTES_FILE_MAX = 1 << 20          -- bytes of notes per file
local NOTES_CUT = "(notes past 1 MiB in this file are left out)"

M.stderr_is_tty = sys.isatty(2)
M.escape_name = text.tap_name
M.yaml = yaml.block

local Reporter = {}
Reporter.__index = Reporter

local function utc_timestamp() return os.date("!%Y-%m-%dT%H:%M:%S") end

-- A text field, read raw: a string, a number's text, or nil for anything
-- else.
local function field(t, name)
  local v = rawget(t, name)
  local kind = type(v)
  if kind == "string" then return v end
  if kind == "number" then return tostring(v) end
  return nil
end

local function check_text(v, what)
  if type(v) == "number" then return tostring(v) end
  if type(v) ~= "string" then errors.usage(what .. " must be a string") end
  return v
end

local function check_table(v, what)
  if type(v) ~= "table" then errors.usage(what .. " must be a table") end
  return v
end

-- new{tap_version=13|14, junit=path, progress=bool (a progress line on
-- stderr), total=n (files expected)} -> reporter
function M.new(opts)
  check_table(opts, "report.new's options")
  local version = opts.tap_version or 13
  if version ~= 13 and version ~= 14 then
    errors.usage("report.new: tap_version must be 13 or 14, not " .. tostring(version))
  end
  return setmetatable({
    tap_version = math.tointeger(version), progress = opts.progress and progress.new() or nil,
    total = opts.total or 0, junit_path = opts.junit, files = {}, head = 1, done = 0,
    passed = 0, failed = 0, skipped = 0, todo = 0, files_failed = 0, t0 = sched.now(),
  }, Reporter)
end

-- Output ----------------------------------------------------------------------------

local function write_out(s)
  if #s > 0 then io.stdout:write(s) end
end

local function ensure_header(r)
  if r.header_done then return end
  r.header_done = true
  io.stdout:write("TAP version ", r.tap_version, "\n")
end

-- Write what can be written: the head file's new lines, and every file
-- after it that has ended.
local function pump(r)
  if r.bailed then return end
  ensure_header(r)
  local files = r.files
  while r.head <= #files do
    local f = files[r.head]
    if f.printed < #f.tap then
      write_out(table.concat(f.tap, "", f.printed + 1))
      f.printed = #f.tap
    end
    if not f.ended then break end
    write_out(table.concat(f.trailer))
    r.head = r.head + 1
  end
  io.stdout:flush()
end

local function show_progress(r, file, test, file_ended)
  if not r.progress then return end
  r.progress:update({ done = r.done, total = math.max(r.total, #r.files), passed = r.passed,
                      failed = r.failed, skipped = r.skipped, file = file, test = test },
                    file_ended)
end

local function check_file(r, index)
  local f = r.files[math.tointeger(tonumber(index) or 0) or 0]
  if not f then errors.usage("report: no such file index " .. tostring(index)) end
  return f
end

local function check_open(f)
  if f.ended then errors.usage("report: file " .. f.name .. " already ended") end
  return f
end

-- " # DIRECTIVE reason"
local function directive_text(directive, reason)
  if not directive then return "" end
  if reason and #reason > 0 then return " # " .. directive .. " " .. text.tap_cut(reason, NAME_MAX) end
  return " # " .. directive
end

-- "ok N - name # DIRECTIVE reason" and the diagnostics' YAML, if any.
local function add_point(buf, indent, number, ok, name, directive, reason, diag_yaml)
  buf[#buf + 1] = string.format("%s%sok %d - %s%s\n", indent, ok and "" or "not ", number,
    text.tap_cut(name or "", NAME_MAX), directive_text(directive, reason))
  if diag_yaml then buf[#buf + 1] = diag_yaml end
end

-- Text as comment lines ("# ...") at the given indentation, each line cut
-- to NOTE_LINE_MAX bytes; a final newline ends the last line.
local function add_comment(buf, s, indent)
  if s:byte(-1) == 10 then s = s:sub(1, -2) end
  for line in (s .. "\n"):gmatch("(.-)\n") do
    buf[#buf + 1] = indent .. "# " .. text.tap_cut(line, NOTE_LINE_MAX) .. "\n"
  end
end

-- Methods ---------------------------------------------------------------------------

-- r:file_begin(name) -> index
function Reporter:file_begin(name)
  name = check_text(redact_all(name), "report: a file name")
  local f = { name = name, tap = { "# Subtest: " .. text.tap_name(name) .. "\n" }, printed = 0,
              trailer = {}, junit = junit.new_suite(name), notes_bytes = 0, ntests = 0,
              passed = 0, failed = 0, skipped = 0, todo = 0, started = sched.now(),
              timestamp = utc_timestamp() }
  self.files[#self.files + 1] = f
  f.index = #self.files
  pump(self)
  show_progress(self, name, nil)
  return #self.files
end

local function count_test(r, f, ok, directive)
  local counter = directive == "SKIP" and "skipped" or directive == "TODO" and "todo"
                  or ok and "passed" or "failed"
  f[counter] = f[counter] + 1
  r[counter] = r[counter] + 1
end

-- r:test(index, {name=, ok=, directive=, reason=, diag=, elapsed=, output=})
function Reporter:test(index, t)
  local f = check_open(check_file(self, index))
  check_table(t, "report: a test")
  t = redact_all(t)
  local ok = rawget(t, "ok") and true or false
  local elapsed = rawget(t, "elapsed")
  local point = { name = field(t, "name"), ok = ok, directive = field(t, "directive"),
                  reason = field(t, "reason"), diag = rawget(t, "diag"),
                  elapsed = (type(elapsed) == "number" or type(elapsed) == "string")
                            and tonumber(elapsed) or 0, output = field(t, "output") }
  f.ntests = f.ntests + 1
  count_test(self, f, ok, point.directive)
  local diag_tap
  if type(point.diag) == "table" then
    diag_tap, point.diag_yaml = yaml.blocks(point.diag, #SUBTEST_INDENT + 2)
  end
  add_point(f.tap, SUBTEST_INDENT, f.ntests, ok, point.name, point.directive, point.reason,
    diag_tap)
  junit.case(f.junit, point)
  pump(self)
  show_progress(self, f.name, point.name)
end

-- r:note(index, text): a comment inside the file's subtest; past
-- NOTES_FILE_MAX bytes of notes in a file, one line says the rest is left out
function Reporter:note(index, s)
  local f = check_file(self, index)
  s = check_text(redact_all(s), "report: a note")
  local kept = text.cut(s, NOTES_FILE_MAX - f.notes_bytes)
  f.notes_bytes = f.notes_bytes + #kept
  if #kept > 0 then
    if not f.ended then add_comment(f.tap, kept, SUBTEST_INDENT) end
    junit.output(f.junit, kept)
  end
  if #kept < #s and not f.notes_cut then
    f.notes_cut = true
    if not f.ended then add_comment(f.tap, NOTES_CUT, SUBTEST_INDENT) end
    junit.output(f.junit, NOTES_CUT)
  end
  pump(self)
end

-- r:comment(text [, index]): a top-level comment, after file `index`'s
-- point when given (or after the latest file), else at once.
function Reporter:comment(s, index)
  s = check_text(redact_all(s), "report: a comment")
  if #self.files == 0 or self.head > #self.files then
    local buf = {}
    add_comment(buf, s, "")
    ensure_header(self)
    if not self.bailed then write_out(table.concat(buf)) end
    io.stdout:flush()
    return
  end
  local f = index == nil and self.files[#self.files] or check_file(self, index)
  add_comment(f.trailer, s, "")
  pump(self)
end

-- r:file_end(index, {ok=, directive=, reason=, diag=}) -> ok
function Reporter:file_end(index, t)
  local f = check_open(check_file(self, index))
  check_table(t, "report: a file's end")
  t = redact_all(t)
  f.failed_itself = rawget(t, "ok") == false
  local ok = not f.failed_itself and f.failed == 0
  if f.failed_itself then self.failed = self.failed + 1 end
  if not ok then self.files_failed = self.files_failed + 1 end
  f.elapsed = sched.now() - f.started
  local diag = rawget(t, "diag")
  if f.failed_itself then junit.file_error(f.junit, diag, f.elapsed) end
  local directive, reason = field(t, "directive"), field(t, "reason")
  local skipped_whole = f.ntests == 0 and directive == "SKIP"
  if skipped_whole then                 -- one skip, in the counts and in JUnit too
    count_test(self, f, true, "SKIP")
    junit.file_skipped(f.junit, reason)
  end
  f.tap[#f.tap + 1] = string.format("%s1..%d%s\n", SUBTEST_INDENT, f.ntests,
    skipped_whole and directive_text(directive, reason) or "")
  add_point(f.tap, "", f.index, ok, f.name, directive, reason,
    type(diag) == "table" and yaml.block(diag, 2) or nil)
  f.ended = true
  self.done = self.done + 1
  pump(self)
  show_progress(self, f.name, nil, true)
  return ok
end

-- r:bail(reason): "Bail out!" and no more TAP
function Reporter:bail(reason)
  reason = check_text(redact_all(reason), "report: a bail-out reason")
  pump(self)
  write_out("Bail out! " .. text.tap_name(reason) .. "\n")
  io.stdout:flush()
  if not self.bail_reason then
    self.bail_reason = text.cut(reason, yaml.SCALAR_MAX)
    self.bail_timestamp = utc_timestamp()
    self.bail_elapsed = sched.now() - self.t0
  end
  self.bailed = true
end

-- r:finish() -> totals {passed, failed, skipped, todo, files, files_failed,
-- elapsed, junit_error}: prints the plan, writes JUnit, the closing line
function Reporter:finish()
  if self.finished then errors.usage("report: the run already finished") end
  self.finished = true
  local elapsed = sched.now() - self.t0
  pump(self)
  if not self.bailed then
    io.stdout:write("1..", #self.files, "\n")
    io.stdout:flush()
  end
  if self.progress then self.progress:clear() end
  io.stderr:write(string.format("mpod-lua: %d passed, %d failed, %d skipped%s (%.1f s)\n",
    self.passed, self.failed, self.skipped,
    self.todo > 0 and string.format(", %d todo", self.todo) or "", elapsed))
  local totals = { passed = self.passed, failed = self.failed, skipped = self.skipped,
                   todo = self.todo, files = #self.files, files_failed = self.files_failed,
                   elapsed = elapsed }
  if self.junit_path then
    for _, f in ipairs(self.files) do     -- cut short by a bail-out (SIGINT...)
      if not f.ended then
        f.elapsed = sched.now() - f.started
        junit.file_error(f.junit, { message = "the run stopped before this file ended: "
          .. (self.bail_reason or "the reporter finished") }, f.elapsed)
      end
    end
    local written, err = junit.write(self.junit_path, self.files, elapsed, self.bail_reason
      and { reason = self.bail_reason, timestamp = self.bail_timestamp,
            elapsed = self.bail_elapsed })
    if not written then totals.junit_error = err end
  end
  return totals
end

return M
