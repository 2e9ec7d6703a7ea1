-- yaml.lua: the YAML diagnostics block of a failed test, from the Lua
-- table a scenario raised or the runner made.
--
-- The table is walked raw (next, rawget, rawlen, debug.getmetatable): no
-- metamethod runs, so a value whose __index, __pairs or __tostring raises
-- or loops prints like any other, and a protected metatable hides nothing.
-- Keys come in the diagnostics order (message, kind, at, got, expected,
-- diff first; timeline, log, logs, stack last; the rest by name). Bounds keep a
-- report readable and its size bounded whatever a test raised: depth,
-- entries of a mapping or list, bytes of a string, of a key, of a block;
-- what is left out is said so in the output.

local text = require "mpod.runner.report.text"

local M = {}

M.MAX_DEPTH = 8
M.MAX_ENTRIES = 100             -- keys of a mapping, items of a list
M.SCALAR_MAX = 16384            -- bytes of one string
M.KEY_MAX = 256                 -- bytes of one key
M.BLOCK_MAX = 262144            -- bytes of one diagnostics block

local is_sequence = require("mpod.inspect").is_sequence
local null = require("mpod.json").null
local getmetatable = debug.getmetatable

local RANK = { message = 0, kind = 1, at = 2, got = 3, expected = 4, diff = 5,
               timeline = 99, log = 100, logs = 101, stack = 102 }

-- YAML 1.1 reads these plain words as booleans or null
local SPECIAL_WORDS = { ["true"] = true, ["false"] = true, yes = true, no = true, on = true,
                        off = true, y = true, n = true, null = true }

local spaces = setmetatable({}, { __index = function(t, n)
  t[n] = string.rep(" ", n)
  return t[n]
end })

-- The text of a value that is not printed as structure, without running
-- any metamethod: mp.null is "null"; other values as tostring() shows them
-- without a __tostring ("mpod.pg.Conn: 0x...").
local function plain_text(v)
  local kind = type(v)
  if kind == "string" then return v end
  if kind == "number" or kind == "boolean" or kind == "nil" then return tostring(v) end
  if rawequal(v, null) then return "null" end
  local mt = getmetatable(v)
  local name = mt and rawget(mt, "__name")
  return string.format("%s: %p", type(name) == "string" and name or kind, v)
end

local function nests(v, depth)
  return type(v) == "table" and depth < M.MAX_DEPTH
end

-- An output buffer that knows its length, for the block limit.
local function new_out()
  return { n = 0, len = 0, limit = M.BLOCK_MAX }
end

local function add(out, s)
  out.n = out.n + 1
  out[out.n] = s
  out.len = out.len + #s
end

-- Whether there is room for one more entry; if not, say what is left out.
local function room_for(out, shown, total, indent, item, what)
  if shown < M.MAX_ENTRIES and out.len <= out.limit then return true end
  add(out, string.format('\n%s%s"(%d more %s%s)"%s', spaces[indent], item and "- " or "",
    total - shown, what, out.len > out.limit and ", output limit reached" or "",
    item and "" or ": ~"))
  return false
end

local function string_value(s, indent)
  local kept, more = text.cut(s, M.SCALAR_MAX)
  if more > 0 then kept = string.format("%s ... (%d more bytes)", kept, more) end
  return text.yaml_scalar(kept, indent)
end

-- Keys print plain when every YAML reader takes them as that string.
local function key_text(s)
  if #s <= 64 and s:find("^[%a_][%w_.%-]*$") and not SPECIAL_WORDS[s:lower()] then
    return s
  end
  local kept, more = text.cut(s, M.KEY_MAX)
  return text.yaml_quoted(more > 0 and kept .. "..." or kept)
end

-- Every key of t with its printed text, sorted: keys that are not strings
-- show as "[text]" (the numbers of a sparse list: "[1]").
local function sorted_keys(t)
  local keys = {}
  for k in next, t do
    local is_string = type(k) == "string"
    keys[#keys + 1] = { key = k, text = is_string and k or "[" .. plain_text(k) .. "]",
                        rank = is_string and RANK[k] or 50 }
  end
  table.sort(keys, function(a, b)
    if a.rank ~= b.rank then return a.rank < b.rank end
    return a.text < b.text
  end)
  return keys
end

local value

local function mapping(out, t, indent, depth, first_inline)
  local keys = sorted_keys(t)
  local again = 1          -- keys that print the same get " (2)", ...
  for i, k in ipairs(keys) do
    if i > 1 and not room_for(out, i - 1, #keys, indent, false, "keys") then break end
    if i > 1 or not first_inline then add(out, "\n" .. spaces[indent]) end
    again = (i > 1 and k.text == keys[i - 1].text) and again + 1 or 1
    add(out, key_text(again > 1 and string.format("%s (%d)", k.text, again) or k.text))
    local v = rawget(t, k.key)
    add(out, nests(v, depth + 1) and next(v) ~= nil and ":" or ": ")
    value(out, v, indent + 2, depth + 1)
  end
end

local function sequence(out, t, indent, depth)
  local n = rawlen(t)
  for i = 1, n do
    if not room_for(out, i - 1, n, indent, true, "items") then break end
    add(out, "\n" .. spaces[indent] .. "- ")
    local item = rawget(t, i)
    -- a mapping item starts on the dash's line: "- key: value"
    if nests(item, depth + 1) and not is_sequence(item) and next(item) ~= nil then
      mapping(out, item, indent + 2, depth + 1, true)
    else
      value(out, item, indent + 2, depth + 1)
    end
  end
end

local function number(v)
  if math.type(v) == "integer" then return string.format("%d", v) end
  if v ~= v then return ".nan" end
  if v == math.huge then return ".inf" end
  if v == -math.huge then return "-.inf" end
  return string.format("%.14g", v)
end

function value(out, v, indent, depth)
  local kind = type(v)
  if kind == "number" then
    add(out, number(v))
  elseif kind == "boolean" then
    add(out, v and "true" or "false")
  elseif kind == "nil" then
    add(out, "~")
  elseif nests(v, depth) then
    if is_sequence(v) then
      sequence(out, v, indent, depth)
    elseif next(v) == nil then
      add(out, "{}")
    else
      mapping(out, v, indent, depth, false)
    end
  else
    add(out, string_value(plain_text(v), indent))
  end
end

-- block(t [, indent]) -> t as a YAML document ("---" ... "...") at the
-- given indentation, each line ending in a newline
function M.block(t, indent)
  indent = indent or 0
  local out = new_out()
  add(out, spaces[indent] .. "---\n" .. spaces[indent])
  mapping(out, t, indent, 0, true)
  add(out, "\n" .. spaces[indent] .. "...\n")
  return table.concat(out, "", 1, out.n)
end

-- blocks(t, indent) -> block(t, indent), block(t, 0): the TAP and the
-- JUnit forms of one test's diagnostics. The walk runs once and the other
-- form is the same lines indented, unless the block came near its byte
-- limit (where indentation could change what is left out).
function M.blocks(t, indent)
  local plain = M.block(t, 0)
  if indent == 0 then return plain, plain end
  local indented = text.indent(plain, indent)
  if #indented > M.BLOCK_MAX then indented = M.block(t, indent) end
  return indented, plain
end

return M
