-- backend_compose.lua: the compose backend against the real Docker Engine
-- of this machine, on a tiny image the test builds locally (podsvc, static,
-- FROM scratch: there is no registry to pull from): every control
-- operation, logs, isolate/rejoin, healing, up/down, and no container or
-- network left after `down` or after the runner is killed. Skipped, with
-- the reason, when no Docker Engine answers.

local mp = require "mpod"
local procs = require "procs"
local st = require "selftest"
local proc = require "mpod.proc"
local sys = require "mpod.sys"

mp.exclusive()

local CLUSTER = "tests/clusters/docker.lua"
local IMAGE = "mpod-selftest/podsvc:latest"
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
    local argv = { table.unpack(compose.cli()) }
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
