-- mpod/scenario/history.lua: the scenario file's history of operations,
-- mp.history() (docs/history.md).
--
-- An operation ("op") follows Jepsen's model: an invoke, then its
-- completion, ok (it happened), fail (it did not) or info (unknown), each
-- a table {index=, time=, process=, type=, f=, value=, ...} appended in
-- record order. Scenarios record their own (h:invoke, op:ok, h:observe);
-- the engine records its own through mpod.record (HTTP, SSE, pod control,
-- faults, Postgres, polls, tests), marked engine = true.
--
-- Cheap by design: an engine op is one table with the fields as they come
-- (a response's raw head and the request's header lines by reference, the
-- first bytes of the body); parsing headers and redacting happen only when
-- an op is read (h:ops) or exported. Memory is bounded: past
-- limits.detail_ops engine ops holding detail, the oldest lose it; past
-- limits.engine_ops engine ops, the oldest tenth goes at once; both
-- counted in h:stats(). User ops are never dropped.
--
-- Export: given a file (child.lua, from the runner's --history), ops are
-- appended to it as JSON lines in batches (every FLUSH_OPS ops, at most
-- FLUSH_INTERVAL s after an op, at each test's end and the file's end),
-- and always before an op loses detail or is dropped: the file holds every
-- op with its detail, and a process killed mid-file leaves what it wrote.

local errors = require "mpod.error"
local json = require "mpod.json"
local record = require "mpod.record"
local redact = require "mpod.redact"
local requests = require "mpod.requests.core"
local sched = require "mpod.sched"

local M = {}

-- The memory bounds (h:set_limits): engine ops other than requests, and
-- twice the requests kept (two ops each); the requests and the other ops
-- that keep their detail. The history file holds every op in full.
M.ENGINE_OPS = 20000
M.DETAIL_OPS = 1000
M.EXCERPT = 256           -- bytes of a body, an SSE event's data, a query
local FLUSH_OPS = 512
local FLUSH_INTERVAL = 0.5
local UNDERSCORE = string.byte("_")

local now = sched.now
local running = coroutine.running
local current_task = sched.current

-- Processes -------------------------------------------------------------------

-- The task running a test's body (or the file's top level, or a hook) is
-- process 0; any other task is its task id. Looked up once per coroutine.
local process_of = setmetatable({}, { __mode = "k" })
local main_id = nil

-- set_main_task(task): that task is process 0 from now on
function M.set_main_task(t)
  main_id = t and t:id()
end

local function process()
  local co = running()
  local p = process_of[co]
  if p then return p end
  local t = current_task()
  if t then
    p = t:id()
    if p == main_id then p = 0 end
  else
    p = 0
  end
  process_of[co] = p
  return p
end
M.process = process

-- set_process(name): the calling coroutine records as process `name`
function M.set_process(name)
  process_of[running()] = name
end

-- as_process(name, fn) -> fn()'s results, its ops recorded as process `name`
function M.as_process(name, fn)
  local co = running()
  local before = process_of[co]
  process_of[co] = name
  local r = table.pack(pcall(fn))
  process_of[co] = before
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

-- Values ----------------------------------------------------------------------

-- A deep copy of a user's value (tables read raw), so changing the table
-- after recording it does not change the history.
local function copy_value(v, depth)
  if type(v) ~= "table" then return v end
  depth = depth or 0
  if depth > 16 then return "<nested too deep>" end
  local out = {}
  for k, x in next, v do out[k] = copy_value(x, depth + 1) end
  return out
end

-- error_of(err) -> {kind=, message=} from an mpod error, a string or any
-- other value; nil for nil
local function error_of(err)
  if err == nil then return nil end
  if type(err) == "table" and (errors.is(err) or err.message ~= nil) then
    return { kind = tostring(err.kind or "error"), message = tostring(err.message) }
  end
  return { kind = "error", message = tostring(err) }
end
M.error_of = error_of

-- excerpt(bytes [, total]) -> text for reading and export: the first
-- EXCERPT bytes (a character the cut split at the end left out when there
-- was more), or "<total bytes of binary data>" for control bytes or bytes
-- that are not UTF-8 (src/requests.c writes request ops the same way)
local function excerpt(text, total)
  if type(text) ~= "string" then return text end
  total = total or #text
  local head = text:sub(1, M.EXCERPT)
  local _, bad = utf8.len(head)
  if bad and bad > #head - 3 and total > #head then
    head = head:sub(1, bad - 1)
    _, bad = utf8.len(head)
  end
  if bad or head:find("[%z\1-\8\14-\31\127]") then
    return string.format("<%d bytes of binary data>", total)
  end
  return head
