-- pgfixture.lua: a private Postgres server for tests (and the benchmark):
-- initdb into a fresh folder under /tmp, a free loopback port with
-- password (SCRAM) authentication, and a unix socket in that folder with
-- trust authentication (server.socket_dir, as a PGHOST for psql).
--
--   local pgfix = require "pgfixture"
--   local server
--   mp.before_all(function() server = pgfix.start() end)
--   mp.after_all(function() if server then server:destroy() end end)
--   local db <close> = server:connect()
--
-- Postgres refuses to run as root, and the tests run as root in CI: then
-- initdb and postgres run as the user MPOD_PG_USER (default "postgres",
-- which the Debian server package creates) through setpriv(1), which
-- execs in place and re-arms the parent-death signal after changing user
-- (a uid change clears it), so the server dies with the scenario process
-- even when that is killed. Binaries come from the folder
-- compose/local/pg-bindir finds (MPOD_PG_BIN, else the newest
-- /usr/lib/postgresql/<version>/bin, ...), set in M.BIN by the first
-- start(). Run from the checkout's root. destroy() removes the folder.

local mp = require "mpod"
local proc = require "mpod.proc"
local sys = require "mpod.sys"

local M = {}

M.USER = os.getenv("MPOD_PG_USER") or "postgres"

local Server = {}
Server.__index = Server

local function check(result, what)
  if not result.ok then
    error(string.format("%s failed (exit %s): %s%s", what, tostring(result.code or result.signal),
      result.stdout, result.stderr), 0)
  end
  return result
end

local is_root
local function running_as_root()
  if is_root == nil then
    is_root = check(mp.exec({ "id", "-u" }), "id -u").stdout:match("^0%s") ~= nil
  end
  return is_root
end

-- The argv that runs argv as the server's user (itself when not root).
local function as_server_user(argv)
  if not running_as_root() then return argv end
  local out = { "setpriv", "--reuid=" .. M.USER, "--regid=" .. M.USER, "--init-groups",
                "--pdeathsig", "KILL" }
  for _, a in ipairs(argv) do out[#out + 1] = a end
  return out
end

local function write_file(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function random_password()
  local chars = {}
  for i = 1, 20 do chars[i] = string.char(string.byte("a") + math.random(0, 25)) end
  return "pw-" .. table.concat(chars)
end

local function make_folder()
  local dir = check(mp.exec { "mktemp", "-d", "/tmp/mpod-pg.XXXXXX" }, "mktemp").stdout:gsub("%s+$", "")
  if running_as_root() then check(mp.exec { "chown", M.USER, dir }, "chown " .. dir) end
  return dir
end

local function initdb(self)
  local pwfile = self.dir .. "/pwfile"
  write_file(pwfile, self.password .. "\n")
  if running_as_root() then check(mp.exec { "chown", M.USER, pwfile }, "chown") end
  check(mp.exec(as_server_user {
    M.BIN .. "/initdb", "-D", self.data, "-U", "postgres", "--pwfile=" .. pwfile,
    "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync",
  }, { timeout = 120 }), "initdb")
  os.remove(pwfile)
end

-- server:start(): run postgres (again) and wait until it takes connections
function Server:start()
  self.proc = proc.spawn {
    argv = as_server_user {
      M.BIN .. "/postgres", "-D", self.data, "-p", tostring(self.port),
      "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" .. self.dir,
      "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
      "-c", "max_connections=50",
    },
    stdout = self.log, stderr = "stdout", die_with_parent = true,
  }
  mp.poll_until(function()
    local status = self.proc:poll()
    if status then
      error(string.format("postgres exited (%s); log %s:\n%s", tostring(status.code or status.signame),
        self.log, self:log_text()), 0)
    end
    local db = require("mpod.pg").connect(self.dsn, { timeout = 2 })
    db:close()
    return true
  end, { timeout = 60, interval = 0.1, label = "postgres on port " .. self.port })
end

-- server:stop([signal]): INT (fast shutdown, the default), TERM or QUIT;
-- KILL when that does not end it in time or the caller was cancelled (a
-- hook that timed out still gets its server stopped and folder removed)
function Server:stop(signal)
  if not self.proc or self.proc:poll() then return end
  self.proc:kill(signal or "INT")
  local waited, status = pcall(self.proc.wait, self.proc, 20)
  if not (waited and status) then
    self.proc:kill("KILL")
    pcall(self.proc.wait, self.proc, 5)
  end
end

-- server:destroy(): stop it and remove its folder
function Server:destroy()
  self:stop()
  sys.rmtree(self.dir)
end

function Server:log_text()
  local f = io.open(self.log)
  if not f then return "" end
  local text = f:read("a")
  f:close()
  return text
end

-- server:connect([opts]) -> db (mp.pg.connect on this server)
function Server:connect(opts)
  return require("mpod.pg").connect(self.dsn, opts)
end

-- server:dsn_for(user, password [, extra]) -> a DSN for other roles or options
function Server:dsn_for(user, password, extra)
  return string.format("postgresql://%s:%s@127.0.0.1:%d/postgres%s", user, password,
    self.port, extra or "")
end

-- bin() -> the folder of initdb and postgres (M.BIN, found once)
local function bin()
  if not M.BIN then
    local r = mp.exec({ "compose/local/pg-bindir", "initdb", "postgres" }, { timeout = 30 })
    if not r.ok then error("no Postgres server programs: " .. r.stderr, 0) end
    M.BIN = r.stdout:gsub("%s+$", "")
  end
  return M.BIN
end

-- start() -> a running server: {dsn=, port=, password=, dir=, socket_dir=, log=}
function M.start()
  bin()
  local self = setmetatable({ password = random_password() }, Server)
  self.dir = make_folder()
  self.socket_dir = self.dir
  self.data = self.dir .. "/data"
  self.log = self.dir .. "/postgres.log"
  self.port = sys.free_port()
  self.dsn = self:dsn_for("postgres", self.password)
  local ok, err = pcall(function()
    initdb(self)
    self:start()
  end)
  if not ok then
    pcall(self.destroy, self)
    error(err, 0)
  end
  return self
end

return M
