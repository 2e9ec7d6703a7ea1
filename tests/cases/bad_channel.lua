-- Breaks the channel to the runner the way only a bug or a stray write
-- could, as BAD_CHANNEL says: "long" (a line of more than 16 MiB),
-- "garbage" (a line that is not JSON), "list" (JSON that is not an
-- object). The runner must fail the file at once, naming what broke,
-- instead of waiting for the file's timeout.
local mp = require "mpod"
local runtime = require "mpod.scenario.runtime"
local lines = {
  long = string.rep("x", (16 << 20) + 1) .. "\n",
  garbage = "not json at all\n",
  list = "[1, 2, 3]\n",
}
mp.test("before the break", function() end)
mp.test("writes past the protocol", function()
  runtime.channel.stream:write(assert(lines[os.getenv("BAD_CHANNEL")], "BAD_CHANNEL?"))
  mp.sleep(120)
end)
mp.test("never runs", function() end)
