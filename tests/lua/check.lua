-- check.lua: mp.check's checkers on histories known to be valid and known
-- to be invalid, given as plain arrays of ops in the export's format (and
-- once as an object with :ops(), as mp.history() is). linearizable: each
-- model, info and open ops, failed ops, per-key partitions, the budget
-- answering "unknown" on an exponential history, the proof in the error;
-- then the 102 Jepsen etcd histories that ship with Porcupine v1.3.1,
-- fetched from the Go module proxy into $BUILD/gomod
-- (bench/porcupine_fetch.sh), each against the verdict Porcupine's own
-- porcupine_test.go gives it. Then fencing, no_split_brain, set,
-- exactly_once, monotonic and read_your_writes.

local mp = require "mpod"
local jepsen = require "jepsen"
local st = require "selftest"

local check = mp.check

-- H{{process, type, f, value [, key]}, ...} -> ops with index and time
local function H(rows)
  local ops = {}
  for i, r in ipairs(rows) do
    ops[i] = { index = i - 1, time = (i - 1) / 10, process = r[1], type = r[2], f = r[3],
               value = r[4], key = r[5] }
  end
  return ops
end

local function raises_check(fn, ...)
  local args = table.pack(...)
  return mp.expect(function() fn(table.unpack(args, 1, args.n)) end):raises { kind = "check" }
end

local function has_line(text, line)
  for l in (text .. "\n"):gmatch("(.-)\n") do
    if l == line then return true end
  end
  return false
end

-- linearizable ------------------------------------------------------------------

mp.test("register: overlapping ops may take effect in either order", function()
  local h = H {
    { 1, "invoke", "write", 1 }, { 2, "invoke", "read" }, { 3, "invoke", "read" },
    { 2, "ok", "read", 1 }, { 3, "ok", "read" }, { 1, "ok", "write", 1 },
    { 2, "invoke", "read" }, { 2, "ok", "read", 1 },
  }
  local r = check.linearizable(h, { model = "register" })
  mp.expect(r):matches { valid = true, model = "register", ops = 4, partitions = 1 }
end)

mp.test("register: a read of an overwritten value fails with the ops that prove it", function()
  local h = H {
    { 1, "invoke", "write", 1 }, { 1, "ok", "write", 1 },
    { 2, "invoke", "write", 2 }, { 2, "ok", "write", 2 },
    { 3, "invoke", "read" }, { 3, "ok", "read", 1 },
  }
  local err = raises_check(check.linearizable, h, { model = "register" })
  mp.expect(err.message):matches(mp.pattern("^not linearizable %(model register%)"))
  mp.expect(err):matches { checker = "linearizable", placed = 2, total = 3, state = "2" }
  mp.expect(err.ops):eq("4 0.400 3 invoke read nil\n5 0.500 3 ok read 1")
  mp.expect(has_line(err.placed_last, "3 0.300 2 ok write 2")):truthy()
  local r = check.linearizable(h, { model = "register", raise = false })
  mp.expect(r.valid):eq(false)
  mp.expect(r.error.kind):eq("check")
end)

mp.test("info and open ops may take effect any time after their invoke; failed ones never", function()
  local info = H {
    { 1, "invoke", "write", 7 }, { 2, "invoke", "read" }, { 2, "ok", "read" },
    { 1, "info", "write", 7 },
    { 2, "invoke", "read" }, { 2, "ok", "read", 7 },
  }
  mp.expect(check.linearizable(info).valid):eq(true)
  local open = H { { 1, "invoke", "write", 7 }, { 2, "invoke", "read" }, { 2, "ok", "read", 7 },
                   { 3, "invoke", "read" }, { 3, "ok", "read", 7 } }
  mp.expect(check.linearizable(open).valid):eq(true)
  local failed = H { { 1, "invoke", "write", 7 }, { 1, "fail", "write", 7 },
                     { 2, "invoke", "read" }, { 2, "ok", "read", 7 } }
  local err = raises_check(check.linearizable, failed)
  mp.expect(err.ops):eq("2 0.200 2 invoke read nil\n3 0.300 2 ok read 7")
  -- an op completed by index, not by process
  local by_index = {
    { index = 0, time = 0, process = 1, type = "invoke", f = "write", value = 1 },
    { index = 1, time = 0.1, process = 1, type = "invoke", f = "write", value = 2 },
    { index = 2, time = 0.2, process = 1, type = "ok", f = "write", invoke = 0 },
    { index = 3, time = 0.3, process = 2, type = "invoke", f = "read" },
    { index = 4, time = 0.4, process = 2, type = "ok", f = "read", value = 1, invoke = 3 },
  }
  mp.expect(check.linearizable(by_index).valid):eq(true)
end)

