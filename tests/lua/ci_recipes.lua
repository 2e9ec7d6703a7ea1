-- ci_recipes.lua: what docs/ci.md tells a CI engineer to run, run.
--
-- - `make run`'s stdout is the TAP alone: a real `make run` (on a copy of
--   the build folder with one fixture removed, so the compiler runs, and
--   ARGS naming one case file) writes make's echo and the compiler's lines
--   on stderr, and `TAP version 13` is its first line on stdout.
-- - The prove recipes of docs/ci.md ("Reading the TAP with prove"), as
--   written there with mpod-lua on a passing and on a failing file: prove
--   passes the one and fails the other; `| prove -e cat -` (which the page
--   warns against) fails even a passing run.
-- - vendor/install-deps: its groups, and names resolved against apt (NN:
--   the newest version), on this machine and on an empty dpkg database
--   (a fresh machine, against this machine's apt lists).

local mp = require "mpod"
local st = require "selftest"
local sys = require "mpod.sys"

local BUILD = os.getenv("BUILD") or "build"

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

local function sh(script, opts)
  return mp.exec({ "/bin/sh", "-c", script }, opts)
end

local function quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- make run --------------------------------------------------------------------

mp.test("make run: stdout is the TAP alone; make's echo and the compiler go to stderr", function()
  local dir = assert(sys.mkdtemp("mpod-makerun"))
  local copy = dir .. "/build"
  assert(sys.mkdir_p(copy, 493))
  -- what `make run` needs, with its timestamps: nothing but the fixture
  -- rebuilds. `version` too: without it make writes it anew and recompiles
  -- sys.o and http.o with make run's flags, which in the ASan half of the
  -- suite links plain objects with sanitized ones and fails.
  for _, entry in ipairs { "version", "obj", "gen", "gen_bundle", "libmpod.a", "mpod-lua", "tests",
                           "fixtures", "meshd-obj", "meshd", "toxiproxy" } do
    if sys.stat(BUILD .. "/" .. entry) then
      local cp = mp.exec({ "cp", "-a", BUILD .. "/" .. entry, copy .. "/" }, { timeout = 120 })
      if not cp.ok then mp.fail("cp " .. entry .. ": " .. cp.stderr) end
    end
  end
  os.remove(copy .. "/fixtures/curlbench")
  -- as a user types it: not as a sub-make of the suite's own make, which
  -- would print "Entering directory" lines on stdout (make does that for
  -- every sub-make, whatever the Makefile says)
  local top_level = { MAKELEVEL = "", MAKEFLAGS = "", MFLAGS = "" }
  local r = mp.exec({ "make", "run", "BUILD=" .. copy, "ARGS=--seed 1 " .. st.case("passing") },
    { timeout = st.slow(600), env = top_level })
  sys.rmtree(dir)
  st.expect_code(r, 0)
  mp.expect(r.stdout):matches("^TAP version 13\n# mpod%-lua [^\n]*, seed 1, cluster [^\n]*\n")
  for line in r.stdout:gmatch("[^\n]+") do
    if not (line:match("^%s*ok ") or line:match("^%s*not ok ") or line:match("^%s*#")
            or line:match("^%s*%d+%.%.%d+$") or line:match("^TAP version")) then
      mp.fail("not TAP on stdout: " .. line .. "\n--- stdout:\n" .. r.stdout)
    end
  end
  mp.expect(r.stdout):contains("\nok 1 - tests/cases/passing.lua\n")
  -- what make did, on stderr
  mp.expect(r.stderr):contains("fixtures/curlbench.c")
end, { timeout = 900 })

-- prove -----------------------------------------------------------------------

-- The command lines of the "Reading the TAP with prove" block of docs/ci.md.
local function prove_recipes()
  local page = assert(read("docs/ci.md"))
  local section = page:match("\n## Reading the TAP with prove\n(.-)\n## ")
  local block = section and section:match("```sh\n(.-)```")
  if not block then mp.fail("docs/ci.md has no sh block under 'Reading the TAP with prove'") end
  local lines = {}
  for line in block:gmatch("[^\n]+") do lines[#lines + 1] = line end
  return lines
end

-- run_recipe(line, case, dir) -> result: a line that starts with mpod-lua
-- runs with this build's mpod-lua on the case file instead of its own
-- arguments (everything from the first | on is as written); other lines
-- run as written. In dir, which has a build/ folder.
local function run_recipe(line, case, dir)
  local tail = line:match("^mpod%-lua [^|]*(|.*)$")
  local script = line
  if tail then
    script = quote(sys.realpath(st.MPOD)) .. " --seed 1 " .. quote(sys.realpath(st.case(case))) ..
      " 2>/dev/null " .. tail
  end
  return sh(script, { cwd = dir, timeout = st.slow(60), env = { MPOD_CLUSTER = "" } })
end

mp.test("the prove recipes of docs/ci.md pass a passing run and fail a failing one", function()
  local lines = prove_recipes()
  mp.expect(#lines):ge(3)
  local piped = 0
  for _, case in ipairs { { "passing", 0, "Result: PASS" }, { "failing", 1, "Result: FAIL" } } do
    local dir = assert(sys.mkdtemp("mpod-prove"))
    assert(sys.mkdir_p(dir .. "/build", 493))
    for _, line in ipairs(lines) do
      local r = run_recipe(line, case[1], dir)
      if r.code ~= case[2] or not r.stdout:find(case[3], 1, true) then
        mp.fail(string.format("%s on %s: exit %s, expected %d and %s\n--- stdout:\n%s\n--- stderr:\n%s",
          line, case[1], tostring(r.code), case[2], case[3], r.stdout, r.stderr))
      end
      if line:find("| prove -e cat /dev/stdin", 1, true) then piped = piped + 1 end
    end
    sys.rmtree(dir)
  end
  mp.expect(piped):ge(2)
end)

mp.test("| prove -e cat - does not read the TAP (docs/ci.md says so)", function()
  local page = assert(read("docs/ci.md"))
  mp.expect(page:gsub("%s+", " ")):contains("`| prove -e cat -` does not work")
  local r = run_recipe("mpod-lua x.lua | prove -e cat -", "passing", sys.tmpdir())
  mp.expect(r.code):ne(0)
  mp.expect(r.stdout):contains("Result: FAIL")
end)

-- install-deps ----------------------------------------------------------------

local function deps(args, env)
  local argv = { "vendor/install-deps" }
  table.move(args, 1, #args, 2, argv)
  return mp.exec(argv, { env = env, timeout = st.slow(120) })
end

local function lines_of(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

local function set_of(list)
  local out = {}
  for _, v in ipairs(list) do out[v] = true end
  return out
end

mp.test("install-deps --newest: the names a pattern matches, newest version first", function()
  -- as `apt-cache pkgnames` lists them on an Ubuntu with the PGDG archive
  local names = "postgresql-9.6\npostgresql-16\npostgresql-16-postgis-3\npostgresql-client-16\n" ..
    "postgresql-10\npostgresql-common\npostgresql-9\npostgresql-client-18\npostgresql-1x\n"
  local r = mp.exec({ "vendor/install-deps", "--newest", "postgresql-NN" }, { stdin = names })
  st.expect_code(r, 0)
  mp.expect(r.stdout):eq("postgresql-16\npostgresql-10\npostgresql-9\n")
  r = mp.exec({ "vendor/install-deps", "--newest", "postgresql-client-NN" }, { stdin = names })
  mp.expect(r.stdout):eq("postgresql-client-18\npostgresql-client-16\n")
  r = mp.exec({ "vendor/install-deps", "--newest", "libclang-rt-NN-dev" },
    { stdin = "libclang-rt-14-dev\nlibclang-rt-dev\nlibclang-rt-19-dev\nlibclang-rt-19-dev-wasm32\n" })
  mp.expect(r.stdout):eq("libclang-rt-19-dev\nlibclang-rt-14-dev\n")
end)

mp.test("install-deps --list: the run group is what building and running needs, dev the rest", function()
  local run = deps { "--list", "run" }
  st.expect_code(run, 0)
  local dev = deps { "--list", "run", "compose", "dev" }
  st.expect_code(dev, 0)
  local run_set, dev_set = set_of(lines_of(run.stdout)), set_of(lines_of(dev.stdout))
  for _, name in ipairs { "build-essential", "liblua5.4-dev", "libcurl4-openssl-dev", "libpq-dev",
                          "nats-server", "libmicrohttpd-dev" } do
    mp.expect(run_set[name]):eq(true)
  end
  for _, name in ipairs { "valgrind", "clang", "hyperfine", "wrk", "docker-compose", "debootstrap" } do
    mp.expect(run_set[name]):is_nil()
    mp.expect(dev_set[name]):eq(true)
  end
  for name in pairs(run_set) do mp.expect(dev_set[name]):eq(true) end
  -- NN resolved to the server version installed here
  local installed = sys.glob("/usr/lib/postgresql/*/bin/postgres")
  mp.expect(#installed):ge(1)
  local server = lines_of(run.stdout)
  local pg = {}
  for _, name in ipairs(server) do
    mp.expect(name:find("NN", 1, true)):is_nil()
    if name:match("^postgresql%-%d+$") then pg[#pg + 1] = name end
  end
  mp.expect(#pg):eq(1)
  mp.expect(sys.stat("/usr/lib/postgresql/" .. pg[1]:match("%d+$") .. "/bin/postgres")):type("table")
  local bad = deps { "--list", "nonsense" }
  st.expect_code(bad, 2)
  mp.expect(bad.stderr):contains("unknown group 'nonsense' (run, compose, dev)")
end)

-- An empty dpkg database, for dpkg-query (DPKG_ADMINDIR) and apt-cache
-- (APT_CONFIG naming it): to install-deps, a machine with nothing installed.
local function fresh_machine()
  local dir = assert(sys.mkdtemp("mpod-dpkg"))
  assert(sys.mkdir_p(dir .. "/info", 493))
  assert(sys.mkdir_p(dir .. "/updates", 493))
  local f = assert(io.open(dir .. "/status", "w"))
  f:close()
  f = assert(io.open(dir .. "/apt.conf", "w"))
  f:write(string.format('Dir::State::status "%s/status";\n', dir))
  f:close()
  return dir, { DPKG_ADMINDIR = dir, APT_CONFIG = dir .. "/apt.conf" }
end

mp.test("install-deps --dry-run on a fresh machine: every name one apt offers, NN the newest", function()
  local dir, env = fresh_machine()
  local r = deps({ "--dry-run", "run", "compose", "dev" }, env)
  st.expect_code(r, 0)
  local names = lines_of(r.stdout)
  local listed = 0
  for line in assert(read("vendor/debian-packages.txt")):gmatch("[^\n]+") do
    if line:match("^%a+%s+%S+%s+%S+") then listed = listed + 1 end
  end
  mp.expect(#names):eq(listed)
  -- the newest postgresql-<N> that apt has a candidate for, by this test's own reading
  local newest = -1
  local known = mp.exec({ "apt-cache", "pkgnames", "postgresql-" }, { env = env, timeout = 60 }).stdout
  for n in known:gmatch("postgresql%-(%d+)\n") do
    local policy = mp.exec({ "apt-cache", "policy", "postgresql-" .. n }, { env = env }).stdout
    if not policy:find("Candidate: (none)", 1, true) then newest = math.max(newest, tonumber(n)) end
  end
  mp.expect(newest):gt(0)
  local set = set_of(names)
  mp.expect(set["postgresql-" .. newest]):eq(true)
  mp.expect(set["postgresql-client-" .. newest]):eq(true)
  -- libclang-rt-dev|libclang-rt-NN-dev: the first alternative apt offers
  mp.expect(set["libclang-rt-dev"]):eq(true)
  -- every name has a candidate: one apt-cache call for all
  local policy = mp.exec({ "apt-cache", "policy", table.unpack(names) }, { env = env, timeout = 60 }).stdout
  local offered = 0
  for _ in policy:gmatch("\n  Candidate: [^(\n]") do offered = offered + 1 end
  mp.expect(offered):eq(#names)
  sys.rmtree(dir)
end)

mp.test("install-deps: a package apt lacks is an error in run, a warning in dev", function()
  local dir = assert(sys.mkdtemp("mpod-deps"))
  assert(sys.mkdir_p(dir .. "/vendor", 493))
  assert(mp.exec({ "cp", "vendor/install-deps", dir .. "/vendor/" }).ok)
  local f = assert(io.open(dir .. "/vendor/debian-packages.txt", "w"))
  f:write("# a list of this test's\n",
    "run  lua5.4                         1\n",
    "run  mpod-no-such-package           1\n",
    "dev  mpod-no-such-tool-NN           1\n",
    "dev  mpod-no-such-thing|lua5.4      1\n")
  f:close()
  local script = dir .. "/vendor/install-deps"
  local run = mp.exec({ script, "--dry-run", "run" }, { timeout = st.slow(120) })
  st.expect_code(run, 1)
  mp.expect(run.stdout):eq("")
  mp.expect(run.stderr):contains("make deps: error: apt offers no mpod-no-such-package (group run)")
  local dev = mp.exec({ script, "--list", "dev" }, { timeout = st.slow(120) })
  st.expect_code(dev, 0)
  mp.expect(dev.stdout):eq("lua5.4\n-\n")
  mp.expect(dev.stderr):contains("make deps: warning: apt offers no mpod-no-such-tool-NN (group dev)")
  sys.rmtree(dir)
end)
