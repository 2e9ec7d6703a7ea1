-- mpod/ready.lua: the readiness checks of the cluster file (http, tcp, log,
-- cmd), shared by the backends.
--
-- wait() polls one check until it passes or the time is up; a service that
-- exits meanwhile fails at once. The failure is an error of kind "ready"
-- that says which check, what it saw last, and quotes the service's last
-- log lines, because "not ready after 60 s" alone sends people digging.

local core = require "mpod.core"
local errors = require "mpod.error"

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
    return false, "GET " .. url .. ": " .. tostring(errors.is(res) and res.message or res)
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

local function log_check(ready, svc, backend)
  local text = backend:logs(svc.name, { since = backend:started_at(svc.name) })
  if text:find(ready.log) then return true end
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
  if not ok then return false, tostring(errors.is(passed) and passed.message or passed) end
  return passed, detail
end

local function log_tail(backend, name)
  local ok, text = pcall(backend.logs, backend, name, { tail = LOG_TAIL })
  return ok and text or nil
end

local function not_ready(svc, backend, message)
  error(errors.new("ready", message, { service = svc.name, log = log_tail(backend, svc.name) }), 0)
end

-- wait(svc, backend [, timeout]): returns once the check passes; raises an
-- error of kind "ready" when the time is up or the service exits.
function M.wait(svc, backend, timeout)
  local ready = svc.ready or {}
  timeout = timeout or ready.timeout or backend.cluster.ready_timeout or M.DEFAULT_TIMEOUT
  local interval = ready.interval or DEFAULT_INTERVAL
  local deadline = core.now() + timeout
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
    core.sleep(math.min(interval, math.max(deadline - core.now(), 0)))
  until core.now() >= deadline
  not_ready(svc, backend, string.format("%s not ready after %g s: %s", svc.name, timeout, last))
end

return M
