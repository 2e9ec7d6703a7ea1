-- ports_check.lua: run against tests/clusters/ports.lua: every pod that
-- answers is one of this cluster's (its name carries this run's TAG), and
-- pod.port, c.ports and c:port() give the ports chosen at bring-up.
local mp = require "mpod"

local TAG = os.getenv("TAG")

mp.test("each pod answers on the port chosen for it, and is this cluster's", function()
  local c = mp.cluster()
  for _, pod in ipairs(c:pods("web")) do
    mp.expect(pod.url):matches("^http://127%.0%.0%.1:" .. pod.port .. "/?$")
    mp.expect(c:port(pod.name)):eq(pod.port)
    local res = pod:get("/")
    mp.expect(res):status(200)
    mp.expect(res.body):contains(pod.name .. "-" .. TAG)
  end
  mp.expect(c:port("web-2-admin")):type("number")
  local names = {}
  for name in pairs(c.ports) do names[#names + 1] = name end
  table.sort(names)
  mp.expect(names):eq { "web-1", "web-2", "web-2-admin" }
  mp.note(string.format("ports: web-1=%d web-2=%d", c:port("web-1"), c:port("web-2")))
end)

mp.test("c:port of an unknown name raises, listing the known ones", function()
  local err = mp.expect(function() mp.cluster():port("web-3") end):raises()
  mp.expect(err.message):eq("no port named 'web-3' in cluster " .. mp.cluster().name ..
    " (known: web-1, web-2, web-2-admin)")
end)
