-- mpod/scenario/check.lua: mp.check, the checkers that read a history of
-- operations and say whether it shows an anomaly (docs/checkers.md).
--
-- Every checker takes a history object (anything with an :ops() method,
-- as mp.history() returns) or a plain array of op tables in the export's
-- format (index, time, process, type = invoke|ok|fail|info, f, value, key,
-- invoke, ...), returns a result table {valid = true | false | "unknown",
-- ...} and, when valid is false, raises an error of kind "check" whose
-- message is the headline and whose `ops` field lists the few operations
-- that prove it, one line each: "index time process type f value". With
-- opts.raise = false it returns the result instead, the error in
-- result.error.
--
-- linearizable hands the ops to C: mpod.linear (src/linear.c) reads them
-- into integer ids and per-key lists of calls and returns, and src/wgl.c
-- searches; this file checks the options and turns what the search found
-- into the result and the error. The other checkers are plain Lua.

local errors = require "mpod.error"
local inspect = require "mpod.inspect"
local json = require "mpod.json"
local linear = require "mpod.linear"

local M = {}

local MAX_PROOF_OPS = 10
local DEFAULT_BUDGET = 10

-- History input ------------------------------------------------------------

local function ops_of(h, who)
  if type(h) == "table" or type(h) == "userdata" then
    local ok, method = pcall(function() return h.ops end)
    if ok and type(method) == "function" then h = h:ops() end
  end
  if type(h) ~= "table" then
    errors.usage(who .. " expects a history (mp.history()) or an array of ops, got " .. type(h))
  end
  return h
end

local function check_opts(opts, who, known)
  if opts == nil then return {} end
  if type(opts) ~= "table" then errors.usage(who .. " expects an options table, got " .. type(opts)) end
  for k in pairs(opts) do
    if not known[k] then errors.usage(string.format("%s: unknown option %s", who, tostring(k))) end
  end
  return opts
end

local function is_null(v) return v == nil or v == json.null end

-- A value as a proof line shows it: at most SHOW_MAX bytes (a final read
-- of a set can hold thousands of items), cut between characters.
local SHOW_MAX = 200

