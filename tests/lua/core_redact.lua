-- core_redact.lua: secrets never reach a report: Authorization and Cookie
-- values, bearer tokens, DSN and key=value passwords, JSON passwords, and
-- every value registered with trace.add_secret; ordinary words stay.
local mp = require "mpod"
local trace = require "mpod.trace"
mp.test("redaction", function()
  mp.expect(trace.redact("bearer and cookie auth")):eq("bearer and cookie auth")
  mp.expect(trace.redact("Authorization: Bearer abc123def456")):eq("Authorization: ***")
  mp.expect(trace.redact("got Bearer mk_1234abcd in a message")):eq("got Bearer *** in a message")
  mp.expect(trace.redact("postgresql://postgres:secret@127.0.0.1/db")):eq("postgresql://postgres:***@127.0.0.1/db")
  mp.expect(trace.redact("host=x password=secret user=y")):eq("host=x password=*** user=y")
  mp.expect(trace.redact('{"email":"a@b","password":"hunter2"}')):eq('{"email":"a@b","password":"***"}')
  mp.expect(trace.redact("Cookie: meshd_session=abc")):eq("Cookie: ***")
  trace.add_secret("tok-123456789")
  mp.expect(trace.redact("value tok-123456789 here")):eq("value *** here")
end)

mp.test("a failing test's diagnostics are redacted on the way out", function()
  local st = require "selftest"
  local dir = require("mpod.sys").mkdtemp("mpod-redact")
  local path = dir .. "/leak.lua"
  local f = assert(io.open(path, "w"))
  f:write([[
local mp = require "mpod"
require("mpod.trace").add_secret("s3cr3t-token-value")
mp.test("leaks", function()
  mp.note("token is s3cr3t-token-value")
  mp.expect("postgresql://app:pa55word@db/x"):eq("Authorization: Bearer abcdef123456")
end)
]])
  f:close()
  local r = st.run { path }
  mp.expect(r.stdout):contains("# token is ***")
  mp.expect(r.stdout):contains("postgresql://app:***@db/x")
  mp.expect(r.stdout):contains("Authorization: ***")
  mp.expect(r.stdout:find("pa55word", 1, true)):is_nil()
  mp.expect(r.stdout:find("s3cr3t", 1, true)):is_nil()
  mp.expect(r.stdout:find("abcdef123456", 1, true)):is_nil()
  require("mpod.sys").rmtree(dir)
end)
