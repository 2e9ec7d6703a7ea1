-- faults.lua: network faults through the real Toxiproxy (built by
-- `make toxiproxy` at the version in vendor/toxiproxy.version), in front of
-- a podsvc on the process backend (tests/clusters/faults.lua): each fault's
-- effect measured from the client side, clearing, faults that revert on
-- their own, healing between files, and no fault left behind by a runner
-- killed mid-fault.

local mp = require "mpod"
local procs = require "procs"
local st = require "selftest"
local proc = require "mpod.proc"
local sys = require "mpod.sys"

mp.exclusive()

local CLUSTER = "tests/clusters/faults.lua"
local state_dir

mp.before_all(function()
  state_dir = assert(sys.mkdtemp("mpod-state"))
  local build = os.getenv("BUILD") or "build"
  if not sys.stat(build .. "/toxiproxy/toxiproxy-server") then
    local r = mp.exec({ "make", "--no-print-directory", "BUILD=" .. build, "toxiproxy" }, { timeout = 900 })
    if r.code ~= 0 then error("make toxiproxy failed: " .. r.stderr) end
  end
end)

mp.after_all(function() sys.rmtree(state_dir) end)

local function env()
  local e = procs.env()
  e.MPOD_STATE_DIR = state_dir
  e.PORT_P = tostring(sys.free_port())
  e.PORT_T = tostring(sys.free_port())
  return e
end

mp.test("every fault, clearing, for_s, and healing between files", function()
  local e = env()
  local r = st.run({ "--up", "-C", CLUSTER, st.case("faults_ops"), st.case("faults_break"),
    st.case("faults_check") }, { env = e })
  st.expect_code(r, 0)
  st.expect_line(r.stdout, "# healed: proxy faults cleared")
  st.expect_line(r.stdout, "ok 3 - tests/cases/faults_check.lua")
end)

mp.test("a runner killed mid-fault leaves no fault for the next run", function()
  local e = env()
  st.expect_code(st.run({ "up", "-C", CLUSTER }, { env = e }), 0)
  local p, _, out = proc.spawn { argv = { st.MPOD, "-C", CLUSTER, st.case("faults_hold") },
                                 env = e, stdout = "pipe", stderr = "null" }
  local seen = ""
  mp.poll_until(function()
    local chunk = out:read(0.2)
    if chunk then seen = seen .. chunk end
    return seen:find("fault is set", 1, true)
  end, { timeout = 30, label = "the fault is set" })
  p:kill("KILL")
  p:wait(10)
  local toxics = mp.http.request { url = "http://127.0.0.1:" .. e.PORT_T .. "/proxies/web/toxics" }.json
  mp.expect(#toxics):eq(1)                -- the fault outlived the runner...
  local r = st.run({ "-C", CLUSTER, st.case("faults_check") }, { env = e })
  st.expect_code(r, 0)                    -- ...and the next run starts clean
  st.expect_code(st.run({ "down", "-C", CLUSTER }, { env = e }), 0)
  mp.poll_until(function() return procs.count(e.TAG) == 0 end, { timeout = 30, label = "cluster down" })
end)

mp.test("a cluster without proxies says so", function()
  local e = env()
  local r = st.run({ "--up", "-C", "tests/clusters/procs.lua", st.case("faults_break") }, { env = e })
  mp.expect(r.stdout):contains("cluster selftest-" .. e.TAG .. " declares no proxies")
end)
