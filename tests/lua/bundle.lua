-- bundle.lua: the Lua half compiled into the binary. gen_bundle (the build
-- tool behind build/gen/lua_bundle.c) precompiles lua/ to bytecode: a
-- syntax error fails the build naming file and line, and the bundled
-- modules keep their debug information, so engine frames and errors still
-- read "mpod/x.lua:LINE" and parameter names stay visible. A file that is
-- not Lua (the report's .js and .css) becomes a module returning its bytes.

local mp = require "mpod"
local sys = require "mpod.sys"

local BUILD = os.getenv("BUILD") or "build"
local GEN = BUILD .. "/gen_bundle"

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

mp.test("a syntax error in lua/ fails the build, naming file and line", function()
  local dir <close> = setmetatable({ path = assert(sys.mkdtemp("mpod-bundle")) },
    { __close = function(d) sys.rmtree(d.path) end })
  local good, bad = dir.path .. "/good.lua", dir.path .. "/bad.lua"
  write(good, "return {}\n")
  write(bad, "local x = 1\nreturn {x =}\n")
  local out = dir.path .. "/bundle.c"
  local r = mp.exec { GEN, out, good, bad }
  mp.expect(r.code):eq(1)
  mp.expect(r.stderr):contains(bad:gsub("^.*/", "") .. ":2: unexpected symbol near '}'")
  mp.expect(sys.stat(out)):is_nil()                 -- no half-written table
  r = mp.exec { GEN, out, good }
  mp.expect(r.code):eq(0)
  mp.expect(sys.stat(out).size):gt(0)
end)

mp.test("bundled modules are bytecode with their debug information", function()
  local dsl = require "mpod.scenario.dsl"
  local info = debug.getinfo(dsl.test, "S")
  mp.expect(info.short_src):eq("mpod/scenario/dsl.lua")
  mp.expect(info.linedefined):gt(0)
  mp.expect(debug.getlocal(dsl.test, 1)):eq("name")
  -- a stack through an engine module names its lines
  local ok, stack = xpcall(mp.poll_until, function() return debug.traceback("", 2) end,
    function() return false end, { timeout = 0.01 })
  mp.expect(ok):falsy()
  mp.expect(stack):matches("mpod/scenario/sync%.lua:%d+: in ")
end)

mp.test("a file that is not Lua is an asset: its module returns its bytes", function()
  for _, name in ipairs { "report.js", "report.css" } do
    local f = assert(io.open("lua/mpod/runner/assets/" .. name, "rb"))
    local text = f:read("a")
    f:close()
    mp.expect(require("mpod.runner.assets." .. name)):eq(text)
  end
  -- any bytes: quotes, backslashes, NUL, bytes that are not UTF-8
  local dir <close> = setmetatable({ path = assert(sys.mkdtemp("mpod-bundle")) },
    { __close = function(d) sys.rmtree(d.path) end })
  local asset = dir.path .. "/odd.bin"
  write(asset, 'a"b\\c\n\0\255]]')
  local r = mp.exec { GEN, dir.path .. "/bundle.c", asset }
  mp.expect(r.code):eq(0)
  local c = assert(io.open(dir.path .. "/bundle.c")):read("a")
  mp.expect(c):contains('"' .. asset:gsub("/", ".") .. '"')   -- named by its path, extension kept
end)
