-- pg_bindir.lua: where the Postgres server programs are found
-- (compose/local/pg-bindir, used by compose/local/postgres.sh, pgfixture
-- and bench/pg.sh). Debian installs them in /usr/lib/postgresql/NN/bin and
-- puts none on PATH: the newest version holding them all wins, on a tree
-- of fake versions the test makes; MPOD_PG_BIN overrides; an error lists
-- where it looked. Then the reference cluster's postgres.sh brings a real
-- server up with a PATH that has no initdb on it.

local mp = require "mpod"
local proc = require "mpod.proc"
local st = require "selftest"
local sys = require "mpod.sys"

local SCRIPT = "compose/local/pg-bindir"

-- tree(versions) -> a folder holding NN/bin/<tool> for each
-- versions[NN] = { tools }, as empty executable scripts
local function tree(versions)
  local root = assert(sys.mkdtemp("mpod-pglib"))
  for version, tools in pairs(versions) do
    local bin = root .. "/" .. version .. "/bin"
    assert(sys.mkdir_p(bin, 493))
    for _, tool in ipairs(tools) do
      local f = assert(io.open(bin .. "/" .. tool, "w"))
      f:write("#!/bin/sh\n")
      f:close()
      assert(mp.exec({ "chmod", "755", bin .. "/" .. tool }).ok)
    end
  end
  return root
end

local function bindir(env, ...)
  return mp.exec({ SCRIPT, ... }, { env = env, timeout = 30 })
end

mp.test("the newest NN/bin that holds every program wins, in numeric order", function()
  local both = { "initdb", "postgres" }
  local root = tree { ["9.6"] = both, ["13"] = both, ["16"] = both, ["17"] = { "initdb" } }
  local r = bindir { MPOD_PG_LIB = root }
  st.expect_code(r, 0)
  mp.expect(r.stdout):eq(root .. "/16/bin\n")
  -- asked for a program only 9.6 has
  local f = assert(io.open(root .. "/9.6/bin/pg_old", "w"))
  f:close()
  assert(mp.exec({ "chmod", "755", root .. "/9.6/bin/pg_old" }).ok)
  mp.expect(bindir({ MPOD_PG_LIB = root }, "initdb", "pg_old").stdout):eq(root .. "/9.6/bin\n")
  sys.rmtree(root)
end)

mp.test("MPOD_PG_BIN wins over every other place, and must hold the programs", function()
  local root = tree { ["16"] = { "initdb", "postgres" }, ["mine"] = { "initdb", "postgres" } }
  local r = bindir { MPOD_PG_LIB = root, MPOD_PG_BIN = root .. "/mine/bin" }
  mp.expect(r.stdout):eq(root .. "/mine/bin\n")
  r = bindir { MPOD_PG_LIB = root, MPOD_PG_BIN = root }
  st.expect_code(r, 1)
  mp.expect(r.stderr):eq("pg-bindir: MPOD_PG_BIN=" .. root .. " does not hold initdb postgres\n")
  sys.rmtree(root)
end)

mp.test("when no folder holds them, the error lists where it looked", function()
  local root = tree { ["15"] = { "initdb" } }
  local r = bindir({ MPOD_PG_LIB = root }, "initdb", "postgres", "no-such-program")
  st.expect_code(r, 1)
  mp.expect(r.stdout):eq("")
  mp.expect(r.stderr):matches("^pg%-bindir: no folder holds initdb postgres no%-such%-program; looked in:\n")
  mp.expect(r.stderr):contains("\n  " .. root .. "/15/bin (the newest version first)\n")
  mp.expect(r.stderr):contains("(install the Postgres server, e.g. make deps, or set MPOD_PG_BIN=<folder>)")
  sys.rmtree(root)
  local empty = assert(sys.mkdtemp("mpod-pglib"))
  r = bindir({ MPOD_PG_LIB = empty }, "no-such-program")
  mp.expect(r.stderr):contains("\n  " .. empty .. "/NN/bin (no version there)\n")
  sys.rmtree(empty)
end)

mp.test("postgres.sh brings Postgres up with no initdb on PATH", function()
  local dir = assert(sys.mkdtemp("mpod-pgsh"))
  local port = sys.free_port()
  local log = dir .. "/postgres.log"
  -- Debian's PATH: the server programs are only in /usr/lib/postgresql/NN/bin
  local p = proc.spawn { argv = { "compose/local/postgres.sh", dir .. "/pg/data", tostring(port) },
    env = { PATH = "/usr/bin:/bin" }, stdout = log, stderr = "stdout", die_with_parent = true }
  local ok, err = pcall(mp.poll_until, function()
    if p:poll() then error("postgres.sh exited", 0) end
    local db = mp.pg.connect(string.format("postgresql://postgres@127.0.0.1:%d/postgres", port),
      { timeout = 2 })
    local one = db:scalar("SELECT 1")
    db:close()
    return one == 1
  end, { timeout = st.slow(60), interval = 0.2, label = "postgres.sh on port " .. port })
  if not p:poll() then
    p:kill("INT")
    p:wait(st.slow(20))
  end
  local f = io.open(log)
  local text = f and f:read("a") or ""
  if f then f:close() end
  sys.rmtree(dir)
  if not ok then mp.fail(tostring(err) .. "\n--- postgres.sh's output:\n" .. text) end
  mp.expect(text):contains("/bin/initdb")
end, { timeout = 180 })