end
M.excerpt = excerpt

-- The history ------------------------------------------------------------------

local History = {}
History.__index = History
M.History = History

-- The requests a history keeps: engine_ops / 2 (two ops each).
local function ring_size(engine_ops)
  return math.max(1, engine_ops // 2)
end

-- new([{t0=, file=}]) -> an empty history; t0 is the time 0 of its ops
-- (default now), file the JSON lines file to append to (default none)
function M.new(opts)
  opts = opts or {}
  local t0 = opts.t0 or now()
  local h = setmetatable({
    list = {}, n = 0, next_index = 0, t0 = t0, test = nil,
    engine_n = 0, user_n = 0, detail_n = 0, detail_cursor = 1,
    limits = { engine_ops = M.ENGINE_OPS, detail_ops = M.DETAIL_OPS },
    requests = requests.new(ring_size(M.ENGINE_OPS), M.DETAIL_OPS, t0),
    dropped_ops = 0, dropped_detail = 0,
    pending = {}, pending_half = {}, written = 0, write_errors = 0,
    names = {}, name_ids = {},
  }, History)
  if opts.file then h:_open_file(opts.file) end
  return h
end

-- The next index, taken.
local function take_index(h)
  local i = h.next_index
  h.next_index = i + 1
  return i
end

local flush_later

-- The list holds the ops in index order (tables with named fields); HTTP
-- requests live in h.requests (mpod.requests.core, src/requests.c), one
-- row each outside the Lua heap, and become ops when read. The file's
-- queue holds ops (half 0) and requests' halves (their seq with half 1,
-- the invoke, or 2, the completion).

-- The index of a queued entry.
local function queued_index(h, entry, half)
  if half == 0 then return entry.index end
  return h.requests:index_of(entry, half)
end

-- Queue an op (or a request's half) for the file.
local function queue(h, entry, half)
  local p, n = h.pending, #h.pending + 1
  p[n], h.pending_half[n] = entry, half
  if n >= FLUSH_OPS then h:_flush() elseif not h.flush_task then flush_later(h) end
end

local function push(h, op)
  local n = h.n + 1
  h.list[n] = op
  h.n = n
  if h.out then queue(h, op, 0) end
  return op
end

local function push_user(h, op)
  h.user_n = h.user_n + 1
  return push(h, op)
end

-- Detail and dropping ----------------------------------------------------------

local function strip(op)
  op._detail, op._head, op._lines, op._body, op._data = nil, nil, nil, nil, nil
  op.detail_dropped = true
end

-- The oldest op of the list still holding detail loses it (written first).
local function strip_oldest_detail(h)
  local list = h.list
  for i = h.detail_cursor, h.n do
    local op = list[i]
    if op._detail then
      if #h.pending > 0 and op.index >= h.written then h:_flush() end
      strip(op)
      h.detail_n = h.detail_n - 1
      h.dropped_detail = h.dropped_detail + 1
      h.detail_cursor = i + 1
      return
    end
  end
end

-- The oldest tenth of the list's engine ops goes, in one pass (written
-- first).
local function drop_oldest_engine(h)
  if #h.pending > 0 then h:_flush() end
  local drop = math.max(1, math.ceil(h.limits.engine_ops / 10))
  local list, n, kept, gone = h.list, h.n, 0, 0
  for i = 1, n do
    local op = list[i]
    if gone < drop and op.engine then
      gone = gone + 1
      if op._detail then h.detail_n = h.detail_n - 1 end
    else
      kept = kept + 1
      list[kept] = op
    end
  end
  for i = kept + 1, n do list[i] = nil end
  h.n, h.engine_n = kept, h.engine_n - gone
  h.dropped_ops = h.dropped_ops + gone
  h.detail_cursor = 1
end

-- push_engine(h, op): append an engine op; op._detail says it holds detail
local function push_engine(h, op)
  push(h, op)
  h.engine_n = h.engine_n + 1
  if op._detail then
    h.detail_n = h.detail_n + 1
    if h.detail_n > h.limits.detail_ops then strip_oldest_detail(h) end
  end
  if h.engine_n > h.limits.engine_ops then drop_oldest_engine(h) end
  return op
