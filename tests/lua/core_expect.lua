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
