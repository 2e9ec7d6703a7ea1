-- mpod/channel.lua: JSON messages, one per line, over a stream: the link
-- between the runner and each scenario child.
--
-- Three kinds of message: events {ev=...} (no answer), requests {id=, op=}
-- and replies {re=id, ok=, result= | error=}. A reader task decodes
-- incoming lines; replies wake the request that waits for them, anything
-- else goes to the handler given to new(). When the peer goes away every
-- pending request fails with a "closed" error.

local core = require "mpod.core"
local errors = require "mpod.error"
local json = require "mpod.json"

local M = {}
local Channel = {}
Channel.__index = Channel

-- new(stream, handler(msg, channel) [, on_close]) -> channel (reading)
function M.new(stream, handler, on_close)
  local self = setmetatable({
    stream = stream, handler = handler, on_close = on_close,
    next_id = 0, pending = {}, closed = false,
  }, Channel)
  self.reader = core.spawn(function() self:read_loop() end)
  self.reader:name("channel reader")
  return self
end

function Channel:send(msg)
  if self.closed then return false end
  local ok = self.stream:write(json.encode(msg) .. "\n")
  return ok ~= nil
end

-- request(msg [, timeout]) -> the reply's result; raises its error.
function Channel:request(msg, timeout)
  if self.closed then
    error(errors.new("closed", "the runner is no longer reachable"), 0)
  end
  self.next_id = self.next_id + 1
  local id = self.next_id
  local slot = { cond = core.cond() }
  self.pending[id] = slot
  msg.id = id
  self:send(msg)
  while not slot.reply and not self.closed do
    if not slot.cond:wait(timeout) then
      self.pending[id] = nil
      error(errors.new("timeout", string.format("no answer to '%s' within %g s",
        tostring(msg.op), timeout)), 0)
    end
  end
  self.pending[id] = nil
  local reply = slot.reply
  if not reply then
    error(errors.new("closed", "the runner went away during '" .. tostring(msg.op) .. "'"), 0)
  end
  if reply.ok then return reply.result end
  local e = reply.error or {}
  error(errors.new(e.kind or "error", e.message or "request failed", e), 0)
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

function Channel:shut()
  if self.closed then return end
  self.closed = true
  for _, slot in pairs(self.pending) do slot.cond:broadcast() end
  if self.on_close then self.on_close() end
end

function Channel:close()
  self:shut()
  self.reader:cancel("channel closed")
  pcall(self.stream.close, self.stream)
end

function Channel:dispatch(line)
  local ok, msg = pcall(json.decode, line)
  if not ok or type(msg) ~= "table" then
    self.handler({ ev = "garbled", line = line:sub(1, 200) }, self)
    return
  end
  if msg.re then
    local slot = self.pending[msg.re]
    if slot then
      slot.reply = msg
      slot.cond:broadcast()
    end
    return
  end
  self.handler(msg, self)
end

function Channel:read_loop()
  while true do
    local line = self.stream:read_line()
    if not line then break end
    self:dispatch(line)
  end
  self:shut()
end

return M
