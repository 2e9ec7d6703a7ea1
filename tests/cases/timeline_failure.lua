-- timeline_failure.lua: a failing test whose history holds operations of
-- its own, so its YAML carries a `timeline:` (tests/golden/timeline.tap):
-- ok, info and fail completions, a point op, an op still open at the
-- failure, and an op of an earlier test that must not show.

local mp = require "mpod"

mp.test("an earlier test", function()
  mp.history():invoke("setup", "x"):ok()
end)

mp.test("a write is lost", function()
  local h = mp.history()
  h:invoke("write", 1):ok()
  h:invoke("write", 2):info({ kind = "timeout", message = "no reply in 1 s" })
  h:invoke("write", 3):fail({ kind = "refused", message = "connection refused" })
  h:observe("saw", { value = 2 })
  h:invoke("read", nil):ok(1)
  h:invoke("read", nil)                -- still open when the test fails
  mp.expect(1):eq(2)
end)
