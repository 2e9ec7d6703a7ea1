-- secrets_report.lua: a scenario against tests/clusters/leaky.lua that
-- reports secrets every way it can; tests/lua/core_redact.lua checks that
-- none shows in the TAP, the JUnit file, -v's stderr or --dump-logs. The
-- pod's log (every form, and the cluster file's own secrets as bare words,
-- which only the runner knows) goes out as a note and as the failure
-- context of a test that touched the pod: that test restarts the pod, so
-- the lines are written again during it (the logs: block quotes only those).
local mp = require "mpod"

local function pod_log(pod, since)
  return mp.poll_until(function()
    local text = pod:logs(since and { since = since })
    return text:find(": started", 1, true) and text
  end, { timeout = 10, label = "the pod's start line" })
end

mp.test("notes the pod's log", function()
  mp.note(pod_log(mp.cluster():pod("leaky")))
end)

mp.test("fails quoting secrets", function()
  local leaky = mp.cluster():pod("leaky")
  local restarted = mp.now()
  leaky:restart()                           -- its log lines are written during this test
  pod_log(leaky, restarted)                 -- touched: its log joins the diagnostics
  mp.expect("fail-dsn postgresql://app:faildsn-7731@db/app"):eq("fail-token token=failtok-7731")
end)

mp.test("raises a table with secrets", function()
  error { message = "fail-table Authorization: Bearer tabletok-7731", password = "tablepw-7731",
          detail = "fail-detail envpw-7731 ok" }
end)
