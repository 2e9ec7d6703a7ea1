-- linear.lua: the mpod-lua side of the linearizability figures of `make
-- bench` (run by bench/linear.sh, which runs Porcupine on the same files).
--
-- Times mp.check.linearizable (model "cas-register") on each history file
-- of BENCH_LINEAR_FILES (paths separated by spaces): the files the engine
-- exported while running bench/linear_workload.lua, read here into op
-- tables first, so only the check is timed. The check reads the
-- scenario's ops and leaves out the engine's (its default, `engine =
-- false`). The best of BENCH_LINEAR_RUNS (default 3) runs, or of 200000 /
-- ops runs when that is more (small histories vary more), as
-- bench/porcupine does; notes "bench| file valid seconds ops".

local mp = require "mpod"
local json = require "mpod.json"

local FILES = os.getenv("BENCH_LINEAR_FILES") or ""
local RUNS = tonumber(os.getenv("BENCH_LINEAR_RUNS") or "3")

local function read_ops(path)
  local ops = {}
  for line in io.lines(path) do ops[#ops + 1] = json.decode(line) end
  return ops
end

mp.test("linearizability check times", function()
  local paths = {}
  for path in FILES:gmatch("%S+") do paths[#paths + 1] = path end
  if #paths == 0 then mp.fail("BENCH_LINEAR_FILES names no history file (run bench/linear.sh)") end
  for _, path in ipairs(paths) do
    local ops = read_ops(path)
    local best, result = math.huge, nil
    for _ = 1, math.max(RUNS, 400000 // #ops) do
      local t = mp.now()
      result = mp.check.linearizable(ops, { model = "cas-register", budget = 300, raise = false })
      best = math.min(best, mp.now() - t)
    end
    mp.note(string.format("bench| %s %s %.6f %d", path, tostring(result.valid), best, result.ops))
  end
end, { timeout = 600 })
