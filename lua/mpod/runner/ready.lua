-- mpod/runner/ready.lua: the readiness checks of the cluster file (http,
-- tcp, log, cmd), shared by the backends.
--
-- wait() polls one check until it passes or the time is up; a service that
-- exits meanwhile fails at once. The failure is an error of kind "ready"
-- that says which check, what it saw last, and quotes the service's last
-- log lines, because "not ready after 60 s" alone sends people digging.
-- A log check matches each line on its own (matching_line, for both
-- backends); pattern_error lets the cluster file check its pattern on load.

local errors = require "mpod.error"
local sched = require "mpod.sched"

local M = {}

M.DEFAULT_TIMEOUT = 60
local DEFAULT_INTERVAL = 0.2
local ATTEMPT_TIMEOUT = 2
local LOG_TAIL = 20

local function http_check(ready, svc)
  local url = svc.url:gsub("/+$", "") .. ready.http
  local ok, res = pcall(require("mpod.http").request,
    { url = url, timeout = ATTEMPT_TIMEOUT, pod = svc.name })
  if not ok then
    return false, "GET " .. url .. ": " .. tostring(res)
  end
  local wanted = ready.status
  if (wanted and res.status == wanted) or (not wanted and res.status >= 200 and res.status < 300) then
    return true
  end
  return false, string.format("GET %s: %d %s", url, res.status, (res.body or ""):sub(1, 120))
end

local function tcp_check(ready)
  local host, port = ready.tcp:match("^(.*):(%d+)$")
  local ok, err = require("mpod.net").probe(host, tonumber(port), ATTEMPT_TIMEOUT)
  if ok then return true end
  return false, "tcp " .. ready.tcp .. ": " .. tostring(err)
end

-- Lua checks a pattern only as far as a match gets, so a mistake behind
-- the first character that fails to match surfaces later, or never. These
-- walk a pattern whole, item by item, as string.find reads it.
local MAX_CAPTURES = 32        -- LUA_MAXCAPTURES

-- set_end(p, i) -> the index after the set [..] that opens at i, or nil
-- when it is not closed. A ']' right after '[' or '[^' is a member.
local function set_end(p, i)
  i = i + 1
  if p:sub(i, i) == "^" then i = i + 1 end
  repeat
    if i > #p then return nil end
    i = i + (p:sub(i, i) == "%" and 2 or 1)
  until p:sub(i, i) == "]"
  return i + 1
end

-- item_end(p, i) -> the index after the single-character class at i
-- ('.', a literal, %x or a set) and its optional quantifier | nil, error
local function item_end(p, i)
  local c, e = p:sub(i, i), i + 1
  if c == "%" then
    if i == #p then return nil, "malformed pattern (ends with '%')" end
    e = i + 2
  elseif c == "[" then
    e = set_end(p, i)
    if not e then return nil, "malformed pattern (missing ']')" end
  end
  return p:find("^[*+?-]", e) and e + 1 or e
end

-- special_end(p, i, closed) -> the index after %b, %f or a back reference
-- at i, or nil when the item at i is none of those | nil, error
local function special_end(p, i, closed)
  local c = p:sub(i + 1, i + 1)
  if p:sub(i, i) ~= "%" then return nil end
  if c == "b" then
    if i + 3 > #p then return nil, "malformed pattern (missing arguments to '%b')" end
    return i + 4
  elseif c == "f" then
    if p:sub(i + 2, i + 2) ~= "[" then return nil, "missing '[' after '%f' in pattern" end
    local e = set_end(p, i + 2)
    if not e then return nil, "malformed pattern (missing ']')" end
    return e
  elseif c:find("%d") then
    if not closed[tonumber(c)] then return nil, "invalid capture index %" .. c end
    return i + 2
  end
end

