-- core_expect.lua: every matcher of mp.expect, passing and failing, with
-- the exact message and fields a failure reports.

local mp = require "mpod"

-- fails(fn) -> the expectation error fn raised (fails if it raised none)
local function fails(fn)
  local ok, err = pcall(fn)
  if ok then mp.fail("the matcher did not fail") end
  mp.expect(err.kind):eq("expect")
  mp.expect(err.at):matches("core_expect%.lua:%d+$")
  return err
end

mp.test("eq compares deeply and lists the differing paths", function()
  mp.expect({ a = { 1, 2 }, b = "x" }):eq { a = { 1, 2 }, b = "x" }
  mp.expect(1):eq(1.0)
  local err = fails(function()
    mp.expect({ user = { id = "u_1", roles = { "a" } }, extra = true })
      :eq { user = { id = "u_2", roles = { "a", "b" } } }
  end)
  mp.expect(err.message):eq("expected values to be equal")
  mp.expect(err.diff):eq(table.concat({
    '$.user.id: got "u_1", expected "u_2"',
    '$.user.roles[2]: missing, expected "b"',
    "$.extra: unexpected true",
  }, "\n"))
  local scalar = fails(function() mp.expect("a"):eq("b") end)
  mp.expect(scalar.got):eq('"a"')
  mp.expect(scalar.expected):eq('"b"')
end)

mp.test("eq handles cycles", function()
  local a, b = {}, {}
  a.self, b.self = a, b
  mp.expect(a):eq(b)
end)

mp.test("ne, truthy, falsy, is_nil", function()
  mp.expect(1):ne(2)
  mp.expect(fails(function() mp.expect({ 1 }):ne({ 1 }) end).message)
    :eq("expected a value different from {1}")
  mp.expect(0):truthy()
  mp.expect(fails(function() mp.expect(nil):truthy() end).message):eq("expected a truthy value")
  mp.expect(false):falsy()
  mp.expect(fails(function() mp.expect(0):falsy() end).got):eq("0")
  mp.expect(nil):is_nil()
  mp.expect(fails(function() mp.expect(false):is_nil() end).message):eq("expected nil")
end)

mp.test("gt, ge, lt, le, near", function()
  mp.expect(2):gt(1):ge(2):lt(3):le(2)
  mp.expect("b"):gt("a")
  mp.expect(fails(function() mp.expect(1):gt(1) end).message):eq("expected 1 > 1")
  mp.expect(fails(function() mp.expect("1"):lt(2) end).message):eq("cannot compare string < number")
  mp.expect(0.1 + 0.2):near(0.3, 1e-9)
  mp.expect(fails(function() mp.expect(1.5):near(1, 0.1) end).message)
    :eq("expected 1.5 to be within 0.1 of 1")
end)

mp.test("matches, contains, has, len, type", function()
  mp.expect("mesh-2 took over"):matches("^mesh%-%d"):contains("took")
  mp.expect(fails(function() mp.expect("abc"):matches("^z") end).message)
    :eq('expected a string matching the pattern "^z"')
  mp.expect({ "a", { b = 1 } }):contains({ b = 1 })
  mp.expect(fails(function() mp.expect({ 1, 2 }):contains(3) end).message)
    :eq("expected the value to contain 3")
  mp.expect("a.b"):contains(".")
  mp.expect({ key = 1 }):has("key")
  mp.expect(fails(function() mp.expect({}):has("key") end).message)
    :eq('expected a table with the key "key"')
  mp.expect({ 1, 2, 3 }):len(3)
  mp.expect("abcd"):len(4)
  mp.expect(fails(function() mp.expect({ 1 }):len(2) end).message):eq("expected length 2, got 1")
  mp.expect(fails(function() mp.expect(5):len(2) end).message)
    :eq("expected something with a length, got a number")
  mp.expect(mp.now()):type("number")
  mp.expect(fails(function() mp.expect("x"):type("table") end).message)
    :eq("expected a table, got a string")
end)

