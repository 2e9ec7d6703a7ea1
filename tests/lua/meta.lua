-- meta.lua: docs/mpod.meta.lua (the LuaLS definitions of the scenario API)
-- against the engine, so the file cannot drift. It must load with loadfile
-- and run; every function and field it declares on mp, mp.http, mp.json,
-- mp.pg, mp.tcp, mp.check, Cluster, Pod, Proxy, Task, Expectation, Response, SSE
-- streams and events, Postgres and TCP connections and mp.exec results
-- must exist on the real
-- objects (found at run time: pairs over the modules and metatables, a
-- cluster built from a description, a real response and stream from the
-- HTTP fixture), and every public one of those must be declared; the
-- parameters a Lua function takes must match the declared ones, by number
-- and name. The error kinds the engine raises (found in lua/ and src/) must
-- be exactly the mpod.ErrorKind alias, every mpod.Error field must be set
-- by the engine somewhere, option fields must be read by the code, and
-- docs/reference.md must name every function, option and error kind.

local mp = require "mpod"
local cluster = require "mpod.scenario.cluster"
local sched = require "mpod.sched"
local errors = require "mpod.error"
local httpfix = require "httpfix"
local sys = require "mpod.sys"

local META = "docs/mpod.meta.lua"
local REFERENCE = "docs/reference.md"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

