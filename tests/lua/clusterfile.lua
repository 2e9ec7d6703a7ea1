-- clusterfile.lua: loading and validating cluster files: variables expand,
-- and every mistake names the file, the service and the field.

local mp = require "mpod"
local clusterfile = require "mpod.clusterfile"
local sys = require "mpod.sys"

local dir

mp.before_all(function() dir = assert(sys.mkdtemp("mpod-cf")) end)
mp.after_all(function() sys.rmtree(dir) end)

local serial = 0
local function write(text)
  serial = serial + 1
  local path = string.format("%s/c%d.lua", dir, serial)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  return path
end

local function load_error(text)
  local path = write(text)
  local ok, err = pcall(clusterfile.load, path, "/tmp/run")
  if ok then mp.fail("the cluster file loaded") end
  mp.expect(err.kind):eq("cluster")
  return err.message:gsub("^" .. path:gsub("%p", "%%%0"), "FILE")
end

mp.test("a valid file loads, with variables expanded", function()
  local path = write [[
    return { name = "demo", http = { headers = { Origin = "http://x" }, timeout = 5 },
      postgres = "postgresql://u:p@127.0.0.1:${HOME}/db",
      services = {
        { name = "db", cmd = { "${ROOT}/bin/db", "--data", "${RUN_DIR}/data" },
          ready = { tcp = "127.0.0.1:5432" } },
        { name = "web-1", group = "web", after = { "db" }, cmd = { "web" },
          env = { POD_NAME = "${NAME}" }, url = "http://127.0.0.1:8080",
          ready = { http = "/health" } },
      } }
  ]]
  local c = clusterfile.load(path, "/tmp/run")
  mp.expect(c.name):eq("demo")
  mp.expect(c.backend):eq("process")
  mp.expect(c.services[1].cmd[1]):eq(sys.realpath(dir) .. "/bin/db")
  mp.expect(c.services[1].cmd[3]):eq("/tmp/run/data")
  mp.expect(c.services[2].env.POD_NAME):eq("web-1")
  mp.expect(c.postgres):eq("postgresql://u:p@127.0.0.1:" .. os.getenv("HOME") .. "/db")
  local d = clusterfile.describe(c)
  mp.expect(d.pods[2]):eq { name = "web-1", group = "web", url = "http://127.0.0.1:8080", oneshot = false }
end)

mp.test("mistakes name the file, the service and the field", function()
  mp.expect(load_error [[ return { name = "x", servces = {} } ]])
    :eq("FILE: unknown field 'servces' (known: backend, compose, http, log_limit, name, postgres, proxies, ready_timeout, services, toxiproxy)")
  mp.expect(load_error [[ return { services = {} } ]]):eq("FILE: needs a name")
  mp.expect(load_error [[ return { name = "x", services = { { name = "a", cmd = "run" } } } ]])
    :eq("FILE.services[1] (a).cmd: must be a table, not a string")
  mp.expect(load_error [[ return { name = "x", services = { { name = "a", readdy = {} } } } ]])
    :matches("^FILE%.services%[1%] %(a%): unknown field 'readdy' %(known: after, cmd, ")
  mp.expect(load_error [[ return { name = "x", services = { { name = "a", ready = { tcp = "nohost" } } } } ]])
    :eq("FILE.services[1] (a).ready.tcp: must be host:port, not 'nohost'")
  mp.expect(load_error [[ return { name = "x", services = { { name = "a", ready = { http = "/h" } } } } ]])
    :eq("FILE.services[1] (a).ready.http: an http check needs the service's url")
  mp.expect(load_error [[ return { name = "x", services = { { name = "a", ready = {} } } } ]])
    :eq("FILE.services[1] (a).ready: needs exactly one of http, tcp, log, cmd")
  mp.expect(load_error [[ return { name = "x", services = { { name = "a", after = { "b" } } } } ]])
    :eq("FILE.services (a).after: no service named 'b'")
  mp.expect(load_error [[ return { name = "x", services = {
      { name = "a", after = { "b" } }, { name = "b", after = { "a" } } } } ]])
    :eq("FILE: services depend on each other in a cycle: a -> b -> a")
  mp.expect(load_error [[ return { name = "x", services = { { name = "a" }, { name = "a" } } } ]])
    :eq("FILE: two services are named 'a'")
  mp.expect(load_error [[ return { name = "x", backend = "k8s" } ]])
    :eq("FILE.backend: must be 'process' or 'compose', not 'k8s'")
  mp.expect(load_error [[ return { name = "x", backend = "compose" } ]])
    :eq("FILE.compose: the compose backend needs compose = { file = ... }")
  mp.expect(load_error [[ return { name = "${NO_SUCH_VARIABLE_HERE}" } ]])
    :eq("FILE.name: unknown variable ${NO_SUCH_VARIABLE_HERE}")
  mp.expect(load_error [[ return { name = "x", services = { { name = "a", stop_signal = "NOPE" } } } ]])
    :eq("FILE.services[1] (a).stop_signal: unknown signal NOPE")
  mp.expect(load_error [[ return 42 ]]):eq("FILE: must return a table, not a number")
  mp.expect(load_error [[ return { ]]):matches("^FILE: cannot load: ")
  mp.expect(load_error [[ error("boom") ]]):matches("^FILE: raised an error: ")
end)

mp.test("the file runs in a sandbox", function()
  mp.expect(load_error [[ os.execute("true") return {} ]]):matches("attempt to call a nil value")
  mp.expect(load_error [[ return { name = io.open("/etc/passwd") } ]]):matches("attempt to index a nil value")
end)

mp.test("a cluster-file mistake is exit code 2 with the message", function()
  local path = write [[ return { name = "x", servces = {} } ]]
  local r = mp.exec({ os.getenv("MPOD") or "build/mpod-lua", "-C", path, "tests/cases/passing.lua" })
  mp.expect(r.code):eq(2)
  mp.expect(r.stderr):contains("unknown field 'servces'")
  mp.expect(r.stdout):contains("Bail out! " .. path .. ": unknown field 'servces'")
end)
