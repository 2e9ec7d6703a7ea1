-- mpod/http.lua: HTTP requests and SSE streams for scenarios, on top of
-- the C core mpod.http.core (one curl_multi in the event loop).
--
-- http.request(spec) builds the request (query, headers, json, cookie,
-- bearer), waits for it without blocking other tasks and returns a
-- Response: status, headers, body, and fields computed on first use
-- (headers, header_list, json, cookies, set_cookies). A non-2xx status is
-- data; a transport failure raises an mpod error with kind, message, pod,
-- method, path and url. http.sse(spec) opens a Stream whose events queue
-- while the task does other things; docs/http.md is the reference.
--
-- Secrets: the Authorization and Cookie values a request sends and the
-- cookie values a response sets are registered with redact.add_secret, so
-- no report shows them.

local core = require "mpod.http.core"
local errors = require "mpod.error"
local json = require "mpod.json"
local record = require "mpod.record"
local redact = require "mpod.redact"
local sched = require "mpod.sched"

local M = {}

local EXCERPT = 200           -- characters of a body shown in messages
local LISTED_EVENTS = 10      -- events a failed wait_for lists
local MAX_EVENTS = 10000      -- s.events keeps this many, the latest (max_events)
local DEFAULT_WAIT = 30       -- wait_for's timeout without spec.timeout

-- excerpt(text [, limit]) -> one line of at most limit characters
local function excerpt(text, limit)
  limit = limit or EXCERPT
  if type(text) ~= "string" or text == "" then return "" end
  local head = text:sub(1, limit)
  if head:find("[%z\1-\8\14-\31\127]") then
    return string.format("<%d bytes of binary data>", #text)
  end
  if #text > limit then
    -- drop a character the cut split; bytes that are not UTF-8 stay (the
    -- reports show them as U+FFFD) and keep what follows them
    local k = #head
    while k > #head - 3 and k > 1 and head:byte(k) >= 0x80 and head:byte(k) < 0xC0 do k = k - 1 end
    if head:byte(k) >= 0xC0 and not utf8.len(head, k) then head = head:sub(1, k - 1) end
  end
  head = head:gsub("%s+", " ")
  if #text > limit then head = head .. "..." end
  return head
end
M.excerpt = excerpt

-- Requests ----------------------------------------------------------------

-- http.encode_component(value) -> value percent-encoded for a URL path
-- segment or query (all but letters, digits and -._~)
local function encode_component(value)
  return (tostring(value):gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", c:byte())
  end))
end
M.encode_component = encode_component