mp.test("cas-register: a cas that swapped, one that found another value (ok false)", function()
  local ok = H {
    { 1, "invoke", "write", 1 }, { 1, "ok", "write", 1 },
    { 2, "invoke", "cas", { 1, 2 } }, { 2, "ok", "cas", { 1, 2 } },
    { 3, "invoke", "cas", { 1, 3 } }, { 3, "ok", "cas", false },
    { 1, "invoke", "read" }, { 1, "ok", "read", 2 },
  }
  mp.expect(check.linearizable(ok, { model = "cas-register" }).valid):eq(true)
  local bad = H {
    { 1, "invoke", "write", 1 }, { 1, "ok", "write", 1 },
    { 2, "invoke", "cas", { 1, 2 } }, { 2, "ok", "cas", false },
  }
  local err = raises_check(check.linearizable, bad, { model = "cas-register" })
  mp.expect(err.state):eq("1")
  mp.expect(function() check.linearizable(H { { 1, "invoke", "cas", 3 } }, { model = "cas-register" }) end)
    :raises { kind = "usage" }
end)

mp.test("keys are checked apart (P-compositionality); opts.f renames ops; init", function()
  local h = H {
    { 1, "invoke", "write", 1, "a" }, { 2, "invoke", "write", 2, "b" },
    { 1, "ok", "write", 1, "a" }, { 2, "ok", "write", 2, "b" },
    { 3, "invoke", "read", nil, "a" }, { 3, "ok", "read", 1, "a" },
    { 4, "invoke", "read", nil, "b" }, { 4, "ok", "read", 2, "b" },
  }
  mp.expect(check.linearizable(h)):matches { valid = true, partitions = 2 }
  h[6].value = 2
  local err = raises_check(check.linearizable, h)
  mp.expect(err.key):eq("a")
  local renamed = H { { 1, "invoke", "put", 5 }, { 1, "ok", "put", 5 }, { 2, "invoke", "get" }, { 2, "ok", "get", 5 } }
  mp.expect(check.linearizable(renamed, { f = { read = "get", write = "put" } }).ops):eq(2)
  mp.expect(check.linearizable(H { { 1, "invoke", "read" }, { 1, "ok", "read", 0 } }, { init = 0 }).valid):eq(true)
end)

mp.test("set and queue models", function()
  local set = H {
    { 1, "invoke", "add", 1 }, { 2, "invoke", "add", 2 }, { 1, "ok", "add", 1 },
    { 3, "invoke", "read" }, { 3, "ok", "read", { 1 } }, { 2, "ok", "add", 2 },
    { 3, "invoke", "read" }, { 3, "ok", "read", { 2, 1 } },
  }
  mp.expect(check.linearizable(set, { model = "set" }).valid):eq(true)
  set[8].value = { 2 }
  local err = raises_check(check.linearizable, set, { model = "set" })
  mp.expect(err.state):eq("[1,2]")
  local queue = H {
    { 1, "invoke", "enqueue", "x" }, { 1, "ok", "enqueue", "x" },
    { 2, "invoke", "enqueue", "y" }, { 3, "invoke", "dequeue" }, { 2, "ok", "enqueue", "y" },
    { 3, "ok", "dequeue", "x" }, { 3, "invoke", "dequeue" }, { 3, "ok", "dequeue", "y" },
    { 3, "invoke", "dequeue" }, { 3, "ok", "dequeue" },
  }
  mp.expect(check.linearizable(queue, { model = "queue" }).valid):eq(true)
  queue[6].value, queue[8].value = "y", "x"
  raises_check(check.linearizable, queue, { model = "queue" })
end)

