-- control_compose.lua: times pod control through the Docker Engine API for
-- bench/control.sh (on tests/clusters/docker.lua). Prints one note per
-- figure: "bench <name> <median ms>".
local mp = require "mpod"
mp.exclusive()
local ROUNDS = tonumber(os.getenv("BENCH_ROUNDS") or "10")

local function median(list)
  table.sort(list)
  return list[(#list + 1) // 2]
end

local function ms(fn)
  local t0 = mp.now()
  fn()
  return (mp.now() - t0) * 1000
end

mp.test("kill, start and logs_contain through the Engine API", function()
  local b = mp.cluster():pod("b")
  local kills, starts, greps = {}, {}, {}
  for i = 1, ROUNDS do
    kills[i] = ms(function() b:kill() end)
    starts[i] = ms(function() b:start() end)
    b:wait_ready(30)
    greps[i] = ms(function() mp.expect(b:logs_contain("started")):truthy() end)
  end
  mp.note(string.format("bench kill %.2f", median(kills)))
  mp.note(string.format("bench start %.2f", median(starts)))
  mp.note(string.format("bench logs_contain %.2f", median(greps)))
end, { timeout = 600 })
