-- mpod/scenario/limits.lua: how much of its output a scenario process sends the
-- runner. Every string of an event it emits is cut to the size the report
-- shows of it (docs/output.md, "Limits"), so a note or an error message of
-- gigabytes costs the channel no more than one that fits.
--
-- A cut string ends in " ... (N more bytes)" and, that suffix included,
-- fits its limit, so the report does not cut it again and N counts the
-- bytes of the original left out (about: redaction may change lengths).
-- Cuts fall between UTF-8 sequences.

local M = {}

M.NOTE = 1 << 20        -- one note (mp.note, print): a file shows 1 MiB of notes
M.LINE = 16384          -- one line of a note
M.NAME = 1024           -- a test name, a SKIP or TODO reason
M.FIELD = 16384         -- any other string: a diagnostic's message, fields, logs
M.KEY = 256             -- a key of a diagnostics table
local MAX_DEPTH = 16    -- deeper tables go as they are (diagnostics are flat)
local REDACT_MARGIN = 4096 -- bytes after a cut redacted with the kept start

-- shorten(s, i, j, max [, redact]) -> s:sub(i, j) when it fits max bytes,
-- else its start and " ... (N more bytes)" in max bytes. redact(text) runs
-- on the start and REDACT_MARGIN bytes after it before the cut, so a
-- secret across the cut does not leave its first bytes behind.
local function shorten(s, i, j, max, redact)
  local len = j - i + 1
  if len <= max then return s:sub(i, j) end
  local room = max - #string.format(" ... (%d more bytes)", len)
  local head = s:sub(i, math.min(j, i + max + REDACT_MARGIN - 1))
  if redact then head = redact(head) end
  local keep = math.max(math.min(room, #head), 0)
  while keep > 0 and (head:byte(keep + 1) or 0) & 0xC0 == 0x80 do keep = keep - 1 end
  return head:sub(1, keep) .. string.format(" ... (%d more bytes)", len - keep)
end

-- cut(s, max [, redact]) -> s, or its start and " ... (N more bytes)"
function M.cut(s, max, redact)
  return shorten(s, 1, #s, max, redact)
end

-- A note's text: each line cut to LINE bytes, and the lines after the
-- first NOTE bytes left out (one last line says how many bytes).
local function note_text(text, redact)
  if #text <= M.LINE then return text end
  local lines, pos, used = {}, 1, 0
  while pos <= #text do
    if used >= M.NOTE then
      lines[#lines + 1] = string.format("... (%d more bytes)", #text - pos + 1)
      break
    end
    local nl = text:find("\n", pos, true) or #text + 1
    local line = shorten(text, pos, nl - 1, M.LINE, redact)
    lines[#lines + 1] = line
    used, pos = used + #line + 1, nl + 1
  end
  return table.concat(lines, "\n")
end

local function bound(v, max, redact, depth)
  if type(v) == "string" then return M.cut(v, max, redact) end
  if type(v) ~= "table" or depth > MAX_DEPTH then return v end
  local out = {}
  for k, x in next, v do
    if type(k) == "string" then k = M.cut(k, M.KEY, redact) end
    out[k] = bound(x, M.FIELD, redact, depth + 1)
  end
  return setmetatable(out, getmetatable(v))
end

local TOP = { name = M.NAME, reason = M.NAME }

-- event(ev [, redact]) -> a copy of ev whose strings fit the limits: a
-- note's text as above, a test's name and reason NAME bytes, any other
-- string (diagnostics at any depth) FIELD. Strings that fit are kept.
function M.event(ev, redact)
  local out = {}
  for k, v in next, ev do
    if k == "text" and ev.ev == "note" and type(v) == "string" then
      out[k] = note_text(v, redact)
    else
      out[k] = bound(v, TOP[k] or M.FIELD, redact, 1)
    end
  end
  return out
end

return M
