-- redact.lua: the figures of `make bench` for secret redaction (run by
-- bench/redact.sh). redact() runs on every event a scenario sends and on
-- every text the runner reports, so it must stay cheap on large notes:
-- the best of ROUNDS timings of redact() on 1 MiB texts of four kinds
-- (words without a secret; words with a few; a JSON body of small
-- objects with keys like primary_key; one 1 MiB word), target at most
-- 20 ms each, and redact_all() on a typical failed-test event, in
-- microseconds. Figures are noted as "bench| <text>" lines.

local mp = require "mpod"
local redact = require "mpod.redact"

local ROUNDS = tonumber(os.getenv("BENCH_ROUNDS") or "11")
local MiB = 1024 * 1024
local TARGET_MS = 20

local function words(with_secrets)
  local dict = { "the", "pod", "mesh", "answered", "request", "session", "user", "status",
    "GET", "/api/v1/items", "200", "ms", "connection", "ready", "queue", "event" }
  local rng, parts, size = 12345, {}, 0
  while size < MiB do
    rng = (rng * 1103515245 + 12345) % 2147483648
    local w = dict[rng % #dict + 1]
    if with_secrets and rng % 997 == 0 then
      w = "password=hunter22 Cookie: sid=abcdef\nAuthorization: Bearer zzzzzzzz token=abcdefgh"
    end
    parts[#parts + 1] = rng % 13 == 0 and (w .. "\n") or w
    size = size + #w + 1
  end
  return table.concat(parts, " "):sub(1, MiB)
end

local function json_body()
  local items, size = {}, 0
  while size < MiB do
    local i = #items + 1
    items[i] = string.format('{"id":%d,"name":"item-%d","owner":"u_%d","primary_key":"k%d"}', i, i, i, i)
    size = size + #items[i] + 1
  end
  return "[" .. table.concat(items, ",") .. "]"
end

local function best_of(fn)
  local best = math.huge
  for _ = 1, ROUNDS do
    local t = mp.now()
    fn()
    best = math.min(best, mp.now() - t)
  end
  return best
end

mp.test("redaction costs", function()
  for i = 1, 20 do redact.add_secret(string.format("cookie-value-%06d", i)) end
  for _, case in ipairs {
    { "1 MiB of words, no secret", words(false) },
    { "1 MiB of words with secrets", words(true) },
    { "1 MiB JSON body", json_body() },
    { "one 1 MiB word", string.rep("a", MiB) },
  } do
    local ms = best_of(function() redact.redact(case[2]) end) * 1000
    mp.note(string.format("bench| %-30s %6.2f ms  (target <= %d ms: %s)", case[1], ms,
      TARGET_MS, ms <= TARGET_MS and "PASS" or "MISS"))
  end
  local event = { ev = "test", name = "sign-out on mesh-2 invalidates the cookie", ok = false,
    elapsed = 0.25, diag = { message = "expected status 200, got 401", kind = "status",
      at = "scenarios/session.lua:31", got = 401, expected = 200,
      body = '{"error":"unauthorized","hint":"sign in again"}', pod = "mesh-2",
      method = "GET", path = "/api/me" } }
  local n = 10000
  local s = best_of(function() for _ = 1, n do redact.redact_all(event) end end)
  mp.note(string.format("bench| %-30s %6.2f us", "a failed test's event", s / n * 1e6))
end)
