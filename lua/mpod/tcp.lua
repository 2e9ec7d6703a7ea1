-- mpod/tcp.lua: mp.tcp, a TCP client for line protocols (NATS, Redis,
-- SMTP) in scenarios, on the scenario's event loop.
--
-- mpod.net connects without blocking (net.c) and hands the socket to a
-- buffered Stream (stream.c), which does the reading and writing; this
-- file adds timeouts and the errors. A call waits only for its own task:
-- other tasks run meanwhile. Failures are mpod errors with host and port:
-- kind "connect", "dns", "timeout" (nothing is lost: what arrived stays
-- for the next receive), "closed" (the peer ended the connection; what
-- came before the end is in `partial`) or "too_big". With raise = false
-- (on connect: the connection's default; on a call: that call) they are
-- returned as nil, err instead. docs/tcp.md is the reference.

local errors = require "mpod.error"
local inspect = require "mpod.inspect"
local net = require "mpod.net"

local M = {}

local DEFAULT_TIMEOUT = 10
local DEFAULT_MAX = 1024 * 1024     -- bytes a receive_until takes at most

local Conn = {}
Conn.__index = Conn

local function check_raise(raise, what)
  if raise ~= nil and type(raise) ~= "boolean" then
    errors.usage(string.format("%s: raise must be true or false, got %s", what, tostring(raise)))
  end
end

local function check_seconds(value, name, what)
  if value ~= nil and (type(value) ~= "number" or value < 0) then
    errors.usage(string.format("%s: %s must be seconds (a number >= 0), got %s", what, name,
      tostring(value)))
  end
end

-- The failure err: raised, or returned as nil, err when raise is false.
local function fail(raise, err)
  if raise == false then return nil, err end
  error(err, 0)
end

-- A new error of this connection (fields host, port, and `fields`).
local function conn_error(c, kind, message, fields)
  local err = errors.new(kind, string.format("tcp %s:%d: %s", c.host, c.port, message), fields)
  err.host, err.port, err.at = c.host, c.port, errors.location()
  return err
end

-- The options of a call: a number is the timeout; nil the connection's.
-- Returns timeout, raise, max.
local function call_options(c, opts, what)
  if opts == nil then return c.timeout, c.raise, c.max end
  if type(opts) == "number" then
    check_seconds(opts, "timeout", what)
    return opts, c.raise, c.max
  end
  if type(opts) ~= "table" then
    errors.usage(string.format("%s: the options are a timeout or a table, got %s", what, type(opts)))
  end
  check_seconds(opts.timeout, "timeout", what)
  check_raise(opts.raise, what)
  if opts.max ~= nil and (math.type(opts.max) ~= "integer" or opts.max < 0) then
    errors.usage(what .. ": max must be a whole number of bytes")
  end
  local raise = opts.raise
  if raise == nil then raise = c.raise end
  return opts.timeout or c.timeout, raise, opts.max or c.max
end

function Conn:_stream(what)
  local s = self._s
  if not s then
    errors.raise("closed", string.format("tcp %s:%d: %s on a closed connection", self.host,
      self.port, what))
  end
  return s
end

-- What `s:read_*` returned in place of data, as an error: `waiting` says
-- what for ("\r\n", "5 bytes").
function Conn:_read_error(why, waiting, timeout, max)
  local s = self._s
  if why == "timeout" then
    local buffered = s:pending()
    return conn_error(self, "timeout", string.format("no %s within %g s (%d bytes received before it)",
      waiting, timeout, buffered), { timeout = timeout, buffered = buffered })
  end
  if why == "too long" then
    return conn_error(self, "too_big", string.format("more than %d bytes arrived before %s",
      max, waiting), { max = max })
  end
  local partial = s:read(0) or ""
  local how = why == "eof" and "the peer closed the connection" or ("the connection broke: " .. why)
  return conn_error(self, "closed", string.format("%s before %s (%d bytes received before it)",
    how, waiting, #partial), { partial = partial })
end

-- conn:send(data [, opts]) -> conn, once the data was written
function Conn:send(data, opts)
  if type(data) ~= "string" then
    errors.usage("conn:send expects a string, got " .. type(data))
  end
  local timeout, raise = call_options(self, opts, "conn:send")
  local s = self:_stream("send")
  local written = s:write(data)
  local flushed = written and s:flush(timeout)
  if flushed then return self end
  if written and flushed == nil then
    return fail(raise, conn_error(self, "timeout", string.format(
      "the peer took no more data for %g s (%d bytes left to send)", timeout,
      select(2, s:pending())), { timeout = timeout }))
  end
  return fail(raise, conn_error(self, "closed", "the peer closed the connection; nothing more can be sent"))
end

-- conn:receive_until(delim [, opts]) -> the bytes before the next delim
-- (which is consumed, not returned)
function Conn:receive_until(delim, opts)
  if type(delim) ~= "string" or delim == "" then
    errors.usage("conn:receive_until expects a delimiter (a non-empty string)")
  end
  local timeout, raise, max = call_options(self, opts, "conn:receive_until")
  local data, why = self:_stream("receive_until"):read_until(delim, timeout, max)
  if data then return data end
  return fail(raise, self:_read_error(why, inspect.quote(delim), timeout, max))
end

-- conn:receive(n [, opts]) -> exactly n bytes
function Conn:receive(n, opts)
  if math.type(n) ~= "integer" or n < 0 then
    errors.usage("conn:receive expects a count of bytes (a whole number >= 0)")
  end
  local timeout, raise = call_options(self, opts, "conn:receive")
  local data, why = self:_stream("receive"):read_exact(n, timeout)
  if data then return data end
  return fail(raise, self:_read_error(why, n .. " bytes", timeout))
end

-- conn:close(): idempotent; what was not read is dropped
function Conn:close()
  if self._s then
    self._s:close()
    self._s = nil
  end
end

Conn.__close = Conn.close

function Conn:__tostring()
  return string.format("tcp %s:%d (%s)", self.host, self.port, self._s and "open" or "closed")
end

-- host, port from (host, port) or ("host:port")
local function address(host, port)
  if type(host) ~= "string" or host == "" then
    errors.usage("mp.tcp.connect expects a host (a string), got " .. type(host))
  end
  if port == nil then
    local h, p = host:match("^%[?(.-)%]?:(%d+)$")
    host, port = h or host, tonumber(p)
  end
  if math.type(port) ~= "integer" or port < 1 or port > 65535 then
    errors.usage(string.format("mp.tcp.connect: %s is not a port (1 to 65535)", tostring(port)))
  end
  return host, port
end

-- mp.tcp.connect(host, port [, opts]) or (host .. ":" .. port [, opts])
-- -> conn. opts: timeout (s, to connect and the default of every call;
-- default 10), connect_timeout, max (bytes a receive_until takes, default
-- 1 MiB), raise (false: failures return nil, err).
function M.connect(host, port, opts)
  if type(port) == "table" and opts == nil then port, opts = nil, port end
  host, port = address(host, port)
  opts = opts or {}
  if type(opts) ~= "table" then errors.usage("mp.tcp.connect: the options must be a table") end
  check_seconds(opts.timeout, "timeout", "mp.tcp.connect")
  check_seconds(opts.connect_timeout, "connect_timeout", "mp.tcp.connect")
  check_raise(opts.raise, "mp.tcp.connect")
  local c = setmetatable({ host = host, port = port, timeout = opts.timeout or DEFAULT_TIMEOUT,
                           max = opts.max or DEFAULT_MAX, raise = opts.raise }, Conn)
  local s, err = net.connect(host, port, opts.connect_timeout or c.timeout)
  if not s then
    err.message = "tcp " .. err.message
    err.at = errors.location()
    return fail(c.raise, err)
  end
  c._s = s
  return c
end

return M
