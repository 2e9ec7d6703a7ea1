-- linear_workload.lua: the scenario whose exported history the
-- linearizability figures of `make bench` check (bench/linear.sh runs it
-- with `--history DIR`, once per size, then mp.check.linearizable and
-- Porcupine read the file it exports).
--
-- Tasks (mp.spawn), PROCS_PER_KEY of them per key, read, write and cas
-- (values 0..4, so equal states recur: the memoisation matters) a
-- cas register per key, a plain Lua table, and record each operation with
-- mp.history(): the invoke, a few yields (mp.sleep(0), 0 to 2 of them) so
-- the other tasks of the key run meanwhile, the operation on the
-- register (atomic: no yield inside), a few yields, the completion. So
-- operations of a key overlap in time and the history is linearizable by
-- construction. Of writes and cas, 2% end "info" (a timeout: half of them
-- took effect) and 1% "fail" (refused: did not happen); a cas that finds
-- another value completes ok with value false (docs/checkers.md).
--
-- Sizes from the environment: BENCH_LINEAR_OPS operations in all
-- (default 1000), keys of BENCH_LINEAR_PER_KEY operations (default 1000).
-- The choices come from a generator of each task's own, seeded by its key
-- and number: the same ops each run, interleaved as the scheduler runs
-- them.

local mp = require "mpod"

local OPS = math.tointeger(tonumber(os.getenv("BENCH_LINEAR_OPS") or "1000"))
local PER_KEY = math.tointeger(tonumber(os.getenv("BENCH_LINEAR_PER_KEY") or "1000"))
local PROCS_PER_KEY = 5
assert(OPS and OPS > 0 and PER_KEY and PER_KEY > 0,
  "BENCH_LINEAR_OPS and BENCH_LINEAR_PER_KEY must be positive integers")

-- a small deterministic generator: r(n) -> 0..n-1
local function rng(seed)
  local s = seed
  return function(n)
    s = s * 6364136223846793005 + 1442695040888963407
    return (s >> 33) % n
  end
end

local function yield_some(r)
  for _ = 1, r(3) do mp.sleep(0) end
end

local function pick_op(r)
  local roll = r(100)
  if roll < 50 then return "read", nil end
  if roll < 75 then return "write", r(5) end
  return "cas", { r(5), r(5) }
end

-- the operation on the register; -> the read's value or whether the cas swapped
local function apply(register, key, f, value)
  if f == "read" then return register[key] end
  if f == "write" then register[key] = value; return nil end
  local swapped = register[key] == value[1]
  if swapped then register[key] = value[2] end
  return swapped
end

-- one client of one key: `count` ops one after the other
local function client(h, register, key, r, count)
  for _ = 1, count do
    local f, value = pick_op(r)
    local op = h:invoke(f, value, { key = key })
    yield_some(r)
    local fate = f == "read" and 99 or r(100) -- 0, 1: info; 2: fail
    local effect = fate > 2 or (fate < 2 and r(2) == 0)
    local result = effect and apply(register, key, f, value)
    yield_some(r)
    if fate == 2 then op:fail("refused")
    elseif fate < 2 then op:info("timeout")
    elseif f == "read" then op:ok(result)
    elseif f == "cas" and not result then op:ok(false)
    else op:ok() end
  end
end

mp.test(string.format("%d ops on cas registers, keys of %d", OPS, PER_KEY), function()
  local h, register, tasks = mp.history(), {}, {}
  local per_key = math.min(OPS, PER_KEY)
  for k = 1, math.max(1, OPS // per_key) do
    local key = "k" .. k
    for p = 1, PROCS_PER_KEY do
      local count = per_key // PROCS_PER_KEY + (p <= per_key % PROCS_PER_KEY and 1 or 0)
      tasks[#tasks + 1] = mp.spawn(client, h, register, key, rng(k * 7919 + p), count)
    end
  end
  mp.wait_all(tasks)
  local stats = h:stats()
  mp.expect(stats.user):eq(2 * OPS)
  mp.expect(stats.dropped_ops):eq(0)
  collectgarbage()
  mp.note(string.format("workload| %d user ops in memory, Lua heap %.1f MiB after a full collection",
    stats.user, collectgarbage("count") / 1024))
end, { timeout = 600 })
