-- mpod/channel.lua: JSON messages, one per line, over a stream: the link
-- between the runner and each scenario child.
--
-- Three kinds of message: events {ev=...} (no answer), requests {id=, op=}
-- and replies {re=id, ok=, result= | error=}. A reader task decodes
-- incoming lines; replies wake the request that waits for them, anything
-- else goes to the handler given to new(). When the peer goes away every
-- pending request fails with a "closed" error.
--
-- A channel that breaks (a line longer than max_line, a line that is not
-- a JSON object, a read error, a handler that raised) stops reading at
-- once and tells on_close what broke it, rather than leaving the reader
-- dead and the peer writing into the void.

local errors = require "mpod.error"
local json = require "mpod.json"
local sched = require "mpod.sched"

local M = {}
local Channel = {}
Channel.__index = Channel

-- new(stream, handler(msg, channel) [, on_close(problem)] [, max_line])
-- -> channel (reading). problem: nil when the peer closed its end, else
-- what broke the channel. max_line: the longest message read, in bytes
-- (default the stream's 64 MiB).
function M.new(stream, handler, on_close, max_line)
  local self = setmetatable({
    stream = stream, handler = handler, on_close = on_close, max_line = max_line,
    next_id = 0, pending = {}, closed = false,
  }, Channel)
  self.reader = sched.spawn(function() self:read_loop() end)
  self.reader:name("channel reader")
  return self
end

-- valid_utf8(s) -> s with each byte that is not UTF-8 as U+FFFD
local function valid_utf8(s)
  if utf8.len(s) then return s end
  local parts, i = {}, 1
  while true do
    local ok, bad = utf8.len(s, i)
    if ok then parts[#parts + 1] = s:sub(i); break end
    parts[#parts + 1] = s:sub(i, bad - 1)
    parts[#parts + 1] = "\u{FFFD}"
    i = bad + 1
  end
  return table.concat(parts)
end

-- wire(value, depth) -> a copy JSON can carry: strings as valid UTF-8, NaN
-- and infinities as text, tables whose keys JSON cannot hold (sparse,
-- mixed, not strings) keyed by text, anything else (and tables past depth
-- 16) as its tostring()
local function wire(v, depth)
  local t = type(v)
  if t == "string" then return valid_utf8(v) end
  if t == "number" then
    if v ~= v then return "nan" end
    if v == math.huge or v == -math.huge then return v > 0 and "inf" or "-inf" end
    return v
  end
  if t == "boolean" or v == json.null then return v end
  if t ~= "table" or depth > 16 then
    local ok, text = pcall(tostring, v)
    return valid_utf8(ok and type(text) == "string" and text or "<unprintable " .. t .. ">")
  end
  local out, n, count = {}, #v, 0
  for _ in pairs(v) do count = count + 1 end
  if n > 0 and count == n then
    for i = 1, n do out[i] = wire(v[i], depth + 1) end
    return out
  end
  for k, x in pairs(v) do out[wire(type(k) == "string" and k or tostring(k), depth)] = wire(x, depth + 1) end
  return out
end

-- send(msg) -> whether it was queued. What JSON cannot carry (bytes that
-- are not UTF-8 in a test name or a message, NaN in an error's field, a
-- sparse list) is made printable rather than lost with the whole file.
function Channel:send(msg)
  if self.closed then return false end
  local ok, text = pcall(json.encode, msg)
  if not ok then text = json.encode(wire(msg, 0)) end
  local written = self.stream:write(text .. "\n")
  return written ~= nil
end

-- request(msg [, timeout]) -> the reply's result; raises its error.
function Channel:request(msg, timeout)
  if self.closed then
    errors.raise("closed", "the runner is no longer reachable")
  end
  self.next_id = self.next_id + 1
  local id = self.next_id
  local slot = { cond = sched.cond() }
  self.pending[id] = slot
  msg.id = id
  self:send(msg)
  while not slot.reply and not self.closed do
    if not slot.cond:wait(timeout) then
      self.pending[id] = nil
      errors.raise("timeout", string.format("no answer to '%s' within %g s",
        tostring(msg.op), timeout))
    end
  end
  self.pending[id] = nil
  local reply = slot.reply
  if not reply then
    errors.raise("closed", string.format("the runner went away during '%s'%s",
      tostring(msg.op), self.problem and (" (the channel broke: " .. self.problem .. ")") or ""))
  end
  if reply.ok then return reply.result end
  local e = reply.error or {}
  errors.raise(e.kind or "error", e.message or "request failed", e)
end

function Channel:reply(id, ok, value)
  if ok then
    return self:send { re = id, ok = true, result = value }
  end
  local e = value
  if not errors.is(e) then
    e = errors.new("error", type(e) == "string" and e or tostring(e))
  end
  local fields = {}
  for k, v in pairs(e) do
    if type(v) ~= "table" and type(v) ~= "function" and type(v) ~= "userdata" then
      fields[k] = v
    end
  end
  return self:send { re = id, ok = false, error = fields }
end

function Channel:flush(timeout)
  if self.closed then return false end
  return self.stream:flush(timeout)
end

-- shut([problem]): stop for good; pending requests fail, on_close learns
-- the problem (nil: the peer closed its end)
function Channel:shut(problem)
  if self.closed then return end
  self.closed = true
  self.problem = problem
  for _, slot in pairs(self.pending) do slot.cond:broadcast() end
  if self.on_close then self.on_close(problem) end
end

function Channel:close()
  self:shut()
  self.reader:cancel("channel closed")
  pcall(self.stream.close, self.stream)
end

-- dispatch(line) -> nil, or what is wrong with the line
function Channel:dispatch(line)
  local ok, msg = pcall(json.decode, line)
  if not ok or type(msg) ~= "table" or not line:find("^%s*{") then
    local shown = line:sub(1, 200):gsub("[%c\128-\255]", "?")
    return string.format("a message that is not a JSON object: %s%s", shown,
      #line > 200 and "..." or "")
  end
  if msg.re then
    local slot = self.pending[msg.re]
    if slot then
      slot.reply = msg
      slot.cond:broadcast()
    end
    return nil
  end
  local handled, err = pcall(self.handler, msg, self)
  if not handled then return "a message it could not handle: " .. tostring(err) end
end

local function size_text(bytes)
  if bytes % (1 << 20) == 0 then return string.format("%d MiB", bytes >> 20) end
  return string.format("%d bytes", bytes)
end

function Channel:read_loop()
  local problem
  while not problem do
    local line, why = self.stream:read_line(nil, self.max_line)
    if not line then
      if why == "too long" then
        problem = "a message longer than " .. size_text(self.max_line or 64 << 20)
      elseif why ~= "eof" then
        problem = "a read error: " .. tostring(why)
      end
      break
    end
    problem = self:dispatch(line)
  end
  self:shut(problem)
end

return M
