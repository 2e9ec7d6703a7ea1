-- history_export.lua: a file whose history tests/lua/history.lua reads
-- back from --history: user ops with a key and a secret, a refused
-- request, a passing, a failing and a skipped test.
local mp = require "mpod"

mp.test("writes", function()
  local h = mp.history()
  h:invoke("write", { v = 1, password = "hunter2-secret" }, { key = "k1" }):ok()
  h:invoke("read", nil, { key = "k1", process = "reader" }):ok(1)
  h:observe("seen", "a bytes \255 value")
  mp.http.get("http://127.0.0.1:1/refused?token=abcdefghij", { raise = false })
end)

mp.test("fails", function()
  mp.history():invoke("add", 7):info("lost")
  mp.fail("on purpose")
end)

mp.skip("skipped", "not today")
