-- Starts programs that would outlive the file, every way a scenario can,
-- then ends as $PROGRAMS_END says: "normal", "exit" (os.exit), "crash"
-- (the scenario process SIGKILLs itself) or "hang" (waits for the file
-- timeout or for the runner to be killed). $PROGRAMS_MARK is a file the
-- forking program writes once it has forked.
local mp = require "mpod"
local proc = require "mpod.proc"

mp.test("starts programs that outlive the call that started them", function()
  local mark = assert(os.getenv("PROGRAMS_MARK"))
  mp.exec("sleep 300 >/dev/null 2>&1 &")                          -- left by its shell
  mp.exec("setsid sh -c 'sleep 300 & wait' >/dev/null 2>&1 &")    -- forks, in a session of its own
  os.execute("sleep 300 >/dev/null 2>&1 &")
  io.popen("sleep 300 >/dev/null 2>&1 &"):close()
  mp.spawn(mp.exec, { "sh", "-c", 'sleep 300 & echo > "$0"; wait', mark }, { timeout = 600 })
  mp.poll_until(function()
    local f = io.open(mark)
    if f then f:close() end
    return f ~= nil
  end, { timeout = 60, label = "the waited-for program has forked" })
  print("programs started")
  local how = os.getenv("PROGRAMS_END")
  if how == "exit" then
    os.exit(0)
  elseif how == "crash" then
    proc.kill(proc.getpid(), "KILL")
  elseif how == "hang" then
    mp.sleep(3600)
  end
end, { timeout = 3600 })