-- query_string(query) -> "a=1&b=x%20y" (keys sorted; list values repeat
-- the key); a string is taken as it is
local function query_string(query)
  if type(query) == "string" then return query end
  local keys = {}
  for k in pairs(query) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = query[k]
    local values = type(v) == "table" and v or { v }
    for _, item in ipairs(values) do
      parts[#parts + 1] = encode_component(k) .. "=" .. encode_component(item)
    end
  end
  return table.concat(parts, "&")
end

local function with_query(url, query)
  if query == nil then return url end
  local qs = query_string(query)
  if qs == "" then return url end
  return url .. (url:find("?", 1, true) and "&" or "?") .. qs
end

-- The path of a URL, for messages ("/" when it has none).
local function path_of(url)
  return url:match("^%a[%w+.%-]*://[^/?#]*([^#]*)") or url
end

-- cookie_text(cookie) -> "a=1; b=2" from a string or a name -> value table
local function cookie_text(cookie)
  if type(cookie) == "string" then return cookie end
  local names = {}
  for name in pairs(cookie) do names[#names + 1] = name end
  table.sort(names)
  local parts = {}
  for _, name in ipairs(names) do
    redact.add_secret(tostring(cookie[name]))
    parts[#parts + 1] = name .. "=" .. tostring(cookie[name])
  end
  return table.concat(parts, "; ")
end

-- Add the header line `name: value` unless a header of that name is in
-- `given` already; false adds "name:" (curl then sends none), "" an empty
-- one. Authorization and Cookie values become secrets.
local function add_header(lines, given, name, value)
  local lname = name:lower()
  if given[lname] then return end
  given[lname] = true
  if value == false then
    lines[#lines + 1] = name .. ":"
    return
  end
  value = tostring(value)
  if lname == "authorization" or lname == "cookie" then redact.add_secret(value) end
  lines[#lines + 1] = value == "" and (name .. ";") or (name .. ": " .. value)
end

-- The request's header lines: spec.headers (name -> value, in name
-- order), then bearer and cookie, then `extra` ({name, value} pairs) for
-- the names still missing.
local function build_header_lines(spec, extra)
  local given, lines = {}, {}
  local headers = spec.headers
  if headers and next(headers) then
    local names = {}
    for name in pairs(headers) do names[#names + 1] = name end
    table.sort(names)
    for _, name in ipairs(names) do add_header(lines, given, name, headers[name]) end
  end
  if spec.bearer then
    redact.add_secret(tostring(spec.bearer))
    add_header(lines, given, "Authorization", "Bearer " .. tostring(spec.bearer))
  end
  if spec.cookie then add_header(lines, given, "Cookie", cookie_text(spec.cookie)) end
  for _, pair in ipairs(extra) do add_header(lines, given, pair[1], pair[2]) end
  return lines
end

-- Requests share the header lines they would build alike: one with no
-- bearer or cookie of its own takes the lines kept for its headers table
-- (NO_HEADERS when it has none) and `extra` list. A table gets lines kept
-- from its second use on (a pod's cluster defaults, a table a scenario
-- reuses; a first use is likely a one-off), with a copy of what it held:
-- a table changed since has its lines built again. core.request only
-- reads them.
local NO_HEADERS = {}
local kept_lines = setmetatable({ [NO_HEADERS] = {} }, { __mode = "k" })  -- headers -> {extra -> kept}

-- Whether headers still holds exactly what kept.held does.
local function unchanged(headers, kept)
  local held, n = kept.held, 0
  for name, value in pairs(headers) do
    if held[name] ~= value then return false end
    n = n + 1
  end
  return n == kept.count
end

local function keep_lines(headers, lines)
  local held, n = {}, 0
  for name, value in pairs(headers) do
    held[name] = value
    n = n + 1
  end
  return { lines = lines, held = held, count = n }
end

local function header_lines(spec, extra)
  if spec.bearer ~= nil or spec.cookie ~= nil then
    return build_header_lines(spec, extra)
  end
  local headers = spec.headers
  if headers == nil or next(headers) == nil then headers = NO_HEADERS end
  local by_extra = kept_lines[headers]
  if not by_extra then
    kept_lines[headers] = {}
    return build_header_lines(spec, extra)
  end
  local kept = by_extra[extra]
  -- NO_HEADERS is never written to: its lines cannot go stale
  if kept and (headers == NO_HEADERS or unchanged(headers, kept)) then return kept.lines end
  local lines = build_header_lines(spec, extra)
  by_extra[extra] = keep_lines(headers, lines)
  return lines
end

local REQUEST_EXTRA = { { "User-Agent", core.user_agent }, { "Expect", false } }
local JSON_EXTRA = { { "Content-Type", "application/json" }, table.unpack(REQUEST_EXTRA) }
local SSE_EXTRA = { { "Accept", "text/event-stream" }, { "Cache-Control", "no-cache" },
                    { "User-Agent", core.user_agent } }

-- The method, body and header lines of a request spec.
local function request_parts(spec)
  local body, extra = spec.body, REQUEST_EXTRA
  if spec.json ~= nil then
    body, extra = json.encode(spec.json), JSON_EXTRA
  end
  if body ~= nil and type(body) ~= "string" then
    errors.usage("http: body must be a string (use json = ... for tables)")
  end
  local method = spec.method and spec.method:upper() or (body and "POST" or "GET")
  if body == nil and (method == "POST" or method == "PUT" or method == "PATCH") then
    body = ""
  end
  return method, body, header_lines(spec, extra)
end

-- A transport error with where it happened: pod, method, url, path, and
-- the message prefixed with them.
local function locate(err, spec, method, what)
  err.pod, err.method, err.url = spec.pod, method, spec.url
  err.path = spec.path or path_of(spec.url)
  err.message = string.format("%s%s %s%s: %s", what or "", method, err.path,
    spec.pod and (" on " .. spec.pod) or "", err.message)
  return err
end

-- The spec's `raise` option: true (the default) unless it is false.
local function raises(spec, what)
  local raise = spec.raise
  if raise == nil or raise == true then return true end
  if raise ~= false then
    errors.usage(string.format("%s: raise must be true or false, got %s", what, tostring(raise)))
  end
  return false
end

-- A request's transport error, located: raised, or returned as nil, err
-- when the spec says raise = false.
local function fail(err, spec, method)
  locate(err, spec, method)
  if raises(spec, "http.request") then error(err, 0) end
  return nil, err
end

local function check_spec(spec, what)
  if type(spec) ~= "table" then errors.usage(what .. " expects a table") end
  if type(spec.url) ~= "string" then errors.usage(what .. " needs url = \"http://...\"") end
end

-- Responses -----------------------------------------------------------------

local Response = {}

-- Header lines -> list of {name=, value=} (names lower-case; folded lines
-- joined) and name -> values joined with ", ".
local function parse_head(head)
  local list, map = {}, {}
  local status_line = true
  for line in head:gmatch("([^\r\n]*)\r?\n") do
    if status_line then
      status_line = false
    elseif line:match("^[ \t]") and #list > 0 then
      local last = list[#list]
      last.value = last.value .. " " .. line:match("^%s*(.-)%s*$")
    else
      local name, value = line:match("^([^:]+):[ \t]*(.-)[ \t]*$")
      if name then list[#list + 1] = { name = name:lower(), value = value } end
    end
  end
  for _, h in ipairs(list) do
    map[h.name] = map[h.name] and (map[h.name] .. ", " .. h.value) or h.value
  end
  return map, list
end
M._parse_head = parse_head

local function cookie_attribute(c, attr)
  local key, value = attr:match("^%s*([^=]-)%s*=%s*(.-)%s*$")
  key = (key or attr:match("^%s*(.-)%s*$")):lower()
  if key == "max-age" and value and value:match("^%-?%d+$") then
    c.max_age = tonumber(value)
  elseif key == "expires" and value then
    c.expires = core.parse_date(value)
  elseif key == "path" or key == "domain" then
    c[key] = value
  elseif key == "secure" then
    c.secure = true
  elseif key == "httponly" then
    c.http_only = true
  elseif key == "samesite" then
    c.same_site = value
  end
end

-- parse_set_cookie(text [, now]) -> {name=, value=, path=, domain=,
-- expires=, max_age=, secure=, http_only=, same_site=, expired=} or nil;
-- Max-Age wins over Expires (RFC 6265)
function M.parse_set_cookie(text, now)
  local pair, attrs = text:match("^([^;]*)(.*)$")
  local name, value = pair:match("^%s*([^=]-)%s*=%s*(.-)%s*$")
  if not name or name == "" then return nil end
  local c = { name = name, value = value }
  for attr in attrs:gmatch("[^;]+") do cookie_attribute(c, attr) end
  now = now or sched.wallclock()
  if c.max_age then c.expired = c.max_age <= 0
  else c.expired = c.expires ~= nil and c.expires <= now end
  return c
end

-- Every Set-Cookie of a response, parsed; also registers the values as
-- secrets.
local function parse_cookies(res)
  local set, order, live = {}, {}, {}
  for _, h in ipairs(res.header_list) do
    local c = h.name == "set-cookie" and M.parse_set_cookie(h.value)
    if c then
      redact.add_secret(c.value)
      set[#set + 1] = c
      if not live[c.name] and not c.expired then order[#order + 1] = c.name end
      live[c.name] = (not c.expired) and c.value or nil
    end
  end
  local kept = {}
  for _, name in ipairs(order) do
    if live[name] then kept[#kept + 1] = name end
  end
  return set, live, kept
end

-- decode_json(text, context, owner) -> the value of text; a json error
-- gets the fields context(owner) returns ({what=, ...}) before it is raised
local function decode_json(text, context, owner)
  local ok, value = pcall(json.decode, text)
  if ok then return value end
  if errors.is(value) then
    local where = context(owner)
    for k, v in pairs(where) do value[k] = value[k] or v end
    value.message = string.format("%s: %s", where.what, value.message)
    value.what = nil
  end
  error(value, 0)
end

local function describe(res)
  return string.format("%s %s%s", res.method or "GET", res.path or "",
    res.pod and (" on " .. res.pod) or "")
end

local function response_context(res)
  return { what = describe(res), pod = res.pod, method = res.method,
           path = res.path, body = excerpt(res.body) }
end

local lazy = {
  headers = function(res)
    res.headers, res.header_list = parse_head(res.head)
    return res.headers
  end,
  header_list = function(res)
    res.headers, res.header_list = parse_head(res.head)
    return res.header_list
  end,
  json = function(res)
    if res.body == "" then return nil end
    local value = decode_json(res.body, response_context, res)
    rawset(res, "json", value)
    return value
  end,
  cookies = function(res)
    res.set_cookies, res.cookies, res._cookie_order = parse_cookies(res)
    return res.cookies
  end,
  set_cookies = function(res)
    res.set_cookies, res.cookies, res._cookie_order = parse_cookies(res)
    return res.set_cookies
  end,
}

Response.__index = function(res, key)
  local compute = lazy[key]
  if compute then return compute(res) end
  return Response[key]
end

Response.__tostring = function(res)
  return string.format("%d %s", res.status, excerpt(res.body))
end

-- res:ok() -> true for a 2xx status
function Response:ok()
  return self.status >= 200 and self.status < 300
end

-- res:header_values(name) -> every value of that header, in order
function Response:header_values(name)
  local values = {}
  name = name:lower()
  for _, h in ipairs(self.header_list) do
    if h.name == name then values[#values + 1] = h.value end
  end
  return values
end

-- res:cookie_header() -> "a=1; b=2": the cookies this response sets and
-- does not delete, in the order they were set
function Response:cookie_header()
  local live = self.cookies
  local parts = {}
  for _, name in ipairs(self._cookie_order) do
    parts[#parts + 1] = name .. "=" .. live[name]
  end
  return table.concat(parts, "; ")
end

local function status_matches(status, want)
  if want == nil then return status >= 200 and status < 300 end
  if type(want) == "table" then
    for _, w in ipairs(want) do
      if status == w then return true end
    end
    return false
  end
  return status == want
end

-- res:expect([status | {statuses}]) -> res; raises an error of kind
-- "status" with a body excerpt otherwise (no argument: any 2xx)
function Response:expect(want)
  if status_matches(self.status, want) then return self end
  local wanted = want == nil and "2xx"
    or type(want) == "table" and table.concat(want, " or ") or tostring(want)
  errors.raise("status", string.format("%s: expected status %s, got %d: %s",
    describe(self), wanted, self.status, excerpt(self.body)), {
      got = self.status, expected = wanted, body = excerpt(self.body, 300),
      pod = self.pod, method = self.method, path = self.path,
    })
end

-- http.request(spec) -> Response. spec: url (full), method, query,
-- headers, body, json, cookie, bearer, timeout, connect_timeout, follow,
-- unix_socket, proxy, max_body, pod (a name for messages), raise (false:
-- a transport failure returns nil, err instead of raising).
function M.request(spec)
  check_spec(spec, "http.request")
  local method, body, lines = request_parts(spec)
  local url = with_query(spec.url, spec.query)
  local path = spec.path or path_of(url)
  local history = record.history
  local op = history and history:_http_invoke(method, path, spec.pod)
  local res, err = core.request {
    url = url, method = method, headers = lines, body = body,
    timeout = spec.timeout, connect_timeout = spec.connect_timeout,
    follow = spec.follow, unix_socket = spec.unix_socket, proxy = spec.proxy,
    max_body = spec.max_body,
  }
  if not res then
    if op then history:_http_error(op, err) end
    return fail(err, spec, method)
  end
  if op then history:_http_done(op, res, lines) end
  res.method, res.pod, res.path = method, spec.pod, path
  setmetatable(res, Response)
  if res.head:find("ookie:", 1, true) or res.head:find("OOKIE:", 1, true) then
    local _ = res.cookies                   -- registers the secrets now
  end
  return res
end

for _, method in ipairs { "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD" } do
  -- http.get(url [, opts]), http.post(url, json [, opts]), ...
  M[method:lower()] = function(url, a, b)
    local opts, body = a, nil
    if method == "POST" or method == "PUT" or method == "PATCH" then opts, body = b, a end
    local spec = { url = url, method = method }
    if opts then
      for k, v in pairs(opts) do spec[k] = v end
      spec.url, spec.method = url, method
    end
    if body ~= nil then spec.json = body end
    return M.request(spec)
  end
end

-- SSE ---------------------------------------------------------------------------

local Event = {}

local function event_context(ev)
  return { what = string.format("SSE event %s(%s)", ev.id and (ev.id .. " ") or "", ev.event),
           data = excerpt(ev.data) }
end

Event.__index = function(ev, key)
  if key ~= "json" then return nil end
  local value = decode_json(ev.data, event_context, ev)
  rawset(ev, "json", value)
  return value
end

Event.__tostring = function(ev)
  return string.format("%s%s: %s", ev.event, ev.id and (" (id " .. ev.id .. ")") or "",
    excerpt(ev.data, 120))
end

local Stream = {}

local stream_fields = {
  events = function(s)
    s:_drain()
    return s._history
  end,
  error = function(s)
    local _, err = s._core:state()
    return err
  end,
}

Stream.__index = function(s, key)
  local field = stream_fields[key]
  if field then return field(s) end
  return Stream[key]
end

Stream.__close = function(s) s:close() end

Stream.__tostring = function(s)
  return string.format("SSE %s%s (%s, %d events)", s.path,
    s.pod and (" on " .. s.pod) or "", s:state(), #s.events)
end

-- The history is bounded: past max_events, the oldest tenth goes at once
-- (a move per tenth, not per event), counted in s.dropped_events; the read
-- position moves with it.
function Stream:_forget_oldest()
  local h, n = self._history, #self._history
  local drop = math.max(1, math.ceil(self._max_events / 10))
  table.move(h, drop + 1, n, 1)
  for i = n - drop + 1, n do h[i] = nil end
  self._pos = math.max(self._pos - drop, 0)
  self.dropped_events = self.dropped_events + drop
end

-- Move the events queued in C to the history, at most `count` (nil: all);
-- returns the first moved.
function Stream:_drain(count)
  if self._closed then return nil end
  local h, first = self._history, nil
  local recorder = self._recorder
  if recorder then recorder:observe(self) end
  for _ = 1, count or math.huge do
    local ev = self._core:take()
    if not ev then return first end
    h[#h + 1] = setmetatable(ev, Event)
    if recorder then recorder:event(ev) end
    first = first or ev
    if #h > self._max_events then self:_forget_oldest() end
  end
  return first
end

-- The next event after the read position, or nil. It takes events from C
-- one at a time, so reading with next() never loses one to the bound.
function Stream:_pull()
  local h = self._history
  if self._pos >= #h then self:_drain(1) end
  if self._pos >= #h then return nil end
  self._pos = self._pos + 1
  return h[self._pos]
end

local function raise_stream_error(s, err, what)
  error(locate(err, { pod = s.pod, url = s.url, path = s.path }, "GET", what), 0)
end

-- Wait until the connection opened: true, or nil and why it did not (the
-- stream closed; a cancellation raises).
function Stream:_wait_open()
  local st = self._core
  while st:state() == "opening" do
    local ok, err = pcall(st.wait, st)
    if not ok then
      self:close()
      error(err, 0)
    end
  end
  local _, err, opened = st:state()
  if not opened then
    self:close()
    return nil, locate(err or errors.new("closed", "the stream ended at once"),
      { pod = self.pod, url = self.url, path = self.path }, "GET", "SSE ")
  end
  local head
  self.status, head = st:head()
  self.headers = parse_head(head)
  return true
end

-- s:next([timeout]) -> event | nil, "timeout" | nil, "closed"; raises
-- when automatic reconnection gave up
function Stream:next(timeout)
  local deadline = timeout and sched.now() + timeout
  while true do
    local ev = self:_pull()
    if ev then return ev end
    if self._closed then return nil, "closed" end
    local state, err = self._core:state()
    if self._recorder then self._recorder:observe(self) end
    if state == "ended" then
      if err and err.gave_up then raise_stream_error(self, err, "SSE ") end
      return nil, "closed"
    end
    local left = deadline and deadline - sched.now()
    if left and left <= 0 then return nil, "timeout" end
    self._core:wait(left)
  end
end

local function matcher(want)
  if type(want) == "function" then return want, "event accepted by the predicate" end
  if type(want) ~= "string" then
    errors.usage("wait_for expects a function or a string, got " .. type(want))
  end
  return function(ev)
    return ev.event == want or ev.data:find(want, 1, true) ~= nil
  end, string.format("event matching %q", want)
end

-- list_events(first, count): the first LISTED_EVENTS of count events
local function list_events(first, count)
  local lines = {}
  for i = 1, #first do lines[i] = tostring(first[i]) end
  if count > #first then
    lines[#lines + 1] = string.format("... and %d more", count - #first)
  end
  return table.concat(lines, "\n")
end

-- s:wait_for(pred_or_text [, timeout]) -> the first event from the read
-- position on that matches; raises (kind "timeout" or "closed") listing
-- the events that arrived meanwhile
function Stream:wait_for(want, timeout)
  local match, what = matcher(want)
  timeout = timeout or self.timeout or DEFAULT_WAIT
  local deadline = sched.now() + timeout
  local seen, count = {}, 0          -- the first few that did not match
  while true do
    local ev, why = self:next(math.max(deadline - sched.now(), 0))
    if not ev then
      errors.raise(why, string.format("SSE %s%s: no %s within %g s (%s); %d other events arrived",
        self.path, self.pod and (" on " .. self.pod) or "", what, timeout,
        why == "closed" and "the stream closed" or "timed out", count), {
          pod = self.pod, path = self.path, timeout = timeout,
          arrived = list_events(seen, count),
        })
    end
    if match(ev) then return ev end
    count = count + 1
    if count <= LISTED_EVENTS then seen[count] = ev end
  end
end

-- s:reconnect() -> s: a new connection now, resuming with Last-Event-ID
function Stream:reconnect()
  if self._closed then errors.usage("attempt to use a closed stream") end
  self:_drain()
  self._core:reconnect()
  local opened, err = self:_wait_open()
  if not opened then error(err, 0) end
  if self._recorder then self._recorder:resumed(self, true) end
  return self
end

-- s:state() -> "open", "opening", "retrying", "ended" or "closed"
function Stream:state()
  if self._closed then return "closed" end
  return (self._core:state())
end

-- s:last_id() -> the last event ID (sent as Last-Event-ID) or nil
function Stream:last_id()
  return self._core:last_id()
end

-- s:pending() -> events received but not yet in s.events, their size in
-- bytes, and whether reading is paused because they passed queue_limit
function Stream:pending()
  if self._closed then return 0, 0, false end
  return self._core:pending()
end

-- s:close(): stop the transfer; events that arrived stay in s.events
function Stream:close()
  if self._closed then return end
  self:_drain()
  self._core:close()
  self._closed = true
  if self._recorder then self._recorder:closed() end
end

-- http.sse(spec) -> Stream, once the server answered with an event
-- stream. spec as for request (no method or body) plus reconnect,
-- max_attempts, retry (s), last_event_id, queue_limit (bytes), max_events.
-- With raise = false a stream that does not open returns nil, err.
function M.sse(spec)
  check_spec(spec, "http.sse")
  local raise = raises(spec, "http.sse")
  local max_events = spec.max_events or MAX_EVENTS
  if type(max_events) ~= "number" or max_events < 1 or max_events ~= math.floor(max_events) then
    errors.usage("http.sse: max_events must be a whole number of events, at least 1 (math.huge: no bound)")
  end
  local url = with_query(spec.url, spec.query)
  local history = record.history
  local recorder = history and history:_sse_recorder(spec.path or path_of(url), spec.pod)
  local lines = header_lines(spec, SSE_EXTRA)
  local core_stream = core.sse {
    url = url, timeout = spec.timeout, connect_timeout = spec.connect_timeout,
    headers = lines,
    follow = spec.follow, unix_socket = spec.unix_socket, proxy = spec.proxy,
    reconnect = spec.reconnect and true or false, max_attempts = spec.max_attempts,
    retry = spec.retry, last_event_id = spec.last_event_id and tostring(spec.last_event_id),
    queue_limit = spec.queue_limit,
  }
  local s = setmetatable({ _core = core_stream, _history = {}, _pos = 0,
    _max_events = max_events, dropped_events = 0,
    url = url, pod = spec.pod, path = spec.path or path_of(url),
    timeout = spec.timeout, _recorder = recorder }, Stream)
  local opened, err = s:_wait_open()
  if recorder then recorder:opened(s, opened, err, lines) end
  if opened then return s end
  if raise then error(err, 0) end
  return nil, err
end

return M