end

-- User ops -----------------------------------------------------------------------

local Op = {}
M.Op = Op

local OP_FIELDS = { index = true, time = true, process = true, type = true, f = true,
                    value = true, pod = true, key = true, test = true }

Op.__index = function(handle, key)
  local method = Op[key]
  if method ~= nil then return method end
  if OP_FIELDS[key] then return handle._op[key] end
  return nil
end

Op.__tostring = function(handle)
  local op = handle._op
  return string.format("op %d %s (%s)", op.index, op.f, handle._done or "open")
end

local function check_opts(opts, what)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    errors.usage(string.format("%s: options must be a table {process=, pod=, key=}, got %s",
      what, type(opts)))
  end
  local p = opts.process
  if p ~= nil and type(p) ~= "string" and math.type(p) ~= "integer" then
    errors.usage(what .. ": process must be an integer or a string, got " .. tostring(p))
  end
  if opts.pod ~= nil and type(opts.pod) ~= "string" then
    if type(opts.pod) == "table" and type(opts.pod.name) == "string" then
      return { process = p, pod = opts.pod.name, key = opts.key }
    end
    errors.usage(what .. ": pod must be a pod or its name, got " .. type(opts.pod))
  end
  return opts
end

local function check_f(f, what)
  if type(f) ~= "string" or f == "" then
    errors.usage(string.format("%s: the operation name f must be a non-empty string, got %s",
      what, type(f) == "string" and '""' or type(f)))
  end
end

-- h:invoke(f, value [, {process=, pod=, key=}]) -> op handle
function History:invoke(f, value, opts)
  check_f(f, "h:invoke")
  opts = check_opts(opts, "h:invoke")
  local op = push_user(self, {
    index = take_index(self), time = now() - self.t0, process = opts.process or process(),
    type = "invoke", f = f, value = copy_value(value), pod = opts.pod,
    key = copy_value(opts.key), test = self.test,
  })
  return setmetatable({ _h = self, _op = op }, Op)
end

local function complete(handle, kind, value, err)
  local inv = handle._op
  if handle._done then
    errors.usage(string.format("op %d (%s) was already completed: %s; an op completes once",
      inv.index, inv.f, handle._done))
  end
  handle._done = kind
  local h = handle._h
  push_user(h, {
    index = take_index(h), time = now() - h.t0, process = inv.process, type = kind,
    f = inv.f, value = value, pod = inv.pod, key = inv.key, test = h.test,
    invoke = inv.index, error = error_of(err),
  })
  return handle
end

-- The invoke's value, once the handle is known to be one.
local function invoked_value(handle, kind)
  if getmetatable(handle) ~= Op then
    errors.usage(string.format("op:%s() is a method: call it as op:%s(...)", kind, kind))
  end
  return handle._op.value
end

-- op:ok([value]): it happened; value defaults to the invoke's
function Op:ok(value)
  if value == nil then return complete(self, "ok", invoked_value(self, "ok")) end
  invoked_value(self, "ok")
  return complete(self, "ok", copy_value(value))
end

-- op:fail([err]): it surely did not happen
function Op:fail(err) return complete(self, "fail", invoked_value(self, "fail"), err) end

-- op:info([err]): unknown whether it happened (a timeout, a crash)
function Op:info(err) return complete(self, "info", invoked_value(self, "info"), err) end

-- op:completed() -> "ok" | "fail" | "info" | nil while open
function Op:completed() return self._done end

-- h:observe(f, value [, opts]) -> the op's index: something seen, not done
function History:observe(f, value, opts)
  check_f(f, "h:observe")
  opts = check_opts(opts, "h:observe")
  local op = push_user(self, {
    index = take_index(self), time = now() - self.t0, process = opts.process or process(),
    type = "ok", f = f, value = copy_value(value), pod = opts.pod, key = copy_value(opts.key),
    test = self.test, point = true,
  })
  return op.index
end

-- Engine ops -------------------------------------------------------------------------

-- h:_engine_invoke(f, value [, pod [, process [, fields]]]) -> the invoke
-- op (engine = true), by the calling task unless process is given;
-- fields: more fields of the op
function History:_engine_invoke(f, value, pod, proc, fields)
  local op = fields or {}
  op.index, op.time, op.process = take_index(self), now() - self.t0, proc or process()
  op.type, op.f, op.value, op.pod, op.test, op.engine = "invoke", f, value, pod, self.test, true
  return push_engine(self, op)
