-- linear.lua: the mpod-lua side of the linearizability figures of `make
-- bench` (run by bench/linear.sh, which runs Porcupine on the same files).
--
-- Generates, once (kept in BENCH_LINEAR_DIR, default $BUILD/bench-linear),
-- deterministic concurrent histories of a cas register in the export's
-- JSONL format: for each size (SIZES), keys of so many operations by
-- PROCS_PER_KEY processes each; every op takes effect at a random moment
-- between its invoke and its completion, in that order on a real register,
-- so the histories are linearizable; reads, writes and cas of values 0..4
-- (equal states recur: the memoisation matters); 2% of writes and cas
-- time out (info; half of them took effect), 1% fail (did not happen).
-- Then times mp.check.linearizable (model "cas-register") on each file,
-- the ops already in memory: the best of BENCH_LINEAR_RUNS (default 3)
-- runs, or of 200000 / size runs when that is more (small histories vary
-- more), as bench/porcupine does; notes "bench| file valid seconds ops".

local mp = require "mpod"
local json = require "mpod.json"
local sys = require "mpod.sys"

local DIR = os.getenv("BENCH_LINEAR_DIR") or ((os.getenv("BUILD") or "build") .. "/bench-linear")
local RUNS = tonumber(os.getenv("BENCH_LINEAR_RUNS") or "3")
local PROCS_PER_KEY = 5
-- {ops, ops per key}: the sizes the issue asks for, keys of 1000 ops as
-- in Jepsen's tests; and one key of 20k ops, where the search's cache
-- holds long histories of one object
local SIZES = { { 1000, 1000 }, { 10000, 1000 }, { 100000, 1000 }, { 20000, 20000 } }
local VERSION = 1 -- change when the generator changes: new file names

local function rng(seed)
  local s = seed
  return function(n)
    s = s * 6364136223846793005 + 1442695040888963407
    return ((s >> 33) % n)
  end
end

local function uniform(r, ms) return r(1000000) / 1000000 * ms / 1000 end

-- the ops of one key, each {inv=, lin=, ret=, f=, value=, out=, type=, process=}
local function key_ops(r, key, quota, procs)
  local ops = {}
  for p = 1, procs do
    local t = uniform(r, 1)
    for _ = 1, quota // procs do
      local roll, f, value = r(100), nil, nil
      if roll < 50 then f = "read"
      elseif roll < 75 then f, value = "write", r(5)
      else f, value = "cas", { r(5), r(5) } end
      local inv = t
      local lin = inv + uniform(r, 3)
      local ret = lin + uniform(r, 3)
      ops[#ops + 1] = { inv = inv, lin = lin, ret = ret, f = f, value = value, key = key,
                        process = key * procs + p - 1, type = "ok" }
      t = ret + uniform(r, 1)
    end
  end
  return ops
end

-- apply the ops in the order of their moments of effect; sets out and type
local function apply(r, ops)
  table.sort(ops, function(a, b) return a.lin < b.lin end)
  local state
  for _, op in ipairs(ops) do
    local roll = r(100)
    if op.f ~= "read" and roll < 2 then op.type = "info" end
    if op.f ~= "read" and roll == 2 then op.type = "fail" end
    local effect = op.type == "ok" or (op.type == "info" and r(2) == 0)
    if op.f == "read" then
      op.out = state
    elseif op.f == "write" then
      if effect then state = op.value end
      op.out = op.value
    else
      local swapped = state == op.value[1]
      if effect and swapped then state = op.value[2] end
      op.out = (op.type ~= "ok" or swapped) and op.value or false
    end
  end
end

local function generate(path, n, per_key)
  local r = rng(n * 7919 + per_key + VERSION)
  local marks = {}
  for key = 1, math.max(1, n // per_key) do
    local ops = key_ops(r, key, math.min(n, per_key), PROCS_PER_KEY)
    apply(r, ops)
    for _, op in ipairs(ops) do
      marks[#marks + 1] = { op.inv, op, true }
      marks[#marks + 1] = { op.ret, op, false }
    end
  end
  table.sort(marks, function(a, b) return a[1] < b[1] end)
  local lines, index = {}, 0
  for _, m in ipairs(marks) do
    local op = m[2]
    local rec = { index = index, time = m[1], process = op.process, f = op.f, key = "k" .. op.key }
    if m[3] then
      rec.type, rec.value, op.index = "invoke", op.value, index
    else
      rec.type, rec.invoke = op.type, op.index
      if op.type == "ok" then rec.value = op.out end
    end
    lines[#lines + 1] = json.encode(rec)
    index = index + 1
  end
  local tmp = path .. ".tmp"
  local f = assert(io.open(tmp, "wb"))
  f:write(table.concat(lines, "\n"), "\n")
  f:close()
  assert(os.rename(tmp, path))
end

local function read_ops(path)
  local ops = {}
  for line in io.lines(path) do ops[#ops + 1] = json.decode(line) end
  return ops
end

mp.test("linearizability check times", function()
  sys.mkdir_p(DIR)
  for _, size in ipairs(SIZES) do
    local n, per_key = size[1], size[2]
    local path = string.format("%s/cas-register-%d-%dkeys-v%d.jsonl", DIR, n, n // per_key, VERSION)
    if not sys.stat(path) then generate(path, n, per_key) end
    local ops = read_ops(path)
    local best, result = math.huge, nil
    for _ = 1, math.max(RUNS, 200000 // n) do
      local t = mp.now()
      result = mp.check.linearizable(ops, { model = "cas-register", budget = 300, raise = false })
      best = math.min(best, mp.now() - t)
    end
    mp.note(string.format("bench| %s %s %.6f %d", path, tostring(result.valid), best, result.ops))
  end
end)
