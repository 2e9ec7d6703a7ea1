-- pg.lua: the Postgres figures of `make bench` (run by bench/pg.sh), all
-- in this one scenario against one private server (tests/lua/lib/
-- pgfixture.lua):
--
--   sequential `SELECT $1::int` round trips from this scenario (db:query,
--   one connection) against `pgbench -c1 -M prepared` running the same
--   statement from a custom script for the same duration, alternating in
--   BENCH_ROUNDS rounds of BENCH_SECONDS each (the median ratio is judged,
--   target at least 0.8x); and against spawning `psql -c` per query, the
--   approach mpod.pg replaces (without the `docker compose exec` it also
--   paid). Figures are noted as "bench| <text>" lines for pg.sh to print.

local mp = require "mpod"

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
package.path = here .. "/../tests/lua/lib/?.lua;" .. package.path
local pgfix = require "pgfixture"

local ROUNDS = tonumber(os.getenv("BENCH_ROUNDS") or "3")
local SECONDS = tonumber(os.getenv("BENCH_SECONDS") or "5")
local PSQL_SECONDS = tonumber(os.getenv("BENCH_PSQL_SECONDS") or "3")
local SQL = "SELECT $1::int"

local server

mp.before_all(function() server = pgfix.start() end)
mp.after_all(function() if server then server:destroy() end end)

local function say(fmt, ...)
  mp.note("bench| " .. string.format(fmt, ...))
end

local function median(list)
  local sorted = { table.unpack(list) }
  table.sort(sorted)
  return sorted[(#sorted + 1) // 2]
end

-- q/s and CPU seconds per query of db:query round trips for `seconds`.
local function mpod_rate(db, seconds)
  local n, cpu0, t0 = 0, os.clock(), mp.now()
  local deadline = t0 + seconds
  repeat
    for _ = 1, 100 do
      db:query(SQL, n)
      n = n + 1
    end
  until mp.now() >= deadline
  return n / (mp.now() - t0), (os.clock() - cpu0) / n
end

local function client_env()
  return { PGPASSWORD = server.password, PGHOST = "127.0.0.1", PGPORT = tostring(server.port),
           PGUSER = "postgres", PGDATABASE = "postgres" }
end

-- pgbench's tps running SELECT :v::int (sent as $1) for `seconds`, and
-- its CPU seconds per transaction (the shell's children times, in ticks).
local function pgbench_rate(script, seconds)
  local r = mp.exec({ "sh", "-c", '"$0" "$@" || exit; echo "cpu $(cut -d" " -f16,17 /proc/$$/stat)"',
    pgfix.BIN .. "/pgbench", "-n", "-c1", "-M", "prepared", "-T", tostring(seconds), "-f", script },
    { env = client_env(), timeout = seconds + 60 })
  local tps = r.stdout:match("tps = ([%d.]+)")
  local count = r.stdout:match("transactions actually processed: (%d+)")
  local user, system = r.stdout:match("cpu (%d+) (%d+)")
  if not r.ok or not tps or not user then error("pgbench failed: " .. r.stdout .. r.stderr, 0) end
  local ticks = tonumber(mp.exec({ "getconf", "CLK_TCK" }).stdout) or 100
  return tonumber(tps), (tonumber(user) + tonumber(system)) / ticks / tonumber(count)
end

-- q/s of spawning `psql -c` per query for `seconds`, over the server's
-- unix socket with trust authentication, as `docker compose exec postgres
-- psql` connected (minus the docker exec). The psql binary itself, not
-- Debian's Perl wrapper in /usr/bin, so the figure flatters psql.
local function psql_rate(seconds)
  local env = client_env()
  env.PGHOST = server.socket_dir
  local n, t0 = 0, mp.now()
  repeat
    local r = mp.exec({ pgfix.BIN .. "/psql", "-X", "-q", "-At", "-c", "SELECT " .. n .. "::int" }, { env = env })
    if not r.ok then error("psql failed: " .. r.stderr, 0) end
    n = n + 1
  until mp.now() - t0 >= seconds
  return n / (mp.now() - t0)
end

mp.test("SELECT $1::int round trips: mpod-lua, pgbench -M prepared, psql -c", function()
  local script = server.dir .. "/select.sql"
  local f = assert(io.open(script, "w"))
  f:write("\\set v random(1, 1000000)\nSELECT :v::int;\n")
  f:close()
  local db <close> = server:connect()
  mp.expect(db:scalar(SQL, 42)):eq(42)
  mpod_rate(db, 0.5)                     -- warm up: the statement gets prepared
  say("%d rounds of %g s each, load average %s", ROUNDS, SECONDS,
    io.open("/proc/loadavg"):read("l"):match("^(%S+ %S+ %S+)"))
  local ratios, mpods, pgbenches = {}, {}, {}
  for round = 1, ROUNDS do
    local rate, cpu = mpod_rate(db, SECONDS)
    local tps, pgcpu = pgbench_rate(script, SECONDS)
    mpods[round], pgbenches[round], ratios[round] = rate, tps, rate / tps
    say("round %d: mpod-lua %7.0f q/s (%4.1f us CPU/q)   pgbench %7.0f q/s (%4.1f us CPU/q)   ratio %.2f x",
      round, rate, cpu * 1e6, tps, pgcpu * 1e6, rate / tps)
  end
  local ratio = median(ratios)
  say("mpod-lua db:query           %8.0f q/s (median)", median(mpods))
  say("pgbench -c1 -M prepared     %8.0f q/s (median)", median(pgbenches))
  say("ratio mpod-lua / pgbench    %8.2f x (median of rounds)   target >= 0.8 x   %s",
    ratio, ratio >= 0.8 and "PASS" or "MISS")
  local psql = psql_rate(PSQL_SECONDS)
  say("psql -c per query           %8.1f q/s", psql)
  say("ratio mpod-lua / psql -c    %8.0f x", median(mpods) / psql)
end, { timeout = 600 })