end

-- h:_engine_complete(invoke, type [, fields]) -> the completion op; the
-- fields table (its own, not shared) becomes the op
function History:_engine_complete(inv, kind, op)
  op = op or {}
  op.index, op.time, op.process, op.type = take_index(self), now() - self.t0, inv.process, kind
  op.f, op.pod, op.test, op.invoke, op.engine = inv.f, op.pod or inv.pod, self.test, inv.index, true
  if op.value == nil then op.value = inv.value end
  if op.fault == nil then op.fault = inv.fault end
  if op.error ~= nil then op.error = error_of(op.error) end
  return push_engine(self, op)
end

-- h:_engine_point(f, op) -> a point op (type ok, point = true) from the
-- fields table op (its own); op.time may be given (seconds of sched.now())
function History:_engine_point(f, op)
  op.index, op.type, op.f, op.point, op.engine = take_index(self), "ok", f, true, true
  op.time = (op.time or now()) - self.t0
  op.process = op.process or process()
  op.test = self.test
  return push_engine(self, op)
end

-- HTTP: the invoke, then ok for any response, fail when the request surely
-- did not reach the server, info when it may have. A request is a row of
-- h.requests; the handle is its seq. A refused connection (kind connect)
-- is not sure: when a kept-alive connection died under a request, libcurl
-- sends it again on a new one, and a refusal of that retry follows an
-- attempt the server may have served (seen by the chaos scenario: two
-- creates reported as refused were in Postgres).
local NOT_SENT = { resolve = true, dns = true, usage = true, url = true }

-- The number of a pod's or a test's name (0 for none): the request ring
-- keeps numbers, not the names' bytes.
local function name_id(h, name)
  if name == nil then return 0 end
  local id = h.name_ids[name]
  if id then return id end
  id = #h.names + 1
  h.names[id], h.name_ids[name] = name, id
  return id
end

-- request_op(h, seq, half) -> the request's op (ring:op) with the pod's
-- and the test's names, or nil
local function request_op(h, seq, half)
  local op = h.requests:op(seq, half)
  if op then
    op.pod, op.test, op._pod, op._test = h.names[op._pod], h.names[op._test], nil, nil
  end
  return op
end

-- Before a new row takes the oldest one's place: that request written.
local function before_ring_drop(h)
  local ring = h.requests
  local oldest = ring:oldest()
  local last = oldest and (ring:index_of(oldest, 2) or ring:index_of(oldest, 1))
  if last and last >= h.written then h:_flush() end
end

function History:_http_invoke(method, path, pod)
  local ring = self.requests
  if self.out and #self.pending > 0 then before_ring_drop(self) end
  local index = self.next_index
  self.next_index = index + 1
  local seq = ring:invoke(index, process(), method, path, pod and name_id(self, pod) or 0,
    self.test_id or name_id(self, self.test))
  if self.out then queue(self, seq, 1) end
  return seq
end

-- Flush before the detail of a request goes that was not written yet.
local function before_detail_goes(h)
  local ring = h.requests
  local seq = ring:detail_victim()
  local last = seq and ring:index_of(seq, 2)
  if last and last >= h.written then h:_flush() end
end