local function sorted(set)
  local list = {}
  for k in pairs(set) do list[#list + 1] = k end
  table.sort(list)
  return list
end

-- Names reachable on real objects that are the engine's own plumbing, not
-- the scenario API: the meta file leaves them out on purpose. A new public
-- name must go into docs/mpod.meta.lua, not here.
local INTERNAL = {
  ["mpod.Task"] = { join = true, id = true, set_deadline = true, deadline = true,
                    traceback = true, observed = true },
  ["mpod.Pod"] = { http_spec = true },
  ["mpod.Cluster"] = { http = true, proxies = true, by_name = true, all = true },
}

-- Functions whose parameters cannot match the declared ones: the http
-- shorthands are one closure, (url, a, b), for all six methods.
local LOOSE_PARAMS = {
  ["mpod.http.get"] = true, ["mpod.http.delete"] = true, ["mpod.http.head"] = true,
  ["mpod.http.post"] = true, ["mpod.http.put"] = true, ["mpod.http.patch"] = true,
}

-- Parsing the meta file -----------------------------------------------------------

-- parse(text) -> classes: name -> {fields = set, functions = name ->
-- {method=, params={...}, line=}}, aliases: name -> list of string values,
-- problems: list of messages
local function parse(text)
  local classes, aliases, problems = {}, {}, {}
  local var_class = {}
  local current, collecting, alias
  local params = {}
  local n = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    local cname = line:match("^%-%-%-@class ([%w_.]+)")
    local fname = line:match("^%-%-%-@field ([%w_]+)%??%s")
    local aname = line:match("^%-%-%-@alias ([%w_.]+)")
    local avalue = line:match('^%-%-%-| "([^"]+)"')
    local pname = line:match("^%-%-%-@param ([%w_.]+)%??%s")
    local var = line:match("^local ([%w_]+) = {}$")
    local fvar, sep, fn, args = line:match("^function ([%w_]+)([.:])([%w_]+)%((.-)%) end$")
    if cname then
      current = { name = cname, fields = {}, functions = {} }
      classes[cname] = current
      collecting = true
    elseif fname and collecting then
      current.fields[fname] = true
    elseif aname then
      alias = {}
      aliases[aname] = alias
    elseif avalue and alias then
      alias[#alias + 1] = avalue
    elseif pname then
      params[#params + 1] = pname
    elseif var then
      if not collecting then problems[#problems + 1] = META .. ":" .. n .. ": local " .. var .. " has no ---@class" end
      var_class[var] = current
    elseif fvar then
      local class = var_class[fvar]
      local list = {}
      for a in args:gmatch("[^,%s]+") do list[#list + 1] = a end
      if not class then
        problems[#problems + 1] = string.format("%s:%d: %s is not a class table", META, n, fvar)
      else
        class.functions[fn] = { method = sep == ":", params = list, line = n }
      end
      if table.concat(list, ",") ~= table.concat(params, ",") then
        problems[#problems + 1] = string.format("%s:%d: %s%s%s(%s) but ---@param %s",
          META, n, fvar, sep, fn, table.concat(list, ", "), table.concat(params, ", "))
      end
      params = {}
    elseif line:match("^function ") then
      problems[#problems + 1] = string.format("%s:%d: unrecognised declaration: %s", META, n, line)
    end
    if not line:match("^%-%-%-") then
      collecting = collecting and (cname ~= nil)
      if not avalue and not aname then alias = nil end
      if not line:match("^function ") and line ~= "" and not var then params = {} end
    end
  end
  return classes, aliases, problems
end

local meta_text = read(META)
local classes, aliases, parse_problems = parse(meta_text)

-- The real objects ------------------------------------------------------------------

-- members(t [, skip]) -> functions, fields: the names in t (metamethods and
-- names starting with "_" are not public)
local function members(t, into_f, into_v)
  local functions, fields = into_f or {}, into_v or {}
  for k, v in pairs(t) do
    if type(k) == "string" and not k:match("^_") then
      if type(v) == "function" then functions[k] = v else fields[k] = true end
    end
  end
  return functions, fields
end

-- upvalue(fn, name) -> the value of fn's upvalue of that name
local function upvalue(fn, name)
  for i = 1, math.huge do
    local n, v = debug.getupvalue(fn, i)
    if not n then return nil end
    if n == name then return v end
  end
end

-- The mp table: its own keys and those it loads on first use.
local function real_mp()
  local lazy = upvalue(getmetatable(mp).__index, "lazy")
  assert(lazy, "mpod's lazy loaders not found: has init.lua changed?")
  local functions, fields = members(mp)
  for k in pairs(lazy) do
    if type(mp[k]) == "function" then functions[k] = mp[k] else fields[k] = true end
  end
  return { functions = functions, fields = fields }
end

local function real_module(t)
  local functions, fields = members(t)
  return { functions = functions, fields = fields }
end

-- A class: the methods of its metatable (or method table), the fields of
-- an instance, the lazily computed fields (the `lazy` upvalue of __index).
local function real_class(methods, instance, lazy_upvalue)
  local functions = members(methods)
  local fields = {}
  if instance then
    for k, v in pairs(instance) do
      if type(k) == "string" and not k:match("^_") and type(v) ~= "function" then fields[k] = true end
    end
  end
  if lazy_upvalue then
    local lazy = upvalue(methods.__index, lazy_upvalue)
    assert(lazy, "lazy fields (" .. lazy_upvalue .. ") not found")
    for k in pairs(lazy) do fields[k] = true end
  end
  return { functions = functions, fields = fields }
end

local function built_cluster()
  return cluster.build {
    name = "meta", backend = "process", postgres = "postgresql://u@127.0.0.1:1/db",
    proxies = { "db" },
    pods = { { name = "a", group = "g", url = "http://127.0.0.1:1", port = 1, oneshot = false } },
  }
end

-- Comparing ---------------------------------------------------------------------------

-- compare(class_name, real [, opts]) -> list of problems. opts.fields:
-- "exact" (declared fields = real fields), "declared" (every declared field
-- is real), or nil (fields not checked).
local function compare(name, real, opts)
  opts = opts or {}
  local problems = {}
  local declared = classes[name]
  if not declared then return { name .. ": no ---@class " .. name .. " in " .. META } end
  local internal = INTERNAL[name] or {}
  for fn, f in pairs(real.functions) do
    if not internal[fn] and not declared.functions[fn] and not declared.fields[fn] then
      problems[#problems + 1] = string.format("%s.%s exists in the engine but not in %s", name, fn, META)
    end
    local d = declared.functions[fn]
    local info = debug.getinfo(f, "Su")
    if d and info.what == "Lua" then
      local want = {}
      if d.method then want[1] = "self" end
      for _, p in ipairs(d.params) do if p ~= "..." then want[#want + 1] = p end end
      local vararg = d.params[#d.params] == "..."
      local got = {}
      for i = 1, info.nparams do got[i] = debug.getlocal(f, i) end
      local same = LOOSE_PARAMS[name .. "." .. fn] or
        (info.isvararg == vararg and table.concat(got, ",") == table.concat(want, ","))
      if not same then
        problems[#problems + 1] = string.format("%s.%s: the engine takes (%s%s), %s:%d declares (%s)",
          name, fn, table.concat(got, ", "), info.isvararg and ", ..." or "", META, d.line,
          table.concat(d.params, ", "))
      end
    end
  end
  for fn in pairs(declared.functions) do
    if not real.functions[fn] then
      problems[#problems + 1] = string.format("%s:%d: %s.%s is declared but the engine has no such function",
        META, declared.functions[fn].line, name, fn)
    end
  end
  if opts.fields then
    for field in pairs(declared.fields) do
      if not real.fields[field] and not real.functions[field] then
        problems[#problems + 1] = string.format("%s: field %s is declared but the engine has none", name, field)
      end
    end
  end
  if opts.fields == "exact" then
    for field in pairs(real.fields) do
      if not declared.fields[field] and not internal[field] then
        problems[#problems + 1] = string.format("%s: the engine has the field %s, %s does not declare it",
          name, field, META)
      end
    end
  end
  return problems
end

local function expect_no_problems(problems)
  if #problems > 0 then
    table.sort(problems)
    mp.fail(#problems .. " differences:\n" .. table.concat(problems, "\n"))
  end
end

local counts = { classes = 0, functions = 0, fields = 0 }

-- Tests ---------------------------------------------------------------------------------

mp.test("the meta file is valid Lua, runs, and returns the mp table", function()
  local chunk, err = loadfile(META, "t", {})
  if not chunk then mp.fail(err) end
  local ok, result = pcall(chunk)
  if not ok then mp.fail("running it raised: " .. tostring(result)) end
  mp.expect(result):type("table")
  mp.expect(result.test):type("function")
  mp.expect(meta_text:match("^%-%-%-@meta mpod\n")):truthy()
  expect_no_problems(parse_problems)
  for _, c in pairs(classes) do
    counts.classes = counts.classes + 1
    for _ in pairs(c.functions) do counts.functions = counts.functions + 1 end
    for _ in pairs(c.fields) do counts.fields = counts.fields + 1 end
  end
  mp.note(string.format("%s: %d classes, %d functions, %d fields, %d error kinds", META,
    counts.classes, counts.functions, counts.fields, #(aliases["mpod.ErrorKind"] or {})))
end)

mp.test("mp, mp.http, mp.json, mp.pg, mp.tcp and mp.check: every name, both ways", function()
  local problems = {}
  local function add(list) table.move(list, 1, #list, #problems + 1, problems) end
  add(compare("mpod", real_mp(), { fields = "exact" }))
  add(compare("mpod.http", real_module(mp.http), { fields = "exact" }))
  add(compare("mpod.json", real_module(mp.json), { fields = "exact" }))
  add(compare("mpod.pg", real_module(mp.pg), { fields = "exact" }))
  add(compare("mpod.tcp", real_module(mp.tcp), { fields = "exact" }))
  add(compare("mpod.check", real_module(mp.check), { fields = "exact" }))
  expect_no_problems(problems)
  mp.expect(mp.null == mp.json.null and mp.null == mp.pg.null):truthy()
end)

mp.test("Cluster, Pod, Proxy, Task and Expectation", function()
  local c = built_cluster()
  local pod = c:pod("a")
  local proxy = c:proxy("db")
  local task = mp.spawn(function() end)
  task:wait()
  mp.expect(getmetatable(task).__index == sched.Task):truthy()
  local problems = {}
  local function add(list) table.move(list, 1, #list, #problems + 1, problems) end
  add(compare("mpod.Cluster", real_class(getmetatable(c), c), { fields = "exact" }))
  add(compare("mpod.Pod", real_class(cluster.Pod, pod), { fields = "exact" }))
  add(compare("mpod.Proxy", real_class(getmetatable(proxy), proxy), { fields = "exact" }))
  add(compare("mpod.Task", real_class(sched.Task)))
  local e = mp.expect(1)
  add(compare("mpod.Expectation", real_class(getmetatable(e).__index, e), { fields = "exact" }))
  expect_no_problems(problems)
end)

mp.test("History, Op, mp.nemesis and Nemesis", function()
  local history = require "mpod.scenario.history"
  local h = mp.history()
  local op = h:invoke("meta", 1)
  local problems = {}
  local function add(list) table.move(list, 1, #list, #problems + 1, problems) end
  add(compare("mpod.History", real_class(history.History)))
  add(compare("mpod.Op", real_class(history.Op)))
  local nemesis = require "mpod.scenario.nemesis"
  add(compare("mpod.nemesis", real_module(mp.nemesis)))
  add(compare("mpod.Nemesis", real_class(nemesis.Nemesis)))
  expect_no_problems(problems)
  op:ok()
end)

mp.test("Response, SseStream, SseEvent and TcpConn from the HTTP fixture", function()
  local fix = httpfix.start()
  local ok, err = pcall(function()
    local pod = fix:cluster():pod("a")
    local res = pod:get("/json")
    local problems = {}
    local function add(list) table.move(list, 1, #list, #problems + 1, problems) end
    add(compare("mpod.Response", real_class(getmetatable(res), res, "lazy"), { fields = "exact" }))
    local s <close> = pod:sse("/sse/basic", { timeout = 5 })
    local seen = {}
    while true do
      local ev = s:next(5)
      if not ev then break end
      for k in pairs(ev) do seen[k] = true end
      if ev.event == "update" then mp.expect(ev.json.n):eq(3); seen.json = true end
    end
    add(compare("mpod.SseStream", real_class(getmetatable(s), s, "stream_fields"), { fields = "exact" }))
    add(compare("mpod.SseEvent", { functions = {}, fields = seen }, { fields = "exact" }))
    local conn <close> = mp.tcp.connect("127.0.0.1", fix.port, { raise = false })
    add(compare("mpod.TcpConn", real_class(getmetatable(conn), conn), { fields = "exact" }))
    expect_no_problems(problems)
  end)
  fix:stop()
  if not ok then error(err, 0) end
end)

mp.test("PgConn, mp.exec results and error values", function()
  require "mpod.pg"
  local problems = {}
  local function add(list) table.move(list, 1, #list, #problems + 1, problems) end
  add(compare("mpod.PgConn", real_class(require("mpod.pg.core").Conn)))
  local fields = {}
  for _, r in ipairs { mp.exec({ "true" }), mp.exec("kill -TERM $$") } do
    for k in pairs(r) do fields[k] = true end
  end
  add(compare("mpod.ExecResult", { functions = {}, fields = fields }, { fields = "exact" }))
  -- an error value is a table with kind and message; its metatable has no methods
  local err = errors.new("timeout", "x")
  mp.expect(sorted(real_class({}, err).fields)):eq { "kind", "message" }
  for k in pairs(getmetatable(err)) do
    if k ~= "__tostring" and k ~= "__name" then add { "mpod.Error has a metamethod " .. k } end
  end
  for _, f in ipairs { "kind", "message" } do
    if not classes["mpod.Error"].fields[f] then add { "mpod.Error does not declare " .. f } end
  end
  -- every other declared field is set somewhere by the engine
  local text = {}
  for _, pattern in ipairs { "lua/mpod/*.lua", "lua/mpod/*/*.lua", "lua/mpod/*/*/*.lua", "src/*.c" } do
    for _, path in ipairs(sys.glob(pattern)) do text[#text + 1] = read(path) end
  end
  text = table.concat(text, "\n")
  for f in pairs(classes["mpod.Error"].fields) do
    local set = text:find('"' .. f .. '"', 1, true) or text:find("[{,%s%.]" .. f .. " = ")
    if not set then add { "mpod.Error declares " .. f .. ", which no error value gets" } end
  end
  expect_no_problems(problems)
end)

-- Every source file of the engine, as one text per file.
local function sources()
  local files = {}
  for _, pattern in ipairs { "lua/mpod/*.lua", "lua/mpod/*/*.lua", "lua/mpod/*/*/*.lua", "src/*.c" } do
    for _, path in ipairs(sys.glob(pattern)) do files[path] = read(path) end
  end
  return files
end

-- The error kinds the engine raises, found in its source.
local function raised_kinds(files)
  local kinds = {}
  local function add(kind, where)
    kinds[kind] = kinds[kind] or where
  end
  for path, text in pairs(files) do
    local n = 0
    for line in (text .. "\n"):gmatch("([^\n]*)\n") do
      n = n + 1
      local where = path .. ":" .. n
      local function grab(pattern)
        for k in line:gmatch(pattern) do add(k, where) end
      end
      if path:match("%.c$") then
        grab('mp_raise%([^,]+, "([%l_]+)"')
        grab('mp_push_error%([^,]+, "([%l_]+)"')
        grab('stream_attempt_over%(s, "([%l_]+)"')
        if line:match("abort_kind =") then grab('"([%l_]+)"') end
        if path == "src/http.c" and (line:match("CURLE_[%u_]+: return") or line:match("default: return")) then
          grab('return "([%l_]+)";')
        end
      else
        grab('%.new%("([%l_]+)"')
        grab('%.raise%("([%l_]+)"')
        if line:match("errors%.usage%(") then add("usage", where) end
        grab('kind or "([%l_]+)"')
        for k in line:gmatch('kind = "([%l_]+)"') do
          if k ~= "test" and k ~= "block" then add(k, where) end
        end
      end
    end
  end
  return kinds
end

mp.test("mpod.ErrorKind is exactly the kinds the engine raises", function()
  local kinds = raised_kinds(sources())
  local declared = {}
  for _, k in ipairs(aliases["mpod.ErrorKind"] or {}) do declared[k] = true end
  local problems = {}
  for k, where in pairs(kinds) do
    if not declared[k] then problems[#problems + 1] = string.format("%s raises kind %q, not in mpod.ErrorKind", where, k) end
  end
  for k in pairs(declared) do
    if not kinds[k] then problems[#problems + 1] = string.format("mpod.ErrorKind lists %q, which nothing raises", k) end
  end
  expect_no_problems(problems)
end)

-- Option classes and the files whose code reads their fields.
local OPTION_READERS = {
  ["mpod.TestOptions"] = { "lua/mpod/scenario/dsl.lua" },
  ["mpod.PollOptions"] = { "lua/mpod/scenario/sync.lua" },
  ["mpod.ConsistentlyOptions"] = { "lua/mpod/scenario/sync.lua" },
  ["mpod.ExecOptions"] = { "lua/mpod/exec.lua" },
  ["mpod.LogsOptions"] = { "lua/mpod/scenario/cluster.lua" },
  ["mpod.LogsContainOptions"] = { "lua/mpod/scenario/cluster.lua" },
  ["mpod.RequestOptions"] = { "lua/mpod/http.lua", "lua/mpod/scenario/cluster.lua" },
  ["mpod.SseOptions"] = { "lua/mpod/http.lua", "lua/mpod/scenario/cluster.lua" },
  ["mpod.PgConnectOptions"] = { "lua/mpod/pg.lua" },
  ["mpod.TcpOptions"] = { "lua/mpod/tcp.lua" },
  ["mpod.TcpCallOptions"] = { "lua/mpod/tcp.lua" },
  ["mpod.JsonEncodeOptions"] = { "src/json.c" },
  ["mpod.LatencyFault"] = { "lua/mpod/runner/proxies.lua" },
  ["mpod.TimeoutFault"] = { "lua/mpod/runner/proxies.lua" },
  ["mpod.BandwidthFault"] = { "lua/mpod/runner/proxies.lua" },
  ["mpod.ResetPeerFault"] = { "lua/mpod/runner/proxies.lua" },
  ["mpod.DownFault"] = { "lua/mpod/runner/proxies.lua" },
  ["mpod.PodInfo"] = { "lua/mpod/runner/backend/process.lua", "lua/mpod/runner/backend/compose.lua" },
  ["mpod.PgNotification"] = { "src/pg.c" },
  ["mpod.PgRows"] = { "src/pg.c" },
  ["mpod.SetCookie"] = { "lua/mpod/http.lua" },
  ["mpod.HeaderLine"] = { "lua/mpod/http.lua" },
  ["mpod.CheckResult"] = { "lua/mpod/scenario/check.lua" },
  ["mpod.LinearizableOptions"] = { "lua/mpod/scenario/check.lua" },
  ["mpod.LogCheckOptions"] = { "lua/mpod/scenario/check.lua" },
  ["mpod.SetCheckOptions"] = { "lua/mpod/scenario/check.lua" },
  ["mpod.ExactlyOnceOptions"] = { "lua/mpod/scenario/check.lua" },
  ["mpod.MonotonicOptions"] = { "lua/mpod/scenario/check.lua" },
  ["mpod.ReadYourWritesOptions"] = { "lua/mpod/scenario/check.lua" },
}

mp.test("every option and record field is read or set by the engine's code", function()
  local problems = {}
  for class, files in pairs(OPTION_READERS) do
    if not classes[class] then
      problems[#problems + 1] = "no ---@class " .. class
    else
      local text = {}
      for _, f in ipairs(files) do text[#text + 1] = read(f) end
      text = table.concat(text, "\n")
      for field in pairs(classes[class].fields) do
        local f = field:gsub("%p", "%%%0")
        local found = text:find("%." .. f .. "[^%w_]") or text:find("[{,%s]" .. f .. " = ")
          or text:find('"' .. field .. '"', 1, true)
        if not found then
          problems[#problems + 1] = string.format("%s.%s: not found in %s", class, field,
            table.concat(files, ", "))
        end
      end
    end
  end
  expect_no_problems(problems)
end)

-- How docs/reference.md writes a call on each class.
local DOC_PREFIX = {
  ["mpod"] = "mp.", ["mpod.http"] = "mp.http.", ["mpod.json"] = "mp.json.",
  ["mpod.pg"] = "mp.pg.", ["mpod.Cluster"] = "c:", ["mpod.Pod"] = "pod:",
  ["mpod.Proxy"] = "proxy:", ["mpod.Task"] = "task:", ["mpod.Expectation"] = ":",
  ["mpod.Response"] = "res:", ["mpod.SseStream"] = "s:", ["mpod.PgConn"] = "db:",
  ["mpod.tcp"] = "mp.tcp.", ["mpod.TcpConn"] = "conn:", ["mpod.check"] = "mp.check.",
  ["mpod.History"] = "h:", ["mpod.Op"] = "op:", ["mpod.nemesis"] = "mp.nemesis.",
  ["mpod.Nemesis"] = "nem:",
}

mp.test("docs/reference.md names every function, option and error kind", function()
  local ref = read(REFERENCE)
  local problems = {}
  for name, c in pairs(classes) do
    for fn in pairs(c.functions) do
      local prefix = DOC_PREFIX[name]
      if not prefix then
        problems[#problems + 1] = "no documentation prefix for class " .. name
      elseif not ref:find("`" .. prefix .. fn .. "(", 1, true) then
        problems[#problems + 1] = string.format("%s does not show `%s%s(...)`", REFERENCE, prefix, fn)
      end
    end
  end
  for name, c in pairs(classes) do
    if name:match("Options$") or name:match("Fault$") then
      for field in pairs(c.fields) do
        if not ref:find("`" .. field .. "`", 1, true) and not ref:find("`" .. field .. " = ", 1, true) then
          problems[#problems + 1] = string.format("%s does not mention the option `%s` (%s)", REFERENCE, field, name)
        end
      end
    end
  end
  for _, kind in ipairs(aliases["mpod.ErrorKind"] or {}) do
    if not ref:find("| `" .. kind .. "` |", 1, true) then
      problems[#problems + 1] = string.format("%s has no row for the error kind `%s`", REFERENCE, kind)
    end
  end
  expect_no_problems(problems)
end)
