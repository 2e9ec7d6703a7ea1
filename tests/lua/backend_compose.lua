-- backend_compose.lua: the compose backend against the real Docker Engine
-- of this machine, on a tiny image the test builds locally (podsvc, static,
-- FROM scratch: there is no registry to pull from): every control
-- operation, logs, isolate/rejoin, healing, up/down, and no container or
-- network left after `down` or after the runner is killed. Skipped, with
-- the reason, when no Docker Engine answers.
--
-- The runs use the compose CLI MPOD_COMPOSE names, v1 `docker-compose`
-- when it is not set; tests/suites/backend-compose-v5.sh runs this file
-- again with the Go `docker compose` v5 (tests/with-compose-v5). One test
-- checks how the engine picks the CLI, with both at hand.

local mp = require "mpod"
local procs = require "procs"
local st = require "selftest"
local proc = require "mpod.proc"
local sys = require "mpod.sys"

mp.exclusive()

local CLUSTER = "tests/clusters/docker.lua"
local IMAGE = "mpod-selftest/podsvc:latest"
local CLI = os.getenv("MPOD_COMPOSE") or "docker-compose"
local state_dir
local docker_ok, docker_why = false, "not checked"

local function docker(args, timeout)
  local argv = { "docker" }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return mp.exec(argv, { timeout = timeout or 60 })
end

