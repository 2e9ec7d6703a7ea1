-- mpod/runner/docker.lua: a small client of the Docker Engine API over libcurl
-- (mpod.http): the socket from DOCKER_HOST (unix:// or tcp://, default
-- unix:///var/run/docker.sock), the API version negotiated with the engine,
-- and errors that say what to check when the engine cannot be reached.

local dockerlog = require "mpod.dockerlog"
local errors = require "mpod.error"
local http = require "mpod.http"
local json = require "mpod.json"
local sys = require "mpod.sys"

local M = {}
local Client = {}
Client.__index = Client

local NEWEST_API = "1.43"     -- the newest API version this client speaks
local TIMEOUT = 30

-- endpoint() -> {host=, base=, unix_socket=}
function M.endpoint()
  local host = os.getenv("DOCKER_HOST")
  if not host or host == "" then host = "unix:///var/run/docker.sock" end
  local socket = host:match("^unix://(.+)$")
  if socket then return { host = host, base = "http://docker", unix_socket = socket } end
  local addr = host:match("^tcp://(.+)$")
  if addr then return { host = host, base = "http://" .. addr:gsub("/+$", "") } end
  errors.raise("docker", "DOCKER_HOST=" .. host .. " is not supported (use unix:// or tcp://)")
end

local function version_number(v)
  local major, minor = tostring(v):match("^(%d+)%.(%d+)")
  return major and tonumber(major) * 1000 + tonumber(minor) or 0
end

-- connect() -> client; raises a "docker" error when no engine answers.
-- client.requests counts the requests it sent (the tests count a pod
-- operation's cost with it).
function M.connect()
  local ep = M.endpoint()
  local c = setmetatable({ ep = ep, prefix = "", requests = 0 }, Client)
  local ok, res = pcall(c.raw, c, "GET", "/version", { timeout = 5 })
  if not ok then
    local why = tostring(res)
    if ep.unix_socket and errors.is(res, "connect") then
      -- not curl's "Failed to connect to docker port 80": there is no port
      why = not sys.stat(ep.unix_socket) and "no such socket"
        or "cannot connect to its socket" .. (why:match("( %([^()]+%))$") or "")
    end
    errors.raise("docker", string.format("cannot reach the Docker Engine at %s: %s (is Docker running? " ..
      "DOCKER_HOST chooses another engine)", ep.host, why))
  end
  local api = res.json and res.json.ApiVersion or "1.24"
  c.api = version_number(api) < version_number(NEWEST_API) and api or NEWEST_API
  c.prefix = "/v" .. c.api
  c.engine_version = res.json and res.json.Version
  return c
end

function Client:raw(method, path, opts)
  opts = opts or {}
  self.requests = self.requests + 1
  return http.request {
    url = self.ep.base .. self.prefix .. path, method = method, json = opts.json,
    query = opts.query, unix_socket = self.ep.unix_socket,
    timeout = opts.timeout or TIMEOUT, pod = opts.pod,
  }
end

-- call(method, path [, opts]) -> response (2xx or 304); raises with the
-- engine's own message otherwise
function Client:call(method, path, opts)
  local res = self:raw(method, path, opts)
  if (res.status >= 200 and res.status < 300) or res.status == 304 then return res end
  local ok, body = pcall(function() return res.json end)
  local message = ok and type(body) == "table" and body.message or http.excerpt(res.body)
  errors.raise("docker", string.format("Docker Engine: %s %s: %d %s", method, path, res.status,
    tostring(message)), { status = res.status })
end

-- containers(labels) -> list of containers (all states) with every label
function Client:containers(labels)
  local filters = json.encode { label = json.array(labels) }
  return self:call("GET", "/containers/json", { query = { all = "1", filters = filters } }).json
end

function Client:inspect(id)
  return self:call("GET", "/containers/" .. id .. "/json").json
end

function Client:post(path, query, body, timeout)
  return self:call("POST", path, { query = query, json = body, timeout = timeout })
end

-- logs(id, {since=, until= (unix seconds), tail=n, timestamps=bool}) -> text
function Client:logs(id, opts)
  opts = opts or {}
  local query = { stdout = "1", stderr = "1" }
  if opts.timestamps then query.timestamps = "1" end
  if opts.since then query.since = string.format("%.3f", opts.since) end
  if opts["until"] then query["until"] = string.format("%.3f", opts["until"]) end
  if opts.tail then query.tail = tostring(opts.tail) end
  local res = self:call("GET", "/containers/" .. id .. "/logs", { query = query })
  local text = dockerlog.merge(res.body)
  return text
end

return M
