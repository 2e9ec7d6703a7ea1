-- progress.lua: the progress line on stderr when it is a terminal: files
-- done of all, the counts so far, the file and test running.
--
-- On a terminal that takes control sequences, one line is redrawn in
-- place ("\r" and ESC [K, erase to the end of the line) at every file and
-- test, cut to the terminal's width so it never wraps (a wrapped line
-- cannot be redrawn and leaves stale rows): COLUMNS when it is set, else
-- the terminal's own size (TIOCGWINSZ), else 80, counting one column a
-- character. With TERM=dumb, or NO_COLOR set to anything, no control
-- sequence is written: a plain line each time a file ends instead.

local sys = require "mpod.sys"
local text = require "mpod.runner.report.text"

local M = {}

local CLEAR = "\r\27[K"
local DEFAULT_WIDTH = 80

-- width() -> the columns the line may use
function M.width()
  local columns = math.tointeger(tonumber(os.getenv("COLUMNS") or ""))
  if columns and columns > 0 then return columns end
  return sys.terminal_size(2) or DEFAULT_WIDTH
end

-- plain() -> true when no control sequence may be written
function M.plain()
  local no_color = os.getenv("NO_COLOR")
  return os.getenv("TERM") == "dumb" or (no_color ~= nil and no_color ~= "")
end

-- fit(s, width) -> s cut to width - 1 characters: the last column stays
-- empty, since a line that fills it wraps on some terminals
function M.fit(s, width)
  local max = math.max(width - 1, 1)
  if utf8.len(s) <= max then return s end
  return s:sub(1, utf8.offset(s, max + 1) - 1)
end

-- line(state) -> the text of the line, on one line whatever the names
-- hold; state has done, total, passed, failed, skipped, file, test
function M.line(s)
  local line = string.format("[%d/%d] %d passed, %d failed, %d skipped  %s%s%s", s.done,
    s.total, s.passed, s.failed, s.skipped, s.file or "", s.test and " > " or "", s.test or "")
  return (text.valid(line):gsub("[%z\1-\31\127]", " "))
end

local Progress = {}
Progress.__index = Progress

-- new() -> a progress line for this process's stderr, its mode fixed now
function M.new()
  return setmetatable({ plain = M.plain() }, Progress)
end

-- p:update(state [, file_ended]): redraw the line; in plain mode, print
-- it only when a file has ended
function Progress:update(s, file_ended)
  if self.plain then
    if file_ended then io.stderr:write(M.line(s), "\n") end
  else
    io.stderr:write(CLEAR, M.fit(M.line(s), M.width()))
  end
  io.stderr:flush()
end

-- p:clear(): empty the line before the closing line
function Progress:clear()
  if not self.plain then io.stderr:write(CLEAR) end
end

return M
