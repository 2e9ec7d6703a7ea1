-- mpod/pg.lua: mp.pg, Postgres for scenarios: connect, query with bound
-- parameters and typed values, one/scalar/exec, LISTEN/NOTIFY, timeouts.
--
-- mpod.pg.core (src/pg.c) does the I/O and the value conversion; this file
-- adds the conveniences on the connection's own methods and keeps the
-- DSN's password out of every error and report (docs/postgres.md).

local core = require "mpod.pg.core"
local errors = require "mpod.error"
local json = require "mpod.json"
local record = require "mpod.record"
local redact = require "mpod.redact"

local M = { null = json.null }

local Conn = core.Conn

-- The DSN with its password hidden, for errors.
local function redacted_dsn(dsn, password)
  local shown = dsn
  if password and #password > 0 then
    shown = shown:gsub(password:gsub("%p", "%%%0"), "***")
  end
  return redact.redact(shown)
end

-- Scrub a connect error: no password in its message, the DSN redacted.
-- `password` is the one to hide wherever it appears (nil: only where it
-- stands as a password, which redact.redact does).
local function scrub(err, dsn, password, parsed)
  if not errors.is(err) then return err end
  local message = tostring(err.message)
  if password and #password > 0 then
    message = message:gsub(password:gsub("%p", "%%%0"), "***")
  elseif not parsed then
    message = message:gsub('"[^"]*"', '"***"')
  end
  err.message = redact.redact(message)
  err.dsn = redacted_dsn(dsn, password)
  return err
end

-- mp.pg.connect(dsn [, {timeout=, query_timeout=, raise=}]) -> db
-- timeout: seconds to connect (default 10); query_timeout: the limit for
-- each query (default none: the test's own timeout cancels a query);
-- raise = false: a failure to connect (kind "connect") returns nil, err.
function M.connect(dsn, opts)
  if type(dsn) ~= "string" then
    errors.usage("mp.pg.connect expects a DSN string, got " .. type(dsn))
  end
  if opts ~= nil and type(opts) ~= "table" then
    errors.usage("mp.pg.connect options must be a table, got " .. type(opts))
  end
  opts = opts or {}
  if opts.raise ~= nil and type(opts.raise) ~= "boolean" then
    errors.usage("mp.pg.connect: raise must be true or false, got " .. tostring(opts.raise))
  end
  local password, parsed, user, dbname = core.dsn_password(dsn)
  -- A password that is also the user or database name (postgres:postgres@
  -- .../postgres in test clusters) is given away by those names, which
  -- reports show; hidden as a bare word it would turn every "postgres" of
  -- a report into ***. It stays hidden where it stands as a password (a
  -- URL's user:password@, password=), as redact.redact does for any DSN.
  if password == user or password == dbname then password = nil end
  redact.add_secret(password)
  local ok, db = pcall(core.connect, dsn, opts.timeout)
  if not ok then
    local err = scrub(db, dsn, password, parsed)
    if opts.raise == false and errors.is(err, "connect") then return nil, err end
    error(err, 0)
  end
  if opts.query_timeout then db:set_timeout(opts.query_timeout) end
  return db
end

-- db:query(sql, ...): the C query, recorded in the scenario's history
-- (pg.query) when it keeps one; every method below goes through it
local raw_query = Conn.query
function Conn:query(sql, ...)
  local history = record.history
  if not history then return raw_query(self, sql, ...) end
  return history:_pg_query(raw_query, self, sql, ...)
end

-- db:one(sql, ...) -> the first row, or nil
function Conn:one(sql, ...)
  return (self:query(sql, ...))[1]
end

-- db:scalar(sql, ...) -> the first column of the first row, or nil
function Conn:scalar(sql, ...)
  local rows = self:query(sql, ...)
  local row = rows[1]
  if row == nil then return nil end
  return row[rows.columns[1]]
end

-- db:exec(sql, ...) -> the number of rows the command affected
function Conn:exec(sql, ...)
  local _, count = self:query(sql, ...)
  return count
end

local function quote_ident(name, what)
  if type(name) ~= "string" or name == "" or name:find("\0", 1, true) then
    errors.usage(what .. " expects a channel name (a non-empty string)")
  end
  return '"' .. name:gsub('"', '""') .. '"'
end

-- db:listen(channel): notifications on channel queue up for wait_notify
function Conn:listen(channel)
  self:query("LISTEN " .. quote_ident(channel, "db:listen"))
end

-- db:unlisten(channel)
function Conn:unlisten(channel)
  self:query("UNLISTEN " .. quote_ident(channel, "db:unlisten"))
end

-- db:notify(channel [, payload]): pg_notify, with the payload bound
function Conn:notify(channel, payload)
  self:query("SELECT pg_notify($1, $2)", channel, payload or "")
end

return M