local function cut(s)
  if #s <= SHOW_MAX then return s end
  local n = SHOW_MAX
  while n > 0 and s:byte(n + 1) and s:byte(n + 1) >= 0x80 and s:byte(n + 1) < 0xC0 do n = n - 1 end
  return string.format("%s... (%d more bytes)", s:sub(1, n), #s - n)
end

local function show_value(v)
  if is_null(v) then return "nil" end
  local ok, s = pcall(json.encode, v)
  if ok and type(v) ~= "string" then return cut(s) end
  return inspect.inspect(v, SHOW_MAX)
end

-- "index time process type f value", as in the export
local function op_line(op)
  return string.format("%s %s %s %s %s %s", tostring(op.index or "?"),
    type(op.time) == "number" and string.format("%.3f", op.time) or "?",
    tostring(op.process or "?"), tostring(op.type), tostring(op.f), show_value(op.value))
end

-- the lines of operations (pairs of invoke and completion, or single ops)
local function proof_lines(operations, limit)
  local lines = {}
  for i, o in ipairs(operations) do
    if i > (limit or MAX_PROOF_OPS) then
      lines[#lines + 1] = string.format("(%d more)", #operations - i + 1)
      break
    end
    if o.invoke and o.invoke ~= o.complete then lines[#lines + 1] = op_line(o.invoke) end
    if o.complete then lines[#lines + 1] = op_line(o.complete) end
  end
  return lines
end

-- fail(result, opts, message, fields): result.valid = false; raises a
-- "check" error unless opts.raise == false (then result.error holds it).
-- Lists of lines (ops, placed_last) become one text, a YAML block.
local function fail(result, opts, message, fields)
  result.valid = false
  fields = fields or {}
  fields.checker = result.checker
  for _, k in ipairs { "ops", "placed_last" } do
    if type(fields[k]) == "table" then fields[k] = table.concat(fields[k], "\n") end
  end
  local err = errors.new("check", message, fields)
  if opts.raise == false then
    result.error = err
    return result
  end
  errors.raise("check", message, fields)
end

-- pair(ops) -> operations {invoke=, complete=, type=, f=, value=, key=,
-- process=, at=}, one per invoke or point op, in invoke order. A
-- completion names its invoke by `invoke` (its index), or else is matched
-- to the open invoke of its process (Jepsen's histories). type is the
-- completion's, "info" for an invoke never completed.
local function pair(ops, who)
  local by_index, open_by_process, operations = {}, {}, {}
  for pos, op in ipairs(ops) do
    if type(op) ~= "table" then
      errors.usage(string.format("%s: op %d is a %s, not a table", who, pos, type(op)))
    end
    local t = op.type
    if t == "invoke" then
      local o = { invoke = op, f = op.f, value = op.value, key = op.key, process = op.process,
                  type = "info", at = pos, open = true }
      operations[#operations + 1] = o
      if op.index ~= nil then by_index[op.index] = o end
      if op.process ~= nil then open_by_process[op.process] = o end
    elseif t == "ok" or t == "fail" or t == "info" then
      local o = op.invoke ~= nil and by_index[op.invoke] or nil
      if not o and op.invoke == nil and not op.point and op.process ~= nil then
        o = open_by_process[op.process]
      end
      if o and o.open then
        o.complete, o.type, o.open, o.done_at = op, t, false, pos
        if open_by_process[o.process] == o then open_by_process[o.process] = nil end
      elseif op.point or (op.invoke == nil and t == "ok") then
        operations[#operations + 1] = { invoke = op, complete = op, f = op.f, value = op.value,
          key = op.key, process = op.process, type = t, at = pos, done_at = pos, point = true }
      end
    end
  end
  return operations
end

-- the result of an operation: its completion's value
local function output(o)
  return o.complete and o.complete.value
end

-- the argument of an operation: its invoke's value, else its completion's
local function input(o)
  if not is_null(o.invoke.value) then return o.invoke.value end
  return o.complete and o.complete.value
end

-- engine ops (engine = true) count only with opts.engine = true
local function keep(op, opts)
  return not (opts.engine ~= true and op.engine)
end

-- Linearizability ------------------------------------------------------------

local LIN = { READ = 0, WRITE = 1, CAS = 2, ADD = 3, SET_READ = 4, ENQUEUE = 5, DEQUEUE = 6 }

-- each model: its op names (the history's f, unless opts.f renames them)
-- with their codes (src/wgl.h), and the shape of its state
local MODELS = {
  register = { state = "value", ops = { read = LIN.READ, write = LIN.WRITE } },
  ["cas-register"] = { state = "value", ops = { read = LIN.READ, write = LIN.WRITE, cas = LIN.CAS } },
  set = { state = "set", ops = { add = LIN.ADD, read = LIN.SET_READ } },
  queue = { state = "list", ops = { enqueue = LIN.ENQUEUE, dequeue = LIN.DEQUEUE } },
}

-- A canonical text of a value, so equal values compare equal: numbers
-- integral in value are integers, tables list their keys sorted.
local function canonical(v)
  local t = type(v)
  if is_null(v) then return "n" end
  if t == "number" then
    if v == math.floor(v) and v > -2^63 and v < 2^63 then return "i" .. string.format("%d", v) end
    return "f" .. string.format("%.17g", v)
  end
  if t == "string" then return "s" .. v end
  if t == "boolean" then return v and "T" or "F" end
  if t == "table" then
    local parts = {}
    for _, k in ipairs(inspect.sorted_keys(v)) do
      parts[#parts + 1] = canonical(k) .. "=" .. canonical(v[k])
    end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return t .. tostring(v)
end

local function describe_key(key)
  return key == nil and "" or (", key " .. show_value(key))
end

-- the ops at the positions calls[i] (and their completions, rets[i])
local function position_lines(ops, calls, rets)
  local lines = {}
  for i, at in ipairs(calls) do
    lines[#lines + 1] = op_line(ops[at])
    if rets[i] ~= 0 and rets[i] ~= at then lines[#lines + 1] = op_line(ops[rets[i]]) end
  end
  return lines
end

local function lin_failure(result, opts, model, ops, f)
  local state = MODELS[model].state == "value" and f.state_value or f.state
  local stuck = position_lines(ops, f.stuck, f.stuck_ret)
  if f.stuck_count > #f.stuck then
    stuck[#stuck + 1] = string.format("(%d more)", f.stuck_count - #f.stuck)
  end
  local message = string.format(
    "not linearizable (model %s%s): the longest valid order places %d of %d ops and leaves "
      .. "state %s, which none of the %d op(s) that must come next fits",
    model, describe_key(f.key), f.placed, f.total, show_value(state), f.stuck_count)
  result.key = f.key
  return fail(result, opts, message, {
    model = model, key = f.key, placed = f.placed, total = f.total, state = show_value(state),
    placed_last = position_lines(ops, f.last, f.last_ret), ops = stuck,
  })
end

-- mp.check.linearizable(h, {model=, budget=, f=, init=, raise=, max_bytes=, engine=})
function M.linearizable(h, opts)
  local who = "mp.check.linearizable"
  opts = check_opts(opts, who, { model = true, budget = true, f = true, init = true,
                                 raise = true, max_bytes = true, engine = true })
  local model = opts.model or "register"
  local spec = MODELS[model]
  if not spec then
    errors.usage(who .. ": model must be register, cas-register, set or queue, got " .. tostring(model))
  end
  local budget = opts.budget or DEFAULT_BUDGET
  if type(budget) ~= "number" or budget <= 0 then errors.usage(who .. ": budget must be seconds > 0") end
  if opts.f ~= nil and type(opts.f) ~= "table" then
    errors.usage(who .. ": f must map the model's op names to the history's, e.g. {read = \"get\"}")
  end
  local names = {}
  for name, code in pairs(spec.ops) do names[opts.f and opts.f[name] or name] = code end
  local init = opts.init
  if spec.state == "value" then init = { opts.init } end
  if init ~= nil and type(init) ~= "table" then errors.usage(who .. ": init must be an array for a " .. model) end
  local ops = ops_of(h, who)
  local out = linear.check(ops, { names = names, state = spec.state, init = init or {},
    canon = canonical, budget = budget, max_bytes = opts.max_bytes, engine = opts.engine })
  local result = { checker = "linearizable", model = model, valid = true,
                   partitions = out.partitions, ops = out.ops, steps = out.steps, cached = out.cached }
  if out.result == "illegal" then return lin_failure(result, opts, model, ops, out.failure) end
  if out.result ~= "ok" then
    result.valid, result.key = "unknown", out.unknown_key
    result.reason = out.result == "timeout" and string.format("the budget of %g s ran out", budget)
      or "the search reached its memory cap"
  end
  return result
end

-- Fencing and split brain -------------------------------------------------------

local function rows_of(log, who)
  if type(log) ~= "table" then errors.usage(who .. " expects an array of rows, got " .. type(log)) end
  for i, row in ipairs(log) do
    if type(row) ~= "table" or row.owner == nil then
      errors.usage(string.format("%s: row %d needs an owner", who, i))
    end
  end
  return log
end

local function row_line(i, row)
  local parts = { string.format("#%d owner=%s", i, show_value(row.owner)) }
  for _, k in ipairs { "epoch", "write", "time" } do
    if row[k] ~= nil then parts[#parts + 1] = k .. "=" .. show_value(row[k]) end
  end
  return table.concat(parts, " ")
end

-- mp.check.fencing(log [, opts]): rows {owner=, epoch=, write=, time=} in
-- the order the writes were persisted. Each write must carry the newest
-- epoch seen so far (a lower one is a stale owner's write that got
-- through), and one epoch belongs to one owner. Rows without an epoch get
-- their owner's term number: owners take turns, none comes back.
function M.fencing(log, opts)
  local who = "mp.check.fencing"
  opts = check_opts(opts, who, { raise = true })
  rows_of(log, who)
  local result = { checker = "fencing", valid = true, rows = #log, owners = 0 }
  local terms, nterms, owner_of_epoch = {}, 0, {}
  local top, top_at = nil, nil
  for i, row in ipairs(log) do
    local epoch = row.epoch
    if epoch == nil then
      if not terms[row.owner] then nterms = nterms + 1; terms[row.owner] = nterms end
      epoch = terms[row.owner]
    end
    if type(epoch) ~= "number" then errors.usage(string.format("%s: row %d's epoch is not a number", who, i)) end
    local holder = owner_of_epoch[epoch]
    if holder and holder.owner ~= row.owner then
      return fail(result, opts, string.format("two owners wrote with epoch %s: %s and %s",
        show_value(epoch), show_value(holder.owner), show_value(row.owner)),
        { ops = { row_line(holder.at, holder.row), row_line(i, row) } })
    end
    if not holder then owner_of_epoch[epoch] = { owner = row.owner, at = i, row = row } end
    if top and epoch < top then
      return fail(result, opts, string.format(
        "stale write: %s wrote with epoch %s after %s had taken over with epoch %s",
        show_value(row.owner), show_value(epoch), show_value(log[top_at].owner), show_value(top)),
        { ops = { row_line(top_at, log[top_at]), row_line(i, row) } })
    end
    if not top or epoch > top then top, top_at = epoch, i end
  end
  for _ in pairs(owner_of_epoch) do result.owners = result.owners + 1 end
  return result
end

-- mp.check.no_split_brain(log [, opts]): rows {owner=, time=} of what each
-- owner did, in any order; sorted by time, an owner once succeeded by
-- another never acts again (two owners never act in overlapping terms).
function M.no_split_brain(log, opts)
  local who = "mp.check.no_split_brain"
  opts = check_opts(opts, who, { raise = true })
  rows_of(log, who)
  local order = {}
  for i, row in ipairs(log) do
    if type(row.time) ~= "number" then errors.usage(string.format("%s: row %d needs a time", who, i)) end
    order[i] = i
  end
  table.sort(order, function(a, b)
    if log[a].time ~= log[b].time then return log[a].time < log[b].time end
    return a < b
  end)
  local result = { checker = "no_split_brain", valid = true, rows = #log, terms = 0 }
  local last_of, current, succeeded_by = {}, nil, {}
  for _, i in ipairs(order) do
    local row = log[i]
    if row.owner ~= current then
      local later = succeeded_by[row.owner]
      if later then
        local prev = last_of[row.owner]
        return fail(result, opts, string.format(
          "split brain: %s acted at %s after %s had taken over at %s",
          show_value(row.owner), show_value(row.time), show_value(later.owner), show_value(later.row.time)),
          { ops = { row_line(prev, log[prev]), row_line(later.at, later.row), row_line(i, row) } })
      end
      if current ~= nil then succeeded_by[current] = { owner = row.owner, at = i, row = row } end
      current = row.owner
      result.terms = result.terms + 1
    end
    last_of[row.owner] = i
  end
  return result
end

local function element_list(o, v, who)
  if is_null(v) then return {} end
  if type(v) ~= "table" then
    errors.usage(string.format("%s: the read at op %s is not an array: %s",
      who, tostring(o.complete.index), show_value(v)))
  end
  return v
end

-- Set -------------------------------------------------------------------------

local function sorted_values(set)
  local list = {}
  for _, v in pairs(set) do list[#list + 1] = v end
  table.sort(list, function(a, b)
    if type(a) == type(b) and (type(a) == "number" or type(a) == "string") then return a < b end
    return canonical(a) < canonical(b)
  end)
  return list
end

-- When a value was added more than once, the add that says most counts:
-- ok, then unknown (info or never completed), then fail.
local ADD_RANK = { ok = 3, info = 2, fail = 1 }

-- mp.check.set(h, {add="add", read="read"}): Jepsen's set checker. The
-- last successful read is the final state: every acknowledged add must
-- be in it (else lost), nothing else but attempted adds (else unexpected;
-- an add that failed, i.e. did not happen, counts there too), each once
-- (else duplicated); adds of unknown outcome that are present are
-- recovered.
function M.set(h, opts)
  local who = "mp.check.set"
  opts = check_opts(opts, who, { add = true, read = true, raise = true, engine = true })
  local add_f, read_f = opts.add or "add", opts.read or "read"
  local operations = pair(ops_of(h, who), who)
  local adds, final = {}, nil
  for _, o in ipairs(operations) do
    if keep(o.invoke, opts) then
      if o.f == add_f then
        local k = canonical(input(o))
        local a = adds[k]
        if not a or ADD_RANK[o.type] > ADD_RANK[a.type] then
          adds[k] = { value = input(o), o = o, type = o.type }
        end
      elseif o.f == read_f and o.type == "ok" then
        if not final or o.done_at > final.done_at then final = o end
      end
    end
  end
  local result = { checker = "set", valid = true, attempted = 0, acknowledged = 0,
                   lost = {}, unexpected = {}, duplicated = {}, recovered = {}, ok = 0 }
  for _, a in pairs(adds) do
    result.attempted = result.attempted + 1
    if a.type == "ok" then result.acknowledged = result.acknowledged + 1 end
  end
  if not final then
    result.valid, result.reason = "unknown", "no successful read of the set"
    return result
  end
  local seen, lost, unexpected, dup, recovered = {}, {}, {}, {}, {}
  for _, v in ipairs(element_list(final, output(final), who)) do
    local k = canonical(v)
    local a = adds[k]
    if seen[k] then dup[k] = v
    elseif not a or a.type == "fail" then unexpected[k] = v
    elseif a.type ~= "ok" then recovered[k] = v
    else result.ok = result.ok + 1 end
    seen[k] = true
  end
  for k, a in pairs(adds) do
    if a.type == "ok" and not seen[k] then lost[k] = a.value end
  end
  result.lost, result.unexpected = sorted_values(lost), sorted_values(unexpected)
  result.duplicated, result.recovered = sorted_values(dup), sorted_values(recovered)
  result.final_read = final.complete and final.complete.index
  if #result.lost + #result.unexpected + #result.duplicated == 0 then return result end
  local proof, parts = {}, {}
  if #result.lost > 0 then
    parts[#parts + 1] = string.format("%d acknowledged add(s) lost: %s", #result.lost,
      inspect.inspect(result.lost, 200))
    for _, v in ipairs(result.lost) do proof[#proof + 1] = adds[canonical(v)].o end
  end
  for _, what in ipairs { "unexpected", "duplicated" } do
    if #result[what] > 0 then
      parts[#parts + 1] = string.format("%d %s: %s", #result[what], what, inspect.inspect(result[what], 200))
    end
  end
  for _, v in ipairs(result.unexpected) do
    local a = adds[canonical(v)]
    if a then proof[#proof + 1] = a.o end
  end
  local lines = proof_lines(proof, MAX_PROOF_OPS - 1)
  lines[#lines + 1] = op_line(final.complete)
  local function nonempty(list) return #list > 0 and list or nil end
  return fail(result, opts, "set: " .. table.concat(parts, "; "), {
    lost = nonempty(result.lost), unexpected = nonempty(result.unexpected),
    duplicated = nonempty(result.duplicated), ops = lines })
end

-- exactly_once ---------------------------------------------------------------------

-- mp.check.exactly_once(seq, n [, {first=1}]): seq (numbers, or ops whose
-- value is the number) holds first .. first + n - 1, each once, in order.
function M.exactly_once(seq, n, opts)
  local who = "mp.check.exactly_once"
  opts = check_opts(opts, who, { first = true, raise = true })
  if type(seq) ~= "table" then errors.usage(who .. " expects an array, got " .. type(seq)) end
  if math.type(n) ~= "integer" or n < 0 then errors.usage(who .. ": n must be an integer >= 0") end
  local first = opts.first or 1
  local last = first + n - 1
  local result = { checker = "exactly_once", valid = true, seen = #seq, expected = n,
                   missing = {}, duplicated = {}, unexpected = {}, out_of_order = {} }
  local at, prev, prev_i = {}, nil, nil
  local function item(i)
    local x = seq[i]
    if type(x) == "table" then return x.value, op_line(x) end
    return x, string.format("seq[%d] = %s", i, show_value(x))
  end
  local proof = {}
  for i = 1, #seq do
    local v, line = item(i)
    if math.type(v) ~= "integer" and not (type(v) == "number" and v == math.floor(v)) then
      errors.usage(string.format("%s: item %d is not an integer: %s", who, i, show_value(v)))
    end
    if v < first or v > last then
      result.unexpected[#result.unexpected + 1] = v
      proof[#proof + 1] = line
    elseif at[v] then
      result.duplicated[#result.duplicated + 1] = v
      proof[#proof + 1] = select(2, item(at[v]))
      proof[#proof + 1] = line
    else
      at[v] = i
    end
    if prev and v < prev and #result.out_of_order < MAX_PROOF_OPS then
      result.out_of_order[#result.out_of_order + 1] = v
      proof[#proof + 1] = select(2, item(prev_i))
      proof[#proof + 1] = line
    end
    prev, prev_i = v, i
  end
  for v = first, last do
    if not at[v] then result.missing[#result.missing + 1] = v end
  end
  local parts = {}
  for _, what in ipairs { "missing", "duplicated", "out_of_order", "unexpected" } do
    if #result[what] > 0 then
      parts[#parts + 1] = string.format("%d %s: %s", #result[what], what:gsub("_", " "),
        inspect.inspect(result[what], 120))
    end
  end
  if #parts == 0 then return result end
  while #proof > MAX_PROOF_OPS do table.remove(proof) end
  return fail(result, opts, string.format("exactly once %d..%d: %s", first, last,
    table.concat(parts, "; ")), { ops = proof, missing = #result.missing > 0 and
      inspect.inspect(result.missing, 200) or nil })
end

-- monotonic ---------------------------------------------------------------------------

local function reader_of(o, per)
  if type(per) == "function" then return per(o.complete or o.invoke) end
  local op = o.complete or o.invoke
  if per == "pod" then return op.pod or o.invoke.pod end
  return op.process
end

-- mp.check.monotonic(h, {f=, per="process"|"pod"|function, value=function,
-- strict=false}): the values read by each reader (successful ops named f,
-- point ops too) never go down (never stay equal either when strict).
function M.monotonic(h, opts)
  local who = "mp.check.monotonic"
  opts = check_opts(opts, who, { f = true, per = true, value = true, strict = true,
                                 raise = true, engine = true })
  if opts.f == nil then errors.usage(who .. ": say which ops to read with f=") end
  local per = opts.per or "process"
  if per ~= "process" and per ~= "pod" and type(per) ~= "function" then
    errors.usage(who .. ': per must be "process", "pod" or a function')
  end
  local result = { checker = "monotonic", valid = true, reads = 0, readers = 0 }
  local last = {}
  for _, o in ipairs(pair(ops_of(h, who), who)) do
    if o.f == opts.f and o.type == "ok" and keep(o.invoke, opts) then
      local v = output(o)
      if opts.value then v = opts.value(o.complete) end
      if type(v) ~= "number" then
        errors.usage(string.format("%s: op %s's value is not a number: %s (give value=)",
          who, tostring(o.complete.index), show_value(v)))
      end
      local r = reader_of(o, per)
      local prev = last[r == nil and last or r]
      result.reads = result.reads + 1
      if not prev then result.readers = result.readers + 1 end
      if prev and (v < prev.v or (opts.strict and v == prev.v)) then
        return fail(result, opts, string.format("%s went back for reader %s: %s then %s",
          tostring(opts.f), show_value(r), show_value(prev.v), show_value(v)),
          { reader = show_value(r), ops = proof_lines { prev.o, o } })
      end
      last[r == nil and last or r] = { v = v, o = o }
    end
  end
  return result
end

-- read_your_writes ------------------------------------------------------------------------

-- mp.check.read_your_writes(h, {write="write", read="read", per="process",
-- window=0}): once a client's write completed, its reads (of the same key)
-- invoked more than window seconds later, on any pod, return that value or
-- one written since (by a write invoked after it), never an older one.
function M.read_your_writes(h, opts)
  local who = "mp.check.read_your_writes"
  opts = check_opts(opts, who, { write = true, read = true, per = true, window = true,
                                 raise = true, engine = true })
  local write_f, read_f = opts.write or "write", opts.read or "read"
  local window, per = opts.window or 0, opts.per or "process"
  if type(window) ~= "number" or window < 0 then errors.usage(who .. ": window must be seconds >= 0") end
  local operations = pair(ops_of(h, who), who)
  local writes = {}   -- by key: the writes in invoke order
  local function key_of(o) return o.key == nil and writes or o.key end
  for _, o in ipairs(operations) do
    if o.f == write_f and o.type ~= "fail" and keep(o.invoke, opts) then
      local list = writes[key_of(o)] or {}
      writes[key_of(o)] = list
      list[#list + 1] = o
    end
  end
  local result = { checker = "read_your_writes", valid = true, reads = 0, checked = 0 }
  for _, o in ipairs(operations) do
    if o.f == read_f and o.type == "ok" and keep(o.invoke, opts) then
      result.reads = result.reads + 1
      local list, client = writes[key_of(o)] or {}, reader_of(o, per)
      local t = o.invoke.time
      local mine
      for _, w in ipairs(list) do
        if w.type == "ok" and reader_of(w, per) == client and w.complete.time + window <= t then
          mine = w
        end
      end
      if mine then
        result.checked = result.checked + 1
        local got, fine = canonical(output(o)), false
        for _, w in ipairs(list) do
          if w.at >= mine.at and canonical(input(w)) == got then fine = true break end
        end
        if not fine then
          return fail(result, opts, string.format(
            "read your writes: %s wrote %s, then read %s %.3f s later",
            show_value(client), show_value(input(mine)), show_value(output(o)),
            t - mine.complete.time), { window = window, ops = proof_lines { mine, o } })
        end
      end
    end
  end
  return result
end

return M