mp.test("matches given a table matches partially: given keys, recursively, arrays by position", function()
  local doc = { user = { id = "u_12", email = "ann@x.test", roles = { "admin", "dev" }, bio = mp.null },
                total = 3, extra = true }
  mp.expect(doc):matches { user = { email = "ann@x.test" } }
    :matches { user = { roles = { "admin" }, bio = mp.null }, total = 3 }
    :matches { user = { roles = { [2] = "dev" } } }
    :matches { user = { id = mp.pattern("^u_%d+$") } }
    :matches { total = function(n) return n > 2 end }
    :matches {}
  mp.expect("u_12"):matches(mp.pattern("^u_")):matches(function(v) return #v == 4 end)
  -- a string in the table is compared as it is, not as a pattern
  local literal = fails(function() mp.expect { id = "u_12" }:matches { id = "^u_" } end)
  mp.expect(literal.diff):eq('id: got "u_12", expected "^u_"')
end)

mp.test("a failed partial match names every mismatching path", function()
  local doc = { user = { id = "u_12", email = "ann@x.test", roles = { "admin", "dev" } }, total = 3 }
  local function over_five(n) return n > 5 end
  local err = fails(function()
    mp.expect(doc):matches {
      user = { email = "bob@x.test", id = mp.pattern("^v_"), roles = { "admin", "ops" },
               team = { name = "core" } },
      total = over_five,
      ["the count"] = 1,
    }
  end)
  mp.expect(err.message):eq('expected the value to match; 6 mismatches: ["the count"], total, ' ..
    "user.email, user.id, user.roles[2], user.team")
  mp.expect(err.diff):eq(table.concat({
    '["the count"]: missing, expected 1',
    "total: got 3, which the function at tests/lua/core_expect.lua:" .. debug.getinfo(over_five, "S").linedefined .. " rejected",
    'user.email: got "ann@x.test", expected "bob@x.test"',
    'user.id: got "u_12", expected a string matching "^v_"',
    'user.roles[2]: got "dev", expected "ops"',
    "user.team: missing, expected a table matching {name = \"core\"}",
  }, "\n"))
  mp.expect(err.got):matches('^{total = 3, user = {')
  local top = fails(function() mp.expect("text"):matches { a = 1 } end)
  mp.expect(top.diff):eq('(the value): got "text", expected a table matching {a = 1}')
  local raised = fails(function()
    mp.expect { n = 1 }:matches { n = function(v) mp.expect(v):gt(4) return true end }
  end)
  mp.expect(raised.diff):matches("^n: got 1, and the function at .-core_expect%.lua:%d+ raised: expected 1 > 4$")
  local null = fails(function() mp.expect { v = "x" }:matches { v = mp.null } end)
  mp.expect(null.diff):eq('v: got "x", expected null')
  mp.expect(function() mp.pattern(5) end):raises { kind = "usage", message = "mp.pattern expects a Lua pattern" }
end)

mp.test("status shows the body when it differs", function()
  local res = { status = 503, body = '{"status":"down"}' }
  mp.expect({ status = 200 }):status(200)
  local err = fails(function() mp.expect(res):status(200) end)
  mp.expect(err.message):eq("expected status 200, got 503")
  mp.expect(err.body):eq('{"status":"down"}')
end)

mp.test("raises returns the error and checks its text", function()
  local err = mp.expect(function() error({ kind = "x", message = "the detail" }) end):raises()
  mp.expect(err.message):eq("the detail")
  mp.expect(fails(function() mp.expect(function() end):raises() end).message)
    :eq("expected an error, but the function returned normally")
  mp.expect(fails(function()
    mp.expect(function() error("other", 0) end):raises("wanted")
  end).message):eq('the error did not contain "wanted"')
end)

mp.test("raises takes an error's kind or message text, or a table of its fields", function()
  local errors = require "mpod.error"
  local function timeout() errors.raise("timeout", "GET /slow on a: timed out after 1 s", { pod = "a" }) end
  mp.expect(timeout):raises("timeout")            -- the kind
  mp.expect(timeout):raises("after 1 s")          -- text in the message
  mp.expect(mp.expect(timeout):raises { kind = "timeout", pod = "a" }.pod):eq("a")
  mp.expect(timeout):raises { message = "timed out" }           -- a plain string: contained
  mp.expect(timeout):raises { message = mp.pattern("after %d s$") }
  mp.expect(function() error("disk full", 0) end):raises { message = "disk" }
  local by_text = fails(function() mp.expect(timeout):raises("refused") end)
  mp.expect(by_text.message):eq('the error is not of kind "refused" and its message does not contain "refused"')
  mp.expect(by_text.got):eq('kind "timeout": "GET /slow on a: timed out after 1 s"')
  local by_fields = fails(function()
    mp.expect(timeout):raises { kind = "connect", message = "refused", pod = "a" }
  end)
  mp.expect(by_fields.message):eq("the error did not match at kind, message")
  mp.expect(by_fields.diff):eq(table.concat({
    'kind: got "timeout", expected "connect"',
    'message: got "GET /slow on a: timed out after 1 s", expected it to contain "refused"',
  }, "\n"))
  local plain = fails(function() mp.expect(function() error("disk full", 0) end):raises { kind = "io" } end)
  mp.expect(plain.diff):eq('kind: missing, expected "io"')
  mp.expect(function() mp.expect(timeout):raises(42) end)
    :raises { kind = "usage", message = ":raises expects the text or kind of the error" }
end)

mp.test("mp.fail stops the test with the message and line", function()
  local ok, err = pcall(mp.fail, "stop here")
  mp.expect(ok):falsy()
  mp.expect(err.message):eq("stop here")
  mp.expect(err.at):matches("core_expect%.lua:%d+$")
end)

mp.test("a misspelt matcher names the real ones", function()
  local ok, err = pcall(function() mp.expect(3):gte(2) end)
  mp.expect(ok):falsy()
  mp.expect(err.kind):eq("usage")
  mp.expect(err.message):matches("^mp%.expect%(%.%.%.%) has no matcher 'gte' %(known: .*ge, gt,")
  mp.expect(err.message):contains("status")
  -- the matchers themselves still work
  mp.expect(3):ge(2)
end)