mp.before_all(function()
  state_dir = assert(sys.mkdtemp("mpod-state"))
  local ok, r = pcall(docker, { "info", "--format", "{{.ServerVersion}}" }, 20)
  if not ok or r.code ~= 0 then
    docker_why = "no Docker Engine answers: " .. (ok and r.stderr or tostring(r))
    return
  end
  local words = {}
  for word in CLI:gmatch("%S+") do words[#words + 1] = word end
  words[#words + 1] = "version"
  local v_ok, v = pcall(mp.exec, words, { timeout = 30 })
  if not v_ok or v.code ~= 0 then
    docker_why = "the compose CLI " .. CLI .. " does not run: " .. (v_ok and v.stderr or tostring(v))
    return
  end
  mp.note("compose CLI: " .. CLI .. ": " .. v.stdout:match("[^\n]*"))
  local ctx = assert(sys.mkdtemp("mpod-image"))
  local build = os.getenv("BUILD") or "build"
  assert(mp.exec({ "cp", build .. "/fixtures/podsvc", ctx .. "/podsvc" }).code == 0)
  local b = docker({ "build", "-q", "-t", IMAGE, "-f", "tests/compose/podsvc.Dockerfile", ctx }, 300)
  sys.rmtree(ctx)
  if b.code ~= 0 then error("cannot build the test image: " .. b.stderr) end
  docker_ok = true
end)

mp.after_all(function() sys.rmtree(state_dir) end)

local function env()
  local e = procs.env()
  e.MPOD_STATE_DIR = state_dir
  e.MPOD_COMPOSE = CLI
  return e
end

local function need_docker()
  if not docker_ok then mp.fail("skipped: " .. docker_why) end
end

-- containers(tag) -> how many containers and networks the test project has
local function leftovers(tag)
  local project = "mpod-selftest-" .. tag
  local c = docker { "ps", "-aq", "--filter", "label=com.docker.compose.project=" .. project }
  local n = docker { "network", "ls", "-q", "--filter", "label=com.docker.compose.project=" .. project }
  local count = 0
  for _ in (c.stdout .. n.stdout):gmatch("%S+") do count = count + 1 end
  return count
end

local function all_gone(tag)
  mp.poll_until(function() return leftovers(tag) == 0 end,
    { timeout = 60, label = "no container or network of " .. tag })
end

mp.test("every control operation through the Engine API, and healing", function()
  need_docker()
  local e = env()
  local r = st.run({ "--up", "-C", CLUSTER, st.case("compose_ops"), st.case("compose_break"),
    st.case("compose_check") }, { env = e, timeout = 600 })
  st.expect_code(r, 0)
  st.expect_line(r.stdout, "# healed: a (rejoined), b (unpaused)")
  st.expect_line(r.stdout, "ok 3 - tests/cases/compose_check.lua")
  all_gone(e.TAG)
end)

mp.test("up, a run against it, status, down", function()
  need_docker()
  local e = env()
  st.expect_code(st.run({ "up", "-C", CLUSTER }, { env = e, timeout = 600 }), 0)
  local run = st.run({ "-C", CLUSTER, st.case("compose_break"), st.case("compose_check") },
    { env = e, timeout = 600 })
  st.expect_code(run, 0)
  local status = st.run({ "status", "-C", CLUSTER }, { env = e })
  mp.expect(status.stdout):matches("\na%s+running%s+ready")
  mp.expect(status.stdout):matches("\nsetup%s+exited")
  st.expect_code(st.run({ "down", "-C", CLUSTER }, { env = e, timeout = 300 }), 0)
  mp.expect(leftovers(e.TAG)):eq(0)
end)

mp.test("a pod's container is looked up once: a SIGKILL then costs two Engine API calls", function()
  need_docker()
  local e = env()
  st.expect_code(st.run({ "up", "-C", CLUSTER }, { env = e, timeout = 600 }), 0)
  local ok, err = pcall(function()
    for _, k in ipairs { "TAG", "PORT_A", "PORT_B" } do sys.setenv(k, e[k]) end
    local compose = require "mpod.runner.backend.compose"
    local b = compose.new(require("mpod.runner.clusterfile").load(CLUSTER), {})
    local engine = b:engine()
    local function calls(fn)
      local before = engine.requests
      fn()
      return engine.requests - before
    end
    mp.expect(calls(function() mp.expect(b:state("b")):eq("running") end)):eq(2) -- lookup, inspect
    mp.expect(calls(function() b:kill("b") end)):eq(2)                            -- kill, wait
    mp.expect(calls(function() mp.expect(b:state("b")):eq("exited") end)):eq(1)
    mp.expect(calls(function() b:start("b") end)):eq(1)
    -- compose recreates the container behind the backend's back: the id it
    -- remembered answers 404, and the service is looked up again, once
    local old = b.ids.b
    local argv = { table.unpack((compose.cli(b.st.compose))) }
    for _, a in ipairs { "-p", b.st.compose.project, "-f", b.st.compose.file,
                         "up", "-d", "--force-recreate", "--no-deps", "b" } do
      argv[#argv + 1] = a
    end
    local r = mp.exec(argv, { env = e, timeout = 300 })
    if r.code ~= 0 then error("compose up --force-recreate b failed: " .. r.stderr) end
    mp.expect(calls(function() mp.expect(b:state("b")):eq("running") end)):eq(3) -- 404, lookup, inspect
    mp.expect(b.ids.b):ne(old)
  end)
  st.expect_code(st.run({ "down", "-C", CLUSTER }, { env = e, timeout = 300 }), 0)
  if not ok then error(err, 0) end
  all_gone(e.TAG)
end, { timeout = 900 })

-- The partition image: podsvc on the reference cluster's base image (sh,
-- curl, iptables), built by `make images` when it is not there yet.
local function partition_image()
  if docker({ "image", "inspect", "mpod-lua/base:bookworm" }).code ~= 0 then
    local m = mp.exec({ "make", "--no-print-directory", "images" }, { timeout = 1800 })
    if m.code ~= 0 then error("make images failed: " .. m.stderr:sub(-2000)) end
  end
  local ctx = assert(sys.mkdtemp("mpod-image"))
  local build = os.getenv("BUILD") or "build"
  assert(mp.exec({ "cp", build .. "/fixtures/podsvc", ctx .. "/podsvc" }).code == 0)
  local b = docker({ "build", "-q", "-t", "mpod-selftest/podsvc-base:latest", "-f",
                     "tests/compose/podsvc-base.Dockerfile", ctx }, 600)
  sys.rmtree(ctx)
  if b.code ~= 0 then error("cannot build the partition image: " .. b.stderr) end
  return "mpod-selftest/podsvc-base:latest"
end

mp.test("partitions cut two pods apart, each keeping its other links; healing lifts them", function()
  need_docker()
  local e = env()
  e.PODSVC_IMAGE = partition_image()
  local r = st.run({ "--up", "-C", CLUSTER, st.case("compose_partition"), st.case("compose_reach") },
    { env = e, timeout = 600 })
  st.expect_code(r, 0)
  st.expect_line(r.stdout, "# healed: partition lifted (a, b)")
  all_gone(e.TAG)
end, { timeout = 2400 })

mp.test("SIGKILL of the runner: the watchdog takes the project down", function()
  need_docker()
  local e = env()
  local argv = { st.MPOD, "--up", "-C", CLUSTER, st.case("cluster_wait") }
  local p, _, out = proc.spawn { argv = argv, env = e, stdout = "pipe", stderr = "null" }
  local seen = ""
  local reached = pcall(mp.poll_until, function()
    local chunk = out:read(0.2)
    if chunk then seen = seen .. chunk end
    return seen:find("cluster is up", 1, true)
  end, { timeout = 300 })
  if not reached then mp.fail("the run did not reach its test; its output:\n" .. seen) end
  mp.expect(leftovers(e.TAG)):gt(0)
  p:kill("KILL")
  p:wait(10)
  all_gone(e.TAG)
end, { timeout = 600 })

-- The Go `docker compose` as a CLI plugin, in a DOCKER_CONFIG folder of
-- its own (make compose-cli: a few minutes the first time, then cached).
local function v5_config()
  local dir = "build/compose-cli"
  if not sys.stat(dir .. "/cli-plugins/docker-compose") then
    local m = mp.exec({ "make", "--no-print-directory", "compose-cli" }, { timeout = 1200 })
    if m.code ~= 0 then error("make compose-cli failed: " .. m.stderr:sub(-2000)) end
  end
  return sys.realpath(dir)
end

-- The name of service a's container: v2 and later name it project-a-1,
-- v1 project_a_1, which tells the CLI that made it.
local function made_by(tag)
  local r = docker { "ps", "-a", "--format", "{{.Names}}",
    "--filter", "label=com.docker.compose.project=mpod-selftest-" .. tag,
    "--filter", "label=com.docker.compose.service=a" }
  local name = r.stdout:match("%S+") or "(none)"
  if name == "mpod-selftest-" .. tag .. "-a-1" then return "v2" end
  if name == "mpod-selftest-" .. tag .. "_a_1" then return "v1" end
  return name
end

mp.test("the compose CLI: MPOD_COMPOSE, else compose.cli, else `docker compose` if it answers", function()
  need_docker()
  local plugin = v5_config()
  for _, case in ipairs {
    { want = "v2", why = "detected: the plugin answers" },
    { want = "v1", cli = "docker-compose", why = "compose.cli over detection" },
    { want = "v1", cli = "docker compose", env = "docker-compose", why = "MPOD_COMPOSE over compose.cli" },
  } do
    local e = env()
    e.DOCKER_CONFIG, e.MPOD_COMPOSE = plugin, nil
    -- through env(1): the variables a case does not set must not be inherited
    local argv = { "env", "-u", "MPOD_COMPOSE", "-u", "TEST_COMPOSE_CLI" }
    if case.env then argv[#argv + 1] = "MPOD_COMPOSE=" .. case.env end
    if case.cli then argv[#argv + 1] = "TEST_COMPOSE_CLI=" .. case.cli end
    local command = #argv + 2
    table.move({ st.MPOD, "up", "-C", CLUSTER }, 1, 4, #argv + 1, argv)
    st.expect_code(mp.exec(argv, { env = e, timeout = st.slow(300) }), 0)
    local made = made_by(e.TAG)
    argv[command] = "down"
    st.expect_code(mp.exec(argv, { env = e, timeout = st.slow(300) }), 0)
    if made ~= case.want then mp.fail(case.why .. ": containers made by " .. made .. ", not " .. case.want) end
    all_gone(e.TAG)
  end
  local e = env()
  e.MPOD_COMPOSE = "no-such-compose"
  local r = st.run({ "up", "-C", CLUSTER }, { env = e, timeout = 120 })
  st.expect_code(r, 3)
  mp.expect(r.stderr):contains("cannot run no-such-compose (the compose CLI, from MPOD_COMPOSE)")
  all_gone(e.TAG)
end, { timeout = 1800, skip = os.getenv("MPOD_COMPOSE") and "run with MPOD_COMPOSE set: the default run tests the choice" or nil })