-- pattern_error(p) -> nil when string.find accepts p as a pattern, else
-- the error it would raise on reaching the mistake. Like string.find, it
-- takes a pattern without any of ^$*+?.([%- for plain text.
function M.pattern_error(p)
  if not p:find("[%^%$%*%+%?%.%(%[%%%-]") then return nil end
  local open, closed, count = {}, {}, 0
  local i = p:sub(1, 1) == "^" and 2 or 1
  while i <= #p do
    local c, e, err = p:sub(i, i), special_end(p, i, closed)
    if err then return err end
    if e then
      i = e
    elseif c == "(" then
      count = count + 1
      if count > MAX_CAPTURES then return "too many captures" end
      open[#open + 1], i = count, i + 1
    elseif c == ")" then
      if #open == 0 then return "invalid pattern capture" end
      closed[table.remove(open)], i = true, i + 1
    elseif c == "$" and i == #p then
      i = i + 1
    else
      i, err = item_end(p, i)
      if not i then return err end
    end
  end
  if #open > 0 then return "unfinished capture" end
  return nil
end

-- matching_line(text, pattern) -> the first line of text that pattern
-- matches, or nil. Each line is matched on its own, without its end of
-- line ("\n", or "\r\n" from a terminal), so ^ and $ anchor at the line's
-- ends and no match spans two lines. Both backends' log checks use it.
function M.matching_line(text, pattern)
  local pos = 1
  while pos <= #text do
    local stop = text:find("\n", pos, true) or #text + 1
    local last = text:byte(stop - 1) == 13 and stop - 2 or stop - 1
    local line = text:sub(pos, last)
    if line:find(pattern) then return line end
    pos = stop + 1
  end
  return nil
end

local function log_check(ready, svc, backend)
  local text = backend:logs(svc.name, { since = backend:started_at(svc.name) })
  if M.matching_line(text, ready.log) then return true end
  return false, "no log line matches " .. string.format("%q", ready.log)
end

local function cmd_check(ready)
  local r = require("mpod.exec").exec(ready.cmd, { timeout = ATTEMPT_TIMEOUT * 5 })
  if r.code == 0 then return true end
  local out = (r.stderr ~= "" and r.stderr or r.stdout):sub(-200)
  return false, string.format("%s exited with %s: %s", ready.cmd[1],
    r.code and ("code " .. r.code) or ("signal " .. tostring(r.signal)), out)
end

-- check(svc, backend) -> true | false, what it saw
function M.check(svc, backend)
  local ready = svc.ready
  if not ready then return true end
  local ok, passed, detail = pcall(function()
    if ready.http then return http_check(ready, svc) end
    if ready.tcp then return tcp_check(ready) end
    if ready.log then return log_check(ready, svc, backend) end
    return cmd_check(ready)
  end)
  if not ok then return false, tostring(passed) end
  return passed, detail
end

local function log_tail(backend, name)
  local ok, text = pcall(backend.logs, backend, name, { tail = LOG_TAIL })
  return ok and text or nil
end

local function not_ready(svc, backend, message)
  errors.raise("ready", message, { service = svc.name, log = log_tail(backend, svc.name) })
end

-- wait(svc, backend [, timeout]): returns once the check passes; raises an
-- error of kind "ready" when the time is up or the service exits.
function M.wait(svc, backend, timeout)
  local ready = svc.ready or {}
  timeout = timeout or ready.timeout or backend.cluster.ready_timeout or M.DEFAULT_TIMEOUT
  local interval = ready.interval or DEFAULT_INTERVAL
  local deadline = sched.now() + timeout
  local last = "not checked yet"
  repeat
    local state = backend:state(svc.name)
    if state == "exited" or state == "dead" then
      not_ready(svc, backend, string.format("%s exited (%s) before it was ready",
        svc.name, backend:exit_text(svc.name)))
    end
    local ok, detail = M.check(svc, backend)
    if ok then return true end
    last = detail or last
    sched.sleep(math.min(interval, math.max(deadline - sched.now(), 0)))
  until sched.now() >= deadline
  not_ready(svc, backend, string.format("%s not ready after %g s: %s", svc.name, timeout, last))
end

return M
