-- Error values whose metamethods raise, and error tables with keys that
-- are not strings. Describing them runs none of their metamethods: each
-- test fails with a readable message, and the tests after them still run.
local mp = require "mpod"
local errors = require "mpod.error"
local function boom() error("a metamethod ran") end
local hostile = { __index = boom, __pairs = boom, __len = boom, __eq = boom, __lt = boom,
                  __concat = boom, __call = boom, __close = boom, __name = boom }
mp.test("__index, __pairs, __len, __eq, __concat raise", function()
  error(setmetatable({ code = 5 }, hostile))
end)
mp.test("a list whose __len raises", function() error(setmetatable({ "a", "b" }, hostile)) end)
mp.test("a protected metatable", function()
  error(setmetatable({ code = 6 }, { __metatable = "locked", __index = boom, __pairs = boom }))
end)
mp.test("a metatable protected by a table that raises", function()
  error(setmetatable({ code = 7 }, { __metatable = setmetatable({}, hostile), __pairs = boom }))
end)
mp.test("__name that is not a string", function() error(setmetatable({}, { __name = {} })) end)
mp.test("__tostring that yields", function()
  error(setmetatable({}, { __tostring = function() coroutine.yield() end }))
end)
mp.test("a message field whose __tostring raises", function()
  error({ message = setmetatable({}, { __tostring = boom }) })
end)
mp.test("an mpod error with a hostile field", function()
  error(errors.new("data", "bad data", { rows = setmetatable({ 1 }, hostile) }))
end)
mp.test("keys that are not strings", function()
  error({ [1] = "one", [true] = "yes", [2.5] = "half", message = "mixed keys", ["1"] = "text" })
end)
mp.test("an mpod error with keys that are not strings", function()
  error(errors.new("data", "numbered", { [1] = "first", [false] = "no" }))
end)
mp.test("the run goes on", function() end)
