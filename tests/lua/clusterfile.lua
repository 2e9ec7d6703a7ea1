-- clusterfile.lua: loading and validating cluster files: variables expand,
-- and every mistake names the file, the service and the field.

local mp = require "mpod"
local clusterfile = require "mpod.runner.clusterfile"
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
  mp.expect(d.pods[2]):eq { name = "web-1", group = "web", url = "http://127.0.0.1:8080",
                            port = 8080, oneshot = false }
end)

mp.test("${PORT:name}: one port per name, anywhere in the file, listed per service", function()
  local path = write [[
    local function web(i)
      return { name = "web-" .. i, url = "http://127.0.0.1:${PORT:web-" .. i .. "}",
        cmd = { "web", "--port", "${PORT:web-" .. i .. "}", "--admin=${PORT:admin-" .. i .. "}" },
        ready = { tcp = "127.0.0.1:${PORT:web-" .. i .. "}" } }
    end
    return { name = "ported", postgres = "postgresql://127.0.0.1:${PORT:pg}/db",
      services = { { name = "pg", cmd = { "pg", "-p", "${PORT:pg}" } }, web(1), web(2),
        { name = "probe", ready = { tcp = "127.0.0.1:${PORT:pg}" } } } }
  ]]
  -- without ports (the load that learns the names) every port reads 0
  local probe = clusterfile.load(path, "/tmp/run")
  mp.expect(probe.port_names):eq { "admin-1", "admin-2", "pg", "web-1", "web-2" }
  mp.expect(probe.services[2].cmd[3]):eq("0")
  mp.expect(probe.service_ports):eq { pg = { "pg" }, ["web-1"] = { "admin-1", "web-1" },
    ["web-2"] = { "admin-2", "web-2" }, probe = { "pg" } }
  local ports = { pg = 40001, ["web-1"] = 40002, ["web-2"] = 40003, ["admin-1"] = 40004,
                  ["admin-2"] = 40005 }
  local c = clusterfile.load(path, "/tmp/run", { ports = ports })
  mp.expect(c.postgres):eq("postgresql://127.0.0.1:40001/db")
  mp.expect(c.services[2].cmd):eq { "web", "--port", "40002", "--admin=40004" }
  mp.expect(c.services[3].ready.tcp):eq("127.0.0.1:40003")
  mp.expect(c.services[4].ready.tcp):eq("127.0.0.1:40001")
  local d = clusterfile.describe(c)
  mp.expect(d.ports):eq(ports)
  mp.expect(d.pods[2]):eq { name = "web-1", url = "http://127.0.0.1:40002", port = 40002,
                            oneshot = false }
  mp.expect(d.pods[1].port):is_nil()
  -- a name the state has no port for: the file changed since `up`
  ports["web-2"] = nil
  local ok, err = pcall(clusterfile.load, path, "/tmp/run", { ports = ports })
  mp.expect(ok):eq(false)
  -- (the first string of web-2 met: its url, cmd or ready.tcp)
  mp.expect(err.message:sub(1, #path)):eq(path)
  mp.expect(err.message:sub(#path + 1)):matches("^%.services%[3%]%.[%w.]+: ")
  mp.expect(err.message):contains(": ${PORT:web-2} has no port: none was chosen under this " ..
    "name when the cluster was brought up (the cluster file, or the environment it reads, " ..
    "changed since?); take it down and up again")
end)

mp.test("${PORT:name}: a bad name, in the cluster's name, compose, nothing started", function()
  local rule = "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit, not "
  mp.expect(load_error [[ return { name = "x", services = { { name = "a", cmd = { "a", "${PORT:}" } } } } ]])
    :eq("FILE.services[1].cmd.2: ${PORT:}: the name: " .. rule .. '""')
  mp.expect(load_error [[ return { name = "x", services = { { name = "a", cmd = { "a", "${PORT:a/b}" } } } } ]])
    :eq("FILE.services[1].cmd.2: ${PORT:a/b}: the name: " .. rule .. '"a/b"')
  mp.expect(load_error [[ return { name = "x-${PORT:a}", services = { { name = "a", cmd = { "a" } } } } ]])
    :eq("FILE.name: cannot hold a ${PORT:...}: the name is how a cluster that is up is found")
  mp.expect(load_error [[ return { name = "x", backend = "compose", compose = { file = "c.yml" },
      services = { { name = "a", url = "http://127.0.0.1:${PORT:a}" } } } ]])
    :eq("FILE: ${PORT:a}: ports are chosen for the process backend only; the compose file " ..
        "fixes the host ports of a compose cluster")
  mp.expect(load_error [[ return { name = "x", services = { { name = "a", url = "http://127.0.0.1:${PORT:a}" } } } ]])
    :eq("FILE: ${PORT:a}: ports are chosen when mpod-lua starts the cluster's services, and " ..
        "this file starts none (no service has a cmd)")
end)

-- loaded_in(env, path) -> what a fresh mpod-lua, run under `env ARGS...`,
-- loads from the cluster file at path: {name=, ports=, postgres=, mesh1=}
local function loaded_in(env, path)
  local script = write(string.format([[
    local mp = require "mpod"
    mp.test("load", function()
      local c = require("mpod.runner.clusterfile").load(%q, "/tmp/run")
      mp.note("RESULT " .. mp.json.encode { name = c.name, ports = mp.json.array(c.port_names),
        postgres = c.postgres, mesh1 = c.by_name["mesh-1"].url })
    end)
  ]], path))
  local argv = { "env" }
  for _, a in ipairs(env) do argv[#argv + 1] = a end
  argv[#argv + 1] = os.getenv("MPOD") or "build/mpod-lua"
  argv[#argv + 1] = script
  local r = mp.exec(argv)
  local json = r.stdout:match("# RESULT ([^\n]*)")
  if not json then mp.fail("no result:\n" .. r.stdout .. r.stderr) end
  return mp.json.decode(json)
end

mp.test("the reference cluster: ports chosen, or fixed by MESHD_PORT_OFFSET", function()
  local chosen = loaded_in({ "-u", "MESHD_PORT_OFFSET" }, "compose/local.lua")
  mp.expect(chosen.name):eq("meshd-local")
  mp.expect(chosen.ports):eq { "mesh-1", "mesh-2", "mesh-3", "nats", "nats-monitor", "nats-proxy",
    "postgres", "postgres-proxy", "toxiproxy" }
  mp.expect(chosen.mesh1):eq("http://127.0.0.1:0")
  local fixed = loaded_in({ "MESHD_PORT_OFFSET=1100" }, "compose/local.lua")
  mp.expect(fixed.name):eq("meshd-local-1100")
  mp.expect(fixed.ports):eq {}
  mp.expect(fixed.mesh1):eq("http://127.0.0.1:24101")
  mp.expect(fixed.postgres):eq("postgresql://postgres@127.0.0.1:26532/postgres?sslmode=disable")
  mp.expect(loaded_in({ "MESHD_PORT_OFFSET=0" }, "compose/local.lua").name):eq("meshd-local-0")
end)

mp.test("--name replaces the file's name, under the same rule", function()
  local path = write [[ return { name = "mine", services = {} } ]]
  mp.expect(clusterfile.load(path, "", { name = "ci-job-7" }).name):eq("ci-job-7")
  local ok, err = pcall(clusterfile.load, path, "", { name = "../x" })
  mp.expect(ok):eq(false)
  mp.expect(err.message):eq([[--name: must be 1 to 64 letters, digits, '.', '_' or '-', ]] ..
    [[starting with a letter or digit, not "../x"]])
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

mp.test("names that become file names or URLs: letters, digits, '.', '_', '-', at most 64", function()
  local rule = "must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit, not "
  for _, bad in ipairs { "../escaped", "a/b", ".hidden", "-x", "a b", "", string.rep("n", 65) } do
    local text = string.format("return { name = %q }", bad)
    if bad == "" then
      mp.expect(load_error(text)):eq("FILE: needs a name")
    else
      mp.expect(load_error(text)):eq("FILE.name: " .. rule .. string.format("%q", bad))
    end
  end
  mp.expect(load_error [[ return { name = "a\nb" } ]]):eq("FILE.name: " .. rule .. [["a\nb"]])
  mp.expect(load_error [[ return { name = "x", services = { { name = "../a" } } } ]])
    :eq("FILE.services[1].name: " .. rule .. [["../a"]])
  mp.expect(load_error [[ return { name = "x", services = { { name = "a/b" } } } ]])
    :eq("FILE.services[1].name: " .. rule .. [["a/b"]])
  mp.expect(load_error [[ return { name = "x", toxiproxy = { url = "http://127.0.0.1:8474" },
      proxies = { ["pg/../admin"] = { listen = "127.0.0.1:1", upstream = "127.0.0.1:2" } } } ]])
    :eq("FILE.proxies.pg/../admin: " .. rule .. [["pg/../admin"]])
  local ok = clusterfile.load(write(string.format(
    "return { name = %q, services = { { name = %q } } }", string.rep("n", 64), "a.b_c-1")))
  mp.expect(ok.name):eq(string.rep("n", 64))
end)

mp.test("a compose project is a name compose accepts", function()
  mp.expect(load_error [[ return { name = "Shop.Dev", backend = "compose", compose = { file = "c.yml" } } ]])
    :eq("FILE.compose.project: the default project, mpod-Shop.Dev, is not a compose project " ..
        "name (lowercase letters, digits, '_' and '-'): set compose.project")
  mp.expect(load_error [[ return { name = "x", backend = "compose",
      compose = { file = "c.yml", project = "../Up" } } ]])
    :eq([[FILE.compose.project: must be lowercase letters, digits, '_' and '-', starting with ]] ..
        [[a letter or digit, not "../Up"]])
  local c = clusterfile.load(write [[ return { name = "Shop.Dev", backend = "compose",
      compose = { file = "c.yml", project = "shop_dev-1" } } ]])
  mp.expect(c.compose.project):eq("shop_dev-1")
end)

mp.test("compose.cli is a command line: a string that is not blank", function()
  mp.expect(load_error [[ return { name = "x", backend = "compose",
      compose = { file = "c.yml", cli = "  " } } ]])
    :eq([[FILE.compose.cli: must be a command such as "docker compose" or "docker-compose", not "  "]])
  mp.expect(load_error [[ return { name = "x", backend = "compose",
      compose = { file = "c.yml", cli = { "docker", "compose" } } } ]])
    :eq("FILE.compose.cli: must be a string, not a table")
  local c = clusterfile.load(write [[ return { name = "x", backend = "compose",
      compose = { file = "c.yml", cli = "docker compose" } } ]])
  mp.expect(c.compose.cli):eq("docker compose")
  mp.expect(require("mpod.runner.backend.compose").words(" docker  compose "))
    :eq { "docker", "compose" }
end)

mp.test("a hole in a list is an error naming its index, not a silent end of the list", function()
  local hole = "is nil, a hole in the list (a misspelled variable?); the entries after it would be lost"
  mp.expect(load_error [[ local a, b = { name = "a" }, { name = "b" }
      return { name = "x", services = { a, nil, b } } ]]):eq("FILE.services[2]: " .. hole)
  mp.expect(load_error [[ return { name = "x", services = { { name = "a", cmd = { "run", nil, "--fast" } } } } ]])
    :eq("FILE.services[1] (a).cmd[2]: " .. hole)
  mp.expect(load_error [[ return { name = "x", services = { { name = "a" }, { name = "b", after = { nil, "a" } } } } ]])
    :eq("FILE.services[2] (b).after[1]: " .. hole)
  mp.expect(load_error [[ return { name = "x", services = { { name = "a", ready = { cmd = { "true", nil, "x" } } } } } ]])
    :eq("FILE.services[1] (a).ready.cmd[2]: " .. hole)
  mp.expect(load_error [[ return { name = "x", services = { { name = "a", cmd = { "run", fast = true } } } } ]])
    :eq("FILE.services[1] (a).cmd: must be a list")
  mp.expect(load_error [[ return { name = "x", services = { name = "a" } } ]])
    :eq("FILE.services: must be a list of services")
end)

mp.test("ready.log: an invalid Lua pattern is a cluster-file error", function()
  local function log_error(pattern)
    return load_error(string.format("return { name = 'x', services = { { name = 'a', ready = { log = %q } } } }", pattern))
  end
  local where = "FILE.services[1] (a).ready.log: not a valid Lua pattern: "
  mp.expect(log_error "listening (on"):eq(where .. [[unfinished capture in "listening (on"]])
  mp.expect(log_error "^up [0-9"):eq(where .. [[malformed pattern (missing ']') in "^up [0-9"]])
  mp.expect(log_error "ready%"):eq(where .. [[malformed pattern (ends with '%') in "ready%"]])
  mp.expect(log_error "x)."):eq(where .. [[invalid pattern capture in "x)."]])
end)

mp.test("pattern_error agrees with string.find on valid and invalid patterns", function()
  local ready = require "mpod.runner.ready"
  local valid = { "", "^listening on 1$", "a$b", "x^y", "[]]", "[^]a]", "[%]]", "%bxy", "%f[%w]go",
    "(a)%1", "()x", "((a)(b))%3", "[a-z]+%.?%d*", "*a", "a-$", "%%", "(a*(.)%w(%s*))",
    "a)", "a]" }                               -- no special character: plain text
  local invalid = { ["("] = "unfinished capture", ["a)."] = "invalid pattern capture",
    ["[a"] = "malformed pattern (missing ']')", ["%"] = "malformed pattern (ends with '%')",
    ["a%b"] = "malformed pattern (missing arguments to '%b')",
    ["%bx"] = "malformed pattern (missing arguments to '%b')",
    ["%fx"] = "missing '[' after '%f' in pattern", ["%f[a"] = "malformed pattern (missing ']')",
    ["(a%1)"] = "invalid capture index %1", ["%0"] = "invalid capture index %0",
    ["(a)%2"] = "invalid capture index %2", ["[a%"] = "malformed pattern (missing ']')",
    [string.rep("()", 33)] = "too many captures" }
  for _, p in ipairs(valid) do
    mp.expect(ready.pattern_error(p)):is_nil()
    mp.expect(pcall(string.find, "subject", p)):eq(true)
  end
  for p, want in pairs(invalid) do
    mp.expect(ready.pattern_error(p)):eq(want)
    -- string.find raises the same once a match reaches the mistake
    local ok, err = pcall(string.find, "a", p)
    mp.expect(ok):eq(false)
    mp.expect(err):contains(want)
  end
end)

mp.test("pattern_error: no pattern it accepts makes string.find raise (random patterns)", function()
  local ready = require "mpod.runner.ready"
  local alphabet = { "a", "b", "1", "(", ")", "%", "[", "]", "^", "$", "*", "+", "-", "?", ".", "f", "0" }
  local subjects = { "", "a", "ab", "a(b)a", "]a[", "ba1ab", "%f" }
  local rng, accepted = 12345, 0
  for _ = 1, 20000 do
    local parts = {}
    for j = 1, rng % 7 + 1 do
      rng = (rng * 1103515245 + 12345) % 2147483648
      parts[j] = alphabet[rng % #alphabet + 1]
    end
    local p = table.concat(parts)
    if not ready.pattern_error(p) then
      accepted = accepted + 1
      for _, subject in ipairs(subjects) do
        local ok, err = pcall(string.find, subject, p)
        if not ok then mp.fail(string.format("%q accepted, but string.find(%q) raised %s", p, subject, err)) end
      end
    end
  end
  mp.expect(accepted):gt(1000)
end)

mp.test("a log check matches each line on its own: ^ and $ anchor at a line's ends", function()
  local ready = require "mpod.runner.ready"
  local log = "booting\nlistening on 1\r\nlistening on 10\npartial"
  mp.expect(ready.matching_line(log, "^listening")):eq("listening on 1")
  mp.expect(ready.matching_line(log, "on 1$")):eq("listening on 1")
  mp.expect(ready.matching_line(log, "on 10$")):eq("listening on 10")
  mp.expect(ready.matching_line(log, "^partial$")):eq("partial")
  mp.expect(ready.matching_line(log, "^booting$")):eq("booting")
  mp.expect(ready.matching_line(log, "booting.listening")):is_nil()   -- no match across lines
  mp.expect(ready.matching_line(log, "^on")):is_nil()
  mp.expect(ready.matching_line("", "^$")):is_nil()
  mp.expect(ready.matching_line("a\n\nb\n", "^$")):eq("")
end)

mp.test("an invalid ready.log pattern exits 2 before anything starts", function()
  local path = write [[ return { name = "badlog", services = {
    { name = "a", cmd = { "sleep", "30" }, ready = { log = "started (", timeout = 1 } } } } ]]
  local state = assert(sys.mkdtemp("mpod-cf-state"))
  local r = mp.exec({ os.getenv("MPOD") or "build/mpod-lua", "--up", "-C", path, "tests/cases/passing.lua" },
    { env = { MPOD_STATE_DIR = state }, timeout = 30 })
  sys.rmtree(state)
  mp.expect(r.code):eq(2)
  mp.expect(r.stderr):contains(path .. ".services[1] (a).ready.log: not a valid Lua pattern: " ..
    [[unfinished capture in "started ("]])
end)