-- res: mpod.http's response (status, head, body, time); lines: the
-- request's header lines (copied as they are, parsed when read)
function History:_http_done(seq, res, lines)
  local body = res.body
  local index = self.next_index
  self.next_index = index + 1
  if self.out and #self.pending > 0 then before_detail_goes(self) end
  if self.requests:done(seq, index, res, lines, #body > M.EXCERPT and body:sub(1, M.EXCERPT) or body)
     and self.out then
    queue(self, seq, 2)
  end
end

function History:_http_error(seq, err)
  local e = error_of(err)
  local index = self.next_index
  self.next_index = index + 1
  local kind = NOT_SENT[e.kind] and "fail" or "info"
  if self.requests:failed(seq, index, kind, e.kind, e.message) and self.out then
    queue(self, seq, 2)
  end
end

-- SSE streams: sse.open as an invoke and its completion, then point ops
-- for the events (as the scenario takes them from the stream, at the time
-- they arrived), drops, resumes (automatic or s:reconnect()) and the
-- close. A stream is numbered in the file: `stream` in each op.
local Sse = {}
Sse.__index = Sse

function History:_sse_recorder(path, pod)
  self.streams = (self.streams or 0) + 1
  local rec = setmetatable({ h = self, id = self.streams, pod = pod, attempts = 0 }, Sse)
  rec.inv = push_engine(self, {
    index = take_index(self), time = now() - self.t0, process = process(), type = "invoke",
    f = "sse.open", method = "GET", path = path, pod = pod, stream = rec.id, test = self.test,
    engine = true,
  })
  return rec
end

local function sse_point(rec, f, fields)
  fields.stream, fields.pod = rec.id, rec.pod
  return rec.h:_engine_point(f, fields)
end

-- rec:opened(s, ok, err, lines): the open's completion
function Sse:opened(s, ok, err, lines)
  if not ok then
    local e = error_of(err)
    self.h:_engine_complete(self.inv, NOT_SENT[e.kind] and "fail" or "info", { stream = self.id, error = e })
    return
  end
  local _, head = s._core:head()
  self.attempts = select(4, s._core:state()) or 1
  self.open = true
  self.h:_engine_complete(self.inv, "ok", { stream = self.id, status = s.status,
    _detail = true, _head = head, _lines = lines })
end

-- rec:event(ev): an event the scenario took from the stream
function Sse:event(ev)
  local data = ev.data
  sse_point(self, "sse.event", { event_id = ev.id, event = ev.event, time = ev.time,
    _detail = true, _data = #data > M.EXCERPT and data:sub(1, M.EXCERPT) or data })
end

-- rec:observe(s): a drop or a resume since the last look at the stream
function Sse:observe(s)
  if not self.open or self.ended then return end
  local state, err, _, attempts = s._core:state()
  attempts = attempts or self.attempts
  if not self.down and (state == "retrying" or state == "ended" or attempts > self.attempts) then
    self.down = true
    self.resume_from = s._core:last_id()    -- what the reconnection sends
    sse_point(self, "sse.drop", { error = error_of(err), gave_up = err and err.gave_up or nil })
  end
  if state == "ended" then
    self.ended = true
  elseif self.down and state == "open" then
    self:resumed(s, false)
  end
end

-- rec:resumed(s, manual): the stream is open again (s:reconnect() when manual)
function Sse:resumed(s, manual)
  local from = not manual and self.resume_from or s._core:last_id()
  self.down, self.resume_from = false, nil
  self.attempts = select(4, s._core:state()) or self.attempts
  sse_point(self, "sse.resume", { last_event_id = from, manual = manual or nil })
end

-- rec:closed(): s:close() (nothing for a stream that never opened)
function Sse:closed()
  if not self.open or self.closed_once then return end
  self.closed_once = true
  sse_point(self, "sse.close", {})
end

-- Control calls and faults ------------------------------------------------------

-- UNKNOWN: error kinds after which a control call may have happened
local UNKNOWN = { timeout = true, cancelled = true, protocol = true, closed = true }

-- h:_call(f, value, pod, call [, fields]) -> call()'s results: an engine
-- op around a call (pod control, faults): ok when it returned, info when
-- it raised a timeout or was cut off, fail otherwise; raises what it raised
function History:_call(f, value, pod, call, fields)
  local op = self:_engine_invoke(f, value, pod, nil, fields)
  local r = table.pack(pcall(call))
  if r[1] then
    self:_engine_complete(op, "ok")
    return table.unpack(r, 2, r.n)
  end
  local e = error_of(r[2])
  self:_engine_complete(op, UNKNOWN[e.kind] and "info" or "fail", { error = e })
  error(r[2], 0)
end

-- h:_fault_add(value, call) -> call()'s results: fault.add around the
-- call that adds a fault; value = {kind=, ...}. A fault without for_s
-- stays open until h:_fault_remove removes it.
function History:_fault_add(value, call)
  self.faults = self.faults or { next = 0, open = {} }
  local id = self.faults.next + 1
  self.faults.next = id
  local results = table.pack(self:_call("fault.add", value, nil, call, { fault = id }))
  if value.for_s == nil then self.faults.open[#self.faults.open + 1] = { id = id, value = value } end
  return table.unpack(results, 1, results.n)
end

-- h:_fault_remove(match, call) -> call()'s results: a fault.remove op
-- (same `fault` id as its fault.add) for each open fault whose value
-- match(value) accepts, around the call that removes them
function History:_fault_remove(match, call)
  local open, gone, kept = self.faults and self.faults.open or {}, {}, {}
  for _, fault in ipairs(open) do
    if match(fault.value) then gone[#gone + 1] = fault else kept[#kept + 1] = fault end
  end
  if #gone == 0 then return call() end
  local ops = {}
  for i, fault in ipairs(gone) do
    ops[i] = self:_engine_invoke("fault.remove", fault.value, nil, nil, { fault = fault.id })
  end
  local r = table.pack(pcall(call))
  local e = not r[1] and error_of(r[2]) or nil
  for _, op in ipairs(ops) do
    self:_engine_complete(op, r[1] and "ok" or UNKNOWN[e.kind] and "info" or "fail", { error = e })
  end
  if not r[1] then error(r[2], 0) end
  self.faults.open = kept
  return table.unpack(r, 2, r.n)
end

-- Postgres: pg.query, value = the SQL (its first 256 bytes; the
-- parameters are left out); ok with rows (returned) and count (affected),
-- fail when Postgres refused it (an SQL error: it did not happen), info
-- when the answer was lost (timeout, lost connection). A query is a row of
-- the request ring (src/requests.c), as cheap to keep as a request.
local QUERY_LOST = { timeout = true, connection_lost = true, cancelled = true, closed = true }

function History:_pg_query(query, conn, sql, ...)
  local ring = self.requests
  if self.out and #self.pending > 0 then before_ring_drop(self) end
  local seq = ring:invoke_query(take_index(self), process(), type(sql) == "string" and sql or tostring(sql),
    self.test_id or name_id(self, self.test))
  if self.out then queue(self, seq, 1) end
  local ok, rows, count, more = pcall(query, conn, sql, ...)
  local index = take_index(self)
  if ok then
    if ring:done_query(seq, index, type(rows) == "table" and #rows or nil, math.tointeger(count))
       and self.out then
      queue(self, seq, 2)
    end
    return rows, count, more
  end
  local e = error_of(rows)
  if ring:failed(seq, index, QUERY_LOST[e.kind] and "info" or "fail", e.kind, e.message) and self.out then
    queue(self, seq, 2)
  end
  error(rows, 0)
end

-- each_request(ring, fn): fn(seq, half, index) for every op of the
-- requests held, in seq order
local function each_request(ring, fn)
  local first, next = ring:range()
  for seq = first, next - 1 do
    fn(seq, 1, ring:index_of(seq, 1))
    local done = ring:index_of(seq, 2)
    if done then fn(seq, 2, done) end
  end
end

-- Reading ---------------------------------------------------------------------------

-- "Name: value" header lines -> {name = value}
local function header_table(lines)
  local t = {}
  for _, line in ipairs(lines) do
    local name, value = line:match("^([^:;]+)[:;]%s*(.-)%s*$")
    if name then t[name] = value end
  end
  return t
end

local function materialize_detail(op, t)
  if op._lines then t.req_headers = header_table(op._lines) end
  if op._head then t.resp_headers = (require("mpod.http")._parse_head(op._head)) end
  if op._body then t.body = excerpt(op._body, op.bytes) end
  if op._data then t.data = excerpt(op._data) end
end

local function micros(t)
  return math.floor(t * 1e6 + 0.5) / 1e6
end

-- public(op) -> a copy for reading and export: detail parsed, private
-- fields left out, every string redacted
-- plain(op) -> a copy with the detail parsed and the private fields left
-- out, not redacted yet
local function plain(op)
  local t = {}
  for k, v in next, op do
    if type(k) ~= "string" or k:byte(1) ~= UNDERSCORE then t[k] = v end
  end
  if op._detail then materialize_detail(op, t) end
  t.time = micros(op.time)
  if t.duration then t.duration = micros(t.duration) end
  return t
end

-- public(op) -> a copy for reading: plain; an engine op's strings
-- redacted (headers, paths, bodies, error messages), a scenario's own op
-- as it recorded it (its values are the scenario's own, and redacting
-- every string of a long history would cost seconds; reports and the
-- history file redact everything)
local function public(op)
  if op.engine then return redact.redact_all(plain(op)) end
  local t = plain(op)
  if t.value ~= nil then t.value = copy_value(t.value) end
  if t.key ~= nil then t.key = copy_value(t.key) end
  if t.error ~= nil then t.error = redact.redact_all(t.error) end
  return t
end
M.public = public

-- plain_half(entry, half) -> the plain op of an op (half 0) or of a
-- request's half (entry: its seq)
local function plain_half(h, entry, half)
  if half == 0 then return plain(entry) end
  return plain(request_op(h, entry, half))
end

local FILTERS = { "f", "pod", "type", "key", "test", "process" }

local function check_filter(filter)
  if filter == nil then return nil end
  if type(filter) ~= "table" then
    errors.usage("h:ops expects a filter table {f=, pod=, type=, key=, engine=, test=, process=}")
  end
  for k in pairs(filter) do
    local known = k == "engine"
    for _, name in ipairs(FILTERS) do known = known or k == name end
    if not known then
      errors.usage(string.format("h:ops: unknown filter '%s' (known: f, pod, type, key, engine, test, process)",
        tostring(k)))
    end
  end
  return filter
end

local function matches(op, filter)
  for _, name in ipairs(FILTERS) do
    local want = filter[name]
    if want ~= nil and op[name] ~= want then return false end
  end
  local engine = filter.engine
  if engine ~= nil and (op.engine == true) ~= engine then return false end
  return true
end

local function by_index(a, b) return a.index < b.index end

-- h:ops([filter]) -> array of copies of the ops in memory, in index order
function History:ops(filter)
  filter = check_filter(filter)
  local out = {}
  for i = 1, self.n do
    local op = self.list[i]
    if not filter or matches(op, filter) then out[#out + 1] = public(op) end
  end
  local ring = self.requests
  if not filter or (filter.engine ~= false and filter.key == nil
                    and (filter.f == nil or filter.f == "http" or filter.f == "pg.query")) then
    each_request(ring, function(seq, half)
      local op = request_op(self, seq, half)
      if not filter or matches(op, filter) then out[#out + 1] = public(op) end
    end)
    table.sort(out, by_index)
  end
  return out
end

-- h:stats() -> counts: ops (recorded), kept (in memory), engine (in
-- memory), user, dropped_ops, dropped_detail, written, limits, file
function History:stats()
  local _, request_ops, _, dropped_ops, dropped_detail = self.requests:counts()
  local engine = self.engine_n + request_ops
  return {
    ops = self.next_index, kept = engine + self.user_n, engine = engine, user = self.user_n,
    dropped_ops = self.dropped_ops + dropped_ops,
    dropped_detail = self.dropped_detail + dropped_detail,
    written = self.written, write_errors = self.write_errors, file = self.file,
    limits = { engine_ops = self.limits.engine_ops, detail_ops = self.limits.detail_ops },
  }
end

-- h:set_limits{engine_ops=, detail_ops=}: change the memory bounds (whole
-- numbers, engine_ops >= 2, detail_ops >= 0); what is over them goes now
function History:set_limits(limits)
  if type(limits) ~= "table" then errors.usage("h:set_limits expects {engine_ops=, detail_ops=}") end
  for k, v in pairs(limits) do
    if k ~= "engine_ops" and k ~= "detail_ops" then
      errors.usage("h:set_limits: unknown limit '" .. tostring(k) .. "' (engine_ops, detail_ops)")
    end
    local least = k == "engine_ops" and 2 or 0
    if math.type(v) ~= "integer" or v < least then
      errors.usage(string.format("h:set_limits: %s must be a whole number >= %d, got %s", k, least,
        tostring(v)))
    end
  end
  self:_flush()
  for k, v in pairs(limits) do self.limits[k] = v end
  self.requests = self.requests:resized(ring_size(self.limits.engine_ops), self.limits.detail_ops)
  while self.detail_n > self.limits.detail_ops do strip_oldest_detail(self) end
  while self.engine_n > self.limits.engine_ops do drop_oldest_engine(self) end
  return self
end

-- Export ------------------------------------------------------------------------------

-- encode(op) -> one JSON line; a value JSON cannot hold (a function, bytes
-- that are not UTF-8, a sparse array) is written as its inspect() text
-- The line is redacted as a whole (redact.redact knows "key":"value"
-- of secret names, and every registered secret): one pass over the text
-- instead of one per string of the op.
local function encode(h, entry, half)
  if half ~= 0 then
    local line = h.requests:line(entry, half, h.names)
    if line then return redact.redact(line) end
  end
  local t = plain_half(h, entry, half)
  local ok, text = pcall(json.encode, t)
  if ok then return redact.redact(text) end
  t = redact.redact_all(t)
  local inspect = require "mpod.inspect"
  for k, v in pairs(t) do
    if not pcall(json.encode, v) then
      t[k] = excerpt(inspect.inspect(v, 2000))
      t.unencodable = t.unencodable or json.array {}
      table.insert(t.unencodable, k)
    end
  end
  ok, text = pcall(json.encode, t)
  return ok and text or json.encode { index = t.index, type = t.type, f = t.f, unencodable = true }
end

-- h:_open_file(path): append ops to path as JSON lines from now on (the
-- ops recorded before are written first)
function History:_open_file(path)
  local f, err = io.open(path, "a")
  if not f then errors.raise("os", "cannot write the history file: " .. tostring(err)) end
  self.out, self.file = f, path
  local earlier = {}
  for i = 1, self.n do earlier[#earlier + 1] = { self.list[i].index, self.list[i], 0 } end
  each_request(self.requests, function(seq, half, index) earlier[#earlier + 1] = { index, seq, half } end)
  table.sort(earlier, function(a, b) return a[1] < b[1] end)
  for _, e in ipairs(earlier) do
    if e[1] >= self.written then queue(self, e[2], e[3]) end
  end
  self:_flush()
end

-- h:_flush(): write the pending ops (nothing without a file)
function History:_flush()
  local pending, halves, out = self.pending, self.pending_half, self.out
  if #pending == 0 or not out then return end
  local last = queued_index(self, pending[#pending], halves[#pending])
  self.pending, self.pending_half = {}, {}
  local lines = {}
  for i, entry in ipairs(pending) do lines[i] = encode(self, entry, halves[i]) end
  lines[#lines + 1] = ""
  local ok = out:write(table.concat(lines, "\n"))
  ok = ok and out:flush()
  if not ok then self.write_errors = self.write_errors + 1 end
  self.written = last + 1
end

-- flush_later(h): a task that flushes FLUSH_INTERVAL s from now
function flush_later(h)
  local t = sched.spawn(function()
    sched.sleep(FLUSH_INTERVAL)
    h.flush_task = nil
    h:_flush()
  end)
  t:set_deadline()
  t:name("history flush")
  h.flush_task = t
end

-- h:_close_file(): write what is pending and close the file
function History:_close_file()
  self:_flush()
  if self.out then self.out:close() end
  self.out = nil
end

-- The file's history ----------------------------------------------------------------

local the_history

-- start([{file=, engine=}]): the file's history begins now (the child
-- calls it once); engine = false records user ops only
function M.start(opts)
  opts = opts or {}
  the_history = M.new { file = opts.file }
  record.history = opts.engine ~= false and the_history or nil
  return the_history
end

-- mp.history() -> the file's history (one per file)
function M.get()
  if not the_history then M.start() end
  return the_history
end

-- current() -> the file's history or nil, without creating it
function M.current() return the_history end

-- Tests ---------------------------------------------------------------------------------

-- test_started(name): ops record the test's name from now on, and the
-- engine records the test's invoke
function M.test_started(name)
  local h = the_history
  if not h then return end
  h.test, h.test_id = name, nil
  h.test_id = name_id(h, name)
  if record.history then h.test_op = h:_engine_invoke("test", name, nil, 0) end
end

-- test_ended(type [, err [, fields]]): the test's completion (ok passed,
-- fail failed, info skipped or cut short), then its ops are written
function M.test_ended(kind, err, fields)
  local h = the_history
  if not h then return end
  if h.test_op then
    local op = fields or {}
    op.error = err
    h:_engine_complete(h.test_op, kind, op)
    h.test_op = nil
  end
  h.test, h.test_id = nil, 0
  h:_flush()
end

-- The error kind of a skipped test's info op: a record, never raised.
local SKIPPED = "skip"

-- test_skipped(name, reason): a skipped test's invoke and info at once
function M.test_skipped(name, reason)
  M.test_started(name)
  M.test_ended("info", { kind = SKIPPED, message = tostring(reason) })
end

-- file_ending(why): the file's process is about to end (os.exit): the
-- open test is cut short, and everything is written
function M.file_ending(why)
  local h = the_history
  if not h then return end
  if h.test_op then M.test_ended("info", errors.new("exit", why)) end
  h:_close_file()
end

return M