mp.test("a history object (:ops()) is read like an array", function()
  local rows = H { { 1, "invoke", "write", 3 }, { 1, "ok", "write", 3 }, { 2, "invoke", "read" }, { 2, "ok", "read", 3 } }
  local h = { ops = function() return rows end }
  mp.expect(check.linearizable(h).ops):eq(2)
  -- read-only views: the ops and the array behind __index and __len
  local views = {}
  for i, op in ipairs(rows) do views[i] = setmetatable({}, { __index = op }) end
  local view = setmetatable({}, { __index = views, __len = function() return #views end })
  mp.expect(check.linearizable({ ops = function() return view end }).ops):eq(2)
  rows[4].value = 9
  raises_check(check.linearizable, { ops = function() return view end })
end)

mp.test("point ops, integral float indexes, bad ops", function()
  local h = H { { 1, "invoke", "write", 4 }, { 1, "ok", "write", 4 } }
  h[3] = { index = 2, time = 0.2, process = 9, type = "ok", f = "read", value = 4, point = true }
  mp.expect(check.linearizable(h).ops):eq(2)
  h[3].value = 5
  mp.expect(raises_check(check.linearizable, h).ops):eq("2 0.200 9 ok read 5")
  local floats = {
    { index = 0.0, process = 1, type = "invoke", f = "write", value = 1 },
    { index = 1.0, process = 2, type = "invoke", f = "write", value = 2 },
    { index = 2, process = 1, type = "ok", f = "write", invoke = 0 },
    { index = 3, process = 3, type = "invoke", f = "read" },
    { index = 4, process = 3, type = "ok", f = "read", value = 1, invoke = 3 },
    { index = 5, process = 2, type = "ok", f = "write", invoke = 1.0 },
  }
  mp.expect(check.linearizable(floats).valid):eq(true)
  floats[5].value = 7
  raises_check(check.linearizable, floats)
  local err = mp.expect(function() check.linearizable { h[1], 42 } end):raises { kind = "usage" }
  mp.expect(err.message):eq("mp.check.linearizable: op 2 is a number, not a table")
  mp.expect(function() check.linearizable(H { { 1, "ok", "read", 5 } }, { model = "set" }) end)
    :raises { kind = "usage" }
end)

mp.test("the budget: an exponential search answers unknown in time, never hangs", function()
  -- 60 writes all overlapping and a read of a value none wrote: every
  -- subset of the writes is a state to explore
  local rows = {}
  for p = 1, 60 do rows[#rows + 1] = { p, "invoke", "write", p } end
  rows[#rows + 1] = { 99, "invoke", "read" }
  for p = 1, 60 do rows[#rows + 1] = { p, "ok", "write", p } end
  rows[#rows + 1] = { 99, "ok", "read", 1000 }
  local started = mp.now()
  local r = check.linearizable(H(rows), { budget = 0.2 })
  mp.expect(r.valid):eq("unknown")
  mp.expect(r.reason):matches(mp.pattern("budget"))
  mp.expect(mp.now() - started):lt(st.slow(2))   -- the budget, its last steps, and building the result
  local capped = check.linearizable(H(rows), { max_bytes = 1 << 20 })
  mp.expect(capped):matches { valid = "unknown", reason = "the search reached its memory cap" }
  mp.expect(function() check.linearizable(H(rows), { budget = 0 }) end):raises { kind = "usage" }
  mp.expect(function() check.linearizable(H(rows), { model = "stack" }) end):raises { kind = "usage" }
  mp.expect(function() check.linearizable(H(rows), { modle = "set" }) end):raises { kind = "usage" }
  mp.expect(function() check.linearizable(42) end):raises { kind = "usage" }
end)

-- Porcupine's module, fetched once into $BUILD/gomod; without the Go
-- module proxy (or go) the etcd test is skipped, saying why.
local fetched = mp.exec { "bench/porcupine_fetch.sh" }
local PORCUPINE = fetched.code == 0 and fetched.stdout:gsub("%s+$", "") or nil
local NO_PORCUPINE = not PORCUPINE and ("Porcupine v1.3.1 could not be fetched from the Go module proxy: "
  .. fetched.stderr:gsub("%s+$", "")) or nil

mp.test("the Jepsen etcd histories shipped with Porcupine: its verdicts", function()
  local f = assert(io.open(PORCUPINE .. "/porcupine_test.go", "rb"))
  local verdicts = jepsen.verdicts(f:read("a"))
  f:close()
  local count, illegal, differ = 0, 0, {}
  for n = 0, 102 do
    local want = verdicts[n]
    if want ~= nil then
      local ops = jepsen.read(string.format("%s/test_data/jepsen/etcd_%03d.log", PORCUPINE, n))
      local res = check.linearizable(ops, { model = "cas-register", budget = 20, raise = false })
      if res.valid ~= want then
        differ[#differ + 1] = string.format("etcd_%03d: %s, Porcupine %s", n, tostring(res.valid), tostring(want))
      end
      if res.valid == false then
        illegal = illegal + 1
        mp.expect(res.error.ops):matches(mp.pattern(" ok "))
      end
      count = count + 1
    end
  end
  mp.expect(count):ge(100)
  mp.expect(table.concat(differ, "\n")):eq("")
  mp.expect(illegal):gt(0)
  mp.expect(illegal):lt(count)
  mp.note(string.format("%d etcd histories, %d not linearizable, as Porcupine says", count, illegal))
end, { skip = NO_PORCUPINE })

mp.test("a failed check in the report: the headline, then the ops as a block", function()
  local r = st.run { "--seed", "1", st.case("check_failures") }
  st.expect_code(r, 1)
  for _, line in ipairs {
    "    not ok 1 - linearizable",
    '      message: "not linearizable (model register): the longest valid order places 2 of 3 ops and leaves state 2, which none of the 1 op(s) that must come next fits"',
    '      kind: "check"',
    '      checker: "linearizable"',
    "      ops: |",
    "        4 0.400 3 invoke read nil",
    "        5 0.500 3 ok read 1",
    "      placed_last: |",
    "        3 0.300 2 ok write 2",
    "    not ok 2 - set",
    [[      message: "set: 1 acknowledged add(s) lost: {\"x\"}"]],
    '        1 0.100 1 ok add "x"',
    "        3 0.300 2 ok read {}",
    "    ok 3 - a valid history passes",
  } do
    st.expect_line(r.stdout, line)
  end
end)

-- fencing and no_split_brain ---------------------------------------------------------

mp.test("fencing: epochs never go back, one owner an epoch; without epochs owners take turns", function()
  local log = { { owner = "a", epoch = 1, write = 1 }, { owner = "a", epoch = 1, write = 2 },
                { owner = "b", epoch = 2, write = 3 }, { owner = "b", epoch = 2, write = 4 } }
  mp.expect(check.fencing(log)):matches { valid = true, owners = 2 }
  table.insert(log, { owner = "a", epoch = 1, write = 5 })
  local err = raises_check(check.fencing, log)
  mp.expect(err.message):eq("stale write: \"a\" wrote with epoch 1 after \"b\" had taken over with epoch 2")
  mp.expect(err.ops):eq("#3 owner=\"b\" epoch=2 write=3\n#5 owner=\"a\" epoch=1 write=5")
  local same = raises_check(check.fencing, { { owner = "a", epoch = 3 }, { owner = "b", epoch = 3 } })
  mp.expect(same.message):matches(mp.pattern("two owners wrote with epoch 3"))
  mp.expect(check.fencing { { owner = "a" }, { owner = "b" }, { owner = "c" } }.valid):eq(true)
  raises_check(check.fencing, { { owner = "a" }, { owner = "b" }, { owner = "a" } })
  mp.expect(function() check.fencing { { epoch = 1 } } end):raises { kind = "usage" }
end)

mp.test("no_split_brain: sorted by time, a superseded owner never acts again", function()
  local log = { { owner = "a", time = 1 }, { owner = "b", time = 3 }, { owner = "a", time = 2 },
                { owner = "b", time = 4 } }
  mp.expect(check.no_split_brain(log)):matches { valid = true, terms = 2 }
  log[#log + 1] = { owner = "a", time = 5 }
  local err = raises_check(check.no_split_brain, log)
  mp.expect(err.message):eq("split brain: \"a\" acted at 5 after \"b\" had taken over at 3")
  mp.expect(function() check.no_split_brain { { owner = "a" } } end):raises { kind = "usage" }
end)

-- set ------------------------------------------------------------------------------------

local function set_history(read)
  return H {
    { 1, "invoke", "add", 1 }, { 1, "ok", "add", 1 },
    { 2, "invoke", "add", 2 }, { 2, "info", "add", 2 },
    { 3, "invoke", "add", 3 }, { 3, "fail", "add", 3 },
    { 4, "invoke", "add", 4 }, { 4, "ok", "add", 4 },
    { 5, "invoke", "read" }, { 5, "ok", "read", read },
  }
end

mp.test("set: lost, unexpected, duplicated, recovered", function()
  mp.expect(check.set(set_history { 1, 4 })):matches {
    valid = true, attempted = 4, acknowledged = 2, ok = 2, recovered = {}, lost = {} }
  mp.expect(check.set(set_history { 4, 2, 1 }).recovered):eq { 2 }
  -- 3 added twice: failed, then of unknown outcome: present is fine
  local twice = H {
    { 3, "invoke", "add", 3 }, { 3, "fail", "add", 3 }, { 6, "invoke", "add", 3 }, { 6, "info", "add", 3 },
    { 5, "invoke", "read" }, { 5, "ok", "read", { 3, 3 } },
  }
  mp.expect(check.set(twice, { raise = false })):matches { valid = false, recovered = { 3 }, duplicated = { 3 }, ok = 0 }
  local err = raises_check(check.set, set_history { 2, 9, 1, 1, 3 })
  mp.expect(err.message):eq("set: 1 acknowledged add(s) lost: {4}; 2 unexpected: {3, 9}; 1 duplicated: {1}")
  mp.expect(has_line(err.ops, "6 0.600 4 invoke add 4")):truthy()
  mp.expect(has_line(err.ops, "9 0.900 5 ok read [2,9,1,1,3]")):truthy()
  local r = check.set(set_history { 1 }, { raise = false })
  mp.expect(r.lost):eq { 4 }
  local renamed = H { { 1, "invoke", "put", "x" }, { 1, "ok", "put", "x" }, { 2, "invoke", "list" }, { 2, "ok", "list", {} } }
  mp.expect(raises_check(check.set, renamed, { add = "put", read = "list" }).lost):eq { "x" }
  mp.expect(check.set(H { { 1, "invoke", "add", 1 }, { 1, "ok", "add", 1 } }).valid):eq("unknown")
end)

mp.test("set: a final read of thousands of items shows as one bounded line", function()
  local big = {}
  for i = 1, 3000 do big[i] = i + 10 end          -- 4 (acknowledged) is lost
  local err = raises_check(check.set, set_history(big))
  local line = err.ops:match("[^\n]*ok read %[[^\n]*")
  mp.expect(line):matches("^9 0%.900 5 ok read %[11,12,13,")
  mp.expect(#line):le(260)
  mp.expect(line):matches("%.%.%. %(%d+ more bytes%)$")
end)

-- exactly_once -------------------------------------------------------------------------

mp.test("exactly_once: each of first .. first + n - 1 once, in order", function()
  mp.expect(check.exactly_once({ 1, 2, 3 }, 3).valid):eq(true)
  mp.expect(check.exactly_once({ 0, 1 }, 2, { first = 0 }).valid):eq(true)
  local err = raises_check(check.exactly_once, { 1, 3, 3, 2, 7 }, 4)
  mp.expect(err.message):eq("exactly once 1..4: 1 missing: {4}; 1 duplicated: {3}; 1 out of order: {2}; 1 unexpected: {7}")
  mp.expect(has_line(err.ops, "seq[3] = 3")):truthy()
  local ops = H { { 1, "ok", "chunk", 1 }, { 1, "ok", "chunk", 1 } }
  mp.expect(raises_check(check.exactly_once, ops, 1).ops):eq("0 0.000 1 ok chunk 1\n1 0.100 1 ok chunk 1")
  mp.expect(function() check.exactly_once({ "a" }, 1) end):raises { kind = "usage" }
end)

-- monotonic ----------------------------------------------------------------------------

mp.test("monotonic: per reader, never back", function()
  local h = H {
    { 1, "invoke", "version" }, { 1, "ok", "version", 1 },
    { 2, "invoke", "version" }, { 2, "ok", "version", 5 },
    { 1, "invoke", "version" }, { 1, "ok", "version", 2 },
  }
  mp.expect(check.monotonic(h, { f = "version" })):matches { valid = true, reads = 3, readers = 2 }
  local err = raises_check(check.monotonic, h, { f = "version", per = function() return "all" end })
  mp.expect(err.message):eq("version went back for reader \"all\": 5 then 2")
  mp.expect(err.ops):eq("2 0.200 2 invoke version nil\n3 0.300 2 ok version 5\n4 0.400 1 invoke version nil\n5 0.500 1 ok version 2")
  h[2].pod, h[4].pod, h[6].pod = "a", "b", "a"
  mp.expect(check.monotonic(h, { f = "version", per = "pod" }).valid):eq(true)
  h[6].value = 1
  raises_check(check.monotonic, h, { f = "version", strict = true, per = "pod" })
  mp.expect(function() check.monotonic(h) end):raises { kind = "usage" }
end)

-- read_your_writes --------------------------------------------------------------------

mp.test("read_your_writes: after the window, a client reads its write or a newer one", function()
  local h = H {
    { 1, "invoke", "write", "v1", "s" }, { 1, "ok", "write", "v1", "s" },
    { 1, "invoke", "read", nil, "s" }, { 1, "ok", "read", "v0", "s" },    -- within the window
    { 2, "invoke", "write", "v2", "s" }, { 2, "ok", "write", "v2", "s" },
    { 1, "invoke", "read", nil, "s" }, { 1, "ok", "read", "v2", "s" },
  }
  mp.expect(check.read_your_writes(h, { window = 0.15 })):matches { valid = true, reads = 2, checked = 1 }
  local err = raises_check(check.read_your_writes, h, { window = 0.05 })
  mp.expect(err.message):eq("read your writes: 1 wrote \"v1\", then read \"v0\" 0.100 s later")
  h[8].value = "v0"
  raises_check(check.read_your_writes, h, { window = 0.15 })
  mp.expect(function() check.read_your_writes(h, { window = -1 }) end):raises { kind = "usage" }
end)
