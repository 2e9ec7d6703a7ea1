-- text.lua: the escaping rules of the reports, for the reporter's modules:
-- the C loops of mpod.text (src/text.c: TAP descriptions, YAML scalars,
-- XML text, valid UTF-8, cuts between characters) and cut(), which keeps
-- the part of a text a cut leaves. Every function returns valid UTF-8
-- whatever its input (invalid bytes as U+FFFD).
--
-- The loops are C because they read every byte the run reports: with Lua
-- patterns they cost 10 to 40 ns a byte, in C one or two
-- (docs/architecture.md, "C or Lua").

local M = {}
for name, fn in pairs(require "mpod.text") do M[name] = fn end

-- cut(s, max) -> s cut to at most max bytes between UTF-8 characters, and
-- the number of bytes left out
function M.cut(s, max)
  local n = M.prefix(s, max)
  return n == #s and s or s:sub(1, n), #s - n
end

return M
