-- progress.lua: the live progress line on stderr when it is a terminal:
-- files done of all, the counts so far, the file and test running. Each
-- update rewrites the line in place; clear() empties it before the
-- closing line.

local M = {}

local CLEAR = "\r\27[K"

-- line(state) -> the text of the line; state has done, total, passed,
-- failed, skipped, file, test
function M.line(s)
  return string.format("[%d/%d] %d passed, %d failed, %d skipped  %s%s%s", s.done, s.total,
    s.passed, s.failed, s.skipped, s.file or "", s.test and " > " or "",
    s.test and s.test:sub(1, 60) or "")
end

-- show(state): rewrite the line
function M.show(s)
  io.stderr:write(CLEAR, M.line(s))
  io.stderr:flush()
end

-- clear(): empty the line
function M.clear()
  io.stderr:write(CLEAR)
end

return M
