-- mpod (init.lua): the scenario API, `local mp = require "mpod"`.
--
-- This table gathers the public functions of the engine's modules; the
-- bigger bindings (http, pg, cluster) load on first use, so a scenario pays
-- only for what it touches. docs/api.md documents every name here.

local dsl = require "mpod.scenario.dsl"
local expect = require "mpod.scenario.expect"
local json = require "mpod.json"
local runtime = require "mpod.scenario.runtime"
local sync = require "mpod.scenario.sync"

local mp = {
  version = require("mpod.sys").version,

  test = dsl.test,
  describe = dsl.describe,
  before_all = dsl.before_all,
  after_all = dsl.after_all,
  before_each = dsl.before_each,
  after_each = dsl.after_each,
  skip = dsl.skip,
  todo = dsl.todo,
  exclusive = dsl.exclusive,

  expect = expect.expect,
  fail = expect.fail,
  pattern = expect.pattern,

  now = sync.now,
  sleep = sync.sleep,
  spawn = sync.spawn,
  wait_all = sync.wait_all,
  poll_until = sync.poll_until,
  eventually = sync.eventually,
  consistently = sync.consistently,

  json = json,
  null = json.null,
}

-- mp.note(...): a TAP comment in this file's report (print does the same)
function mp.note(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  runtime.emit { ev = "note", text = table.concat(parts, "\t") }
end

local lazy = {
  http = function() return require "mpod.http" end,
  pg = function() return require "mpod.pg" end,
  cluster = function() return require("mpod.scenario.cluster").get end,
  exec = function() return require("mpod.exec").exec end,
  tcp = function() return require "mpod.tcp" end,
  check = function() return require "mpod.scenario.check" end,
  history = function() return require("mpod.scenario.history").get end,
  nemesis = function() return require("mpod.scenario.nemesis").api end,
}

return setmetatable(mp, {
  __index = function(t, key)
    local load = lazy[key]
    if not load then return nil end
    local value = load()
    rawset(t, key, value)
    return value
  end,
})
