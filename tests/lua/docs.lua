-- docs.lua: what `make install` puts on a machine, and the man page. The
-- install goes into a DESTDIR (the binary, docs/mpod-lua.1 and
-- docs/mpod.meta.lua, byte for byte); the installed binary runs; the man
-- page renders without groff warnings, `man` finds it through MANPATH, and
-- it names every option `mpod-lua --help` lists and every environment
-- variable the engine reads; --help names it. `make uninstall` then
-- removes what the install put, and nothing else.

local mp = require "mpod"
local sys = require "mpod.sys"

local MPOD = os.getenv("MPOD") or "build/mpod-lua"
local BUILD = os.getenv("BUILD") or "build"
local PREFIX = "/usr/local"

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

local function check(r, what)
  if not r.ok then
    mp.fail(string.format("%s: exit %s\n%s%s", what, tostring(r.code or r.signal), r.stdout, r.stderr))
  end
  return r
end

local dest

mp.before_all(function()
  dest = check(mp.exec({ "mktemp", "-d", "/tmp/mpod-docs-XXXXXX" }), "mktemp").stdout:gsub("%s+$", "")
  -- -o: never rebuild the binary under test (a sanitizer build must stay one)
  check(mp.exec({ "make", "-s", "--no-print-directory", "-o", MPOD, "install",
    "BUILD=" .. BUILD, "MPOD=" .. MPOD, "DESTDIR=" .. dest, "PREFIX=" .. PREFIX },
    { timeout = 120 }), "make install")
end)

mp.after_all(function()
  if dest and dest:match("^/tmp/mpod%-docs%-") then sys.rmtree(dest) end
end)

mp.test("make install puts the binary, the man page and the meta file in place", function()
  local root = dest .. PREFIX
  mp.expect(read(root .. "/bin/mpod-lua")):eq(read(MPOD))
  -- the page in docs/ names no version; the installed one has the binary's
  local page = read("docs/mpod-lua.1")
  mp.expect(page):matches('\n%.TH MPOD%-LUA 1 "[^"]*" "mpod%-lua" ')
  mp.expect(read(root .. "/share/man/man1/mpod-lua.1"))
    :eq((page:gsub('"mpod%-lua"', '"mpod-lua ' .. mp.version .. '"', 1)))
  mp.expect(read(root .. "/share/mpod-lua/mpod.meta.lua")):eq(read("docs/mpod.meta.lua"))
  local r = check(mp.exec({ root .. "/bin/mpod-lua", "--version" }), "installed --version")
  mp.expect(r.stdout):eq("mpod-lua " .. mp.version .. "\n")
end)

mp.test("the man page renders without warnings and man finds it", function()
  local r = check(mp.exec({ "groff", "-man", "-ww", "-z", "docs/mpod-lua.1" },
    { env = { LC_ALL = "C.UTF-8" } }), "groff")
  mp.expect(r.stderr):eq("")
  local page = check(mp.exec({ "man", "mpod-lua" }, { env = {
    MANPATH = dest .. PREFIX .. "/share/man", MANWIDTH = "80", MANPAGER = "cat", PAGER = "cat",
    LC_ALL = "C.UTF-8" } }), "man mpod-lua").stdout
  for _, section in ipairs { "NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS",
                             "CLUSTER FILE", "FILES", "ENVIRONMENT", "EXIT STATUS",
                             "EXAMPLES", "SEE ALSO" } do
    if not page:find("\n" .. section .. "\n", 1, true) then mp.fail("no section " .. section) end
  end
  mp.expect(page):contains("mpod-lua - run Lua scenarios")
end)

mp.test("the man page names every option of --help and every variable the engine reads", function()
  local help = check(mp.exec({ MPOD, "--help" }), "--help").stdout
  local page = check(mp.exec({ "man", "-l", "docs/mpod-lua.1" }, { env = {
    MANWIDTH = "200", MANPAGER = "cat", PAGER = "cat", LC_ALL = "C.UTF-8" } }), "man -l").stdout
  local missing, seen = {}, {}
  local n = 0
  for option in help:gmatch("%f[%w%-](%-%-?[%w][%w%-]*)") do
    if option ~= "--" then
      n = n + 1
      if not page:find(option, 1, true) and not seen[option] then missing[#missing + 1] = option end
      seen[option] = true
    end
  end
  mp.expect(n):ge(15)
  local sources = sys.glob("lua/mpod/*.lua")
  for _, pattern in ipairs { "lua/mpod/*/*.lua", "lua/mpod/*/*/*.lua", "src/*.c" } do
    local more = sys.glob(pattern)
    table.move(more, 1, #more, #sources + 1, sources)
  end
  for _, path in ipairs(sources) do
    for var in read(path):gmatch('getenv%("([%u_]+)"%)') do
      if not page:find(var, 1, true) and not seen[var] then missing[#missing + 1] = var end
      seen[var] = true
    end
  end
  if #missing > 0 then mp.fail("not in docs/mpod-lua.1: " .. table.concat(missing, ", ")) end
end)

mp.test("make uninstall removes what make install put, and only that", function()
  local root = dest .. PREFIX
  local keep = root .. "/share/man/man1/other.1"
  local f = assert(io.open(keep, "w"))
  f:write("someone else's page\n")
  f:close()
  check(mp.exec({ "make", "-s", "--no-print-directory", "uninstall", "DESTDIR=" .. dest,
    "PREFIX=" .. PREFIX }, { timeout = 60 }), "make uninstall")
  for _, path in ipairs { "/bin/mpod-lua", "/share/man/man1/mpod-lua.1",
                          "/share/mpod-lua/mpod.meta.lua", "/share/mpod-lua" } do
    if sys.stat(root .. path) then mp.fail("make uninstall left " .. PREFIX .. path) end
  end
  mp.expect(read(keep)):eq("someone else's page\n")
end)

mp.test("--help points at the manual page", function()
  local help = check(mp.exec({ MPOD, "--help" }), "--help").stdout
  mp.expect(help):contains("man mpod-lua")
end)
