-- mpod/scenario/requests.lua: the HTTP requests of a history
-- (mpod.scenario.history), kept in a ring.
--
-- A request is recorded twice (its invoke, its completion) on the hottest
-- path of the engine, so it is stored without a table of its own: one row
-- of STRIDE slots in a flat array used as a ring of `capacity` rows,
-- indexed by the request's sequence number (seq). A new request past the
-- capacity takes the oldest row (that request is dropped); a completion
-- whose row was taken is ignored. The detail of a completion (the
-- response's head, the request's header lines, the body's first bytes) is
-- kept for the newest `detail` completed requests only, through a second
-- ring of their seqs. Rows are turned into op tables only when read.

local M = {}

local STRIDE = 16
-- slot offsets in a row
local INDEX, TIME, PROCESS, METHOD, PATH, POD, TEST, DONE_INDEX, DONE_TIME, TYPE,
  STATUS, DURATION, BYTES, HEAD, LINES, BODY = 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
-- Every slot holds a value (false when empty), so the rows stay in the
-- table's array part. An error table takes the STATUS slot of a failed
-- request; DROPPED in the HEAD slot marks a request whose detail went.
local EMPTY, DROPPED = false, 0

local Ring = {}
Ring.__index = Ring

-- new(capacity, detail) -> an empty ring of `capacity` requests keeping
-- the detail of `detail` of them
function M.new(capacity, detail)
  return setmetatable({ rows = {}, capacity = capacity, first = 0, next = 0,
                        detail = detail, kept = {}, kept_first = 0, kept_next = 0,
                        dropped_ops = 0, dropped_detail = 0 }, Ring)
end

-- ring:valid(seq) -> whether that request is still in the ring
function Ring:valid(seq)
  return seq >= self.first and seq < self.next
end

local function base(ring, seq)
  return (seq % ring.capacity) * STRIDE
end

-- ring:oldest() -> the seq of the request the next invoke will drop, or nil
function Ring:oldest()
  if self.next - self.first < self.capacity then return nil end
  return self.first
end

-- ring:last_index(seq) -> the index of the request's last op so far
function Ring:last_index(seq)
  local b = base(self, seq)
  local rows = self.rows
  return rows[b + DONE_INDEX] or rows[b + INDEX]   -- EMPTY is false
end

-- ring:index_of(seq, half) -> the index of the request's invoke (half 1)
-- or completion (half 2; false while open)
function Ring:index_of(seq, half)
  return self.rows[base(self, seq) + (half == 1 and INDEX or DONE_INDEX)]
end

-- Forget the detail of the request seq (when it still has it).
local function strip(ring, seq)
  if not ring:valid(seq) then return end
  local rows, b = ring.rows, base(ring, seq)
  if type(rows[b + HEAD]) == "string" then
    rows[b + HEAD], rows[b + LINES], rows[b + BODY] = DROPPED, EMPTY, EMPTY
    ring.dropped_detail = ring.dropped_detail + 1
  end
end

-- Drop the oldest request: its row is about to be taken.
local function drop_oldest(ring)
  local seq = ring.first
  local rows, b = ring.rows, base(ring, seq)
  ring.dropped_ops = ring.dropped_ops + (rows[b + DONE_INDEX] and 2 or 1)
  ring.first = seq + 1
end

-- ring:invoke(index, time, process, method, path, pod, test) -> seq
function Ring:invoke(index, time, process, method, path, pod, test)
  local seq = self.next
  if seq - self.first >= self.capacity then drop_oldest(self) end
  self.next = seq + 1
  local rows, b = self.rows, base(self, seq)
  rows[b + INDEX], rows[b + TIME], rows[b + PROCESS], rows[b + METHOD] = index, time, process, method
  rows[b + PATH], rows[b + POD], rows[b + TEST] = path, pod or false, test or false
  rows[b + DONE_INDEX], rows[b + DONE_TIME], rows[b + TYPE], rows[b + STATUS] = EMPTY, EMPTY, EMPTY, EMPTY
  rows[b + DURATION], rows[b + BYTES], rows[b + HEAD], rows[b + LINES], rows[b + BODY] =
    EMPTY, EMPTY, EMPTY, EMPTY, EMPTY
  return seq
end

-- Remember that seq holds detail; the oldest such beyond `detail` loses it.
local function keep_detail(ring, seq)
  local kept, n = ring.kept, ring.kept_next
  local size = ring.detail + 1
  kept[n % size + 1] = seq
  ring.kept_next = n + 1
  if n + 1 - ring.kept_first > ring.detail then
    strip(ring, kept[ring.kept_first % size + 1])
    ring.kept_first = ring.kept_first + 1
  end
end

-- ring:done(seq, index, time, status, duration, bytes, head, lines, body)
-- -> true, or false when the request was dropped meanwhile
function Ring:done(seq, index, time, status, duration, bytes, head, lines, body)
  if seq < self.first then
    self.dropped_ops = self.dropped_ops + 1
    return false
  end
  local rows, b = self.rows, base(self, seq)
  rows[b + DONE_INDEX], rows[b + DONE_TIME], rows[b + TYPE], rows[b + STATUS] = index, time, "ok", status
  rows[b + DURATION], rows[b + BYTES] = duration, bytes
  if self.detail > 0 then
    rows[b + HEAD], rows[b + LINES], rows[b + BODY] = head, lines, body
    keep_detail(self, seq)
  else
    rows[b + HEAD] = DROPPED
    self.dropped_detail = self.dropped_detail + 1
  end
  return true
end

-- ring:failed(seq, index, time, type, duration, err) -> as done; err: the
-- op's error table
function Ring:failed(seq, index, time, kind, duration, err)
  if seq < self.first then
    self.dropped_ops = self.dropped_ops + 1
    return false
  end
  local rows, b = self.rows, base(self, seq)
  rows[b + DONE_INDEX], rows[b + DONE_TIME], rows[b + TYPE], rows[b + STATUS] = index, time, kind, err
  rows[b + DURATION] = duration
  return true
end

-- ring:count() -> requests held, ops held (an open request is one op),
-- requests holding detail
function Ring:count()
  local ops, detail = 0, 0
  local rows = self.rows
  for seq = self.first, self.next - 1 do
    local b = base(self, seq)
    ops = ops + (rows[b + DONE_INDEX] and 2 or 1)
    if type(rows[b + HEAD]) == "string" then detail = detail + 1 end
  end
  return self.next - self.first, ops, detail
end

-- ring:op(seq, half) -> the op table of the request's invoke (half 1) or
-- completion (half 2), fields as the engine records them (not redacted;
-- detail as raw _head, _lines, _body)
function Ring:op(seq, half)
  local rows, b = self.rows, base(self, seq)
  local pod, test = rows[b + POD] or nil, rows[b + TEST] or nil
  if half == 1 then   -- (or nil: an EMPTY slot is no field)
    return { index = rows[b + INDEX], time = rows[b + TIME], process = rows[b + PROCESS],
             type = "invoke", f = "http", method = rows[b + METHOD], path = rows[b + PATH],
             pod = pod, test = test, engine = true }
  end
  local kind, status = rows[b + TYPE], rows[b + STATUS]
  local op = { index = rows[b + DONE_INDEX], time = rows[b + DONE_TIME], process = rows[b + PROCESS],
               type = kind, f = "http", pod = pod, test = test, invoke = rows[b + INDEX],
               engine = true, duration = rows[b + DURATION] or nil, bytes = rows[b + BYTES] or nil }
  if type(status) == "table" then op.error = status else op.status = status end
  local head = rows[b + HEAD]
  if type(head) == "string" then
    op._detail, op._head, op._lines, op._body = true, head, rows[b + LINES], rows[b + BODY]
  elseif head == DROPPED and kind == "ok" then
    op.detail_dropped = true
  end
  return op
end

-- ring:each(fn): fn(seq, half, index) for every op held, in seq order
function Ring:each(fn)
  local rows = self.rows
  for seq = self.first, self.next - 1 do
    local b = base(self, seq)
    fn(seq, 1, rows[b + INDEX])
    local done = rows[b + DONE_INDEX]
    if done then fn(seq, 2, done) end
  end
end

-- ring:resized(capacity, detail) -> a new ring holding the newest requests
-- of this one that fit, with the same seqs (handles stay valid)
function Ring:resized(capacity, detail)
  local new = M.new(capacity, detail)
  new.dropped_ops, new.dropped_detail = self.dropped_ops, self.dropped_detail
  local from = math.max(self.first, self.next - capacity)
  for seq = self.first, from - 1 do drop_oldest(self) end
  new.dropped_ops = self.dropped_ops
  new.first, new.next = from, from
  local rows = self.rows
  for seq = from, self.next - 1 do
    local b = base(self, seq)
    new.next = seq + 1
    local nb = base(new, seq)
    for k = 1, STRIDE do new.rows[nb + k] = rows[b + k] end
    if type(rows[b + HEAD]) == "string" then
      if detail > 0 then keep_detail(new, seq) else
        new.rows[nb + HEAD], new.rows[nb + LINES], new.rows[nb + BODY] = DROPPED, EMPTY, EMPTY
        new.dropped_detail = new.dropped_detail + 1
      end
    end
  end
  return new
end

return M
