-- Every Toxiproxy fault measured from the client side, through the proxy
-- of tests/clusters/faults.lua (PORT_P in front of pod a).
local mp = require "mpod"
mp.exclusive()
local c = mp.cluster()
local web = c:proxy("web")
local url = "http://127.0.0.1:" .. os.getenv("PORT_P")

local function get(path, timeout)
  local t0 = mp.now()
  local res = mp.http.request { url = url .. (path or "/health"), timeout = timeout or 5 }
  return res, mp.now() - t0
end

local function baseline()
  local res, took = get()
  mp.expect(res.status):eq(200)
  mp.expect(took):lt(0.5)
end

mp.test("unknown proxies are named", function()
  mp.expect(function() c:proxy("nope") end):raises("no proxy named 'nope' in cluster")
end)

mp.test("latency adds that much, within bounds", function()
  baseline()
  web:latency { ms = 400 }
  local _, took = get()
  mp.expect(took):ge(0.4)
  mp.expect(took):lt(1.4)
  web:clear()
  baseline()
end)

mp.test("timeout makes connections hang until the client gives up", function()
  web:timeout { ms = 0 }
  local t0 = mp.now()
  local err = mp.expect(function() get("/health", 1) end):raises()
  mp.expect(err.kind):eq("timeout")
  mp.expect(mp.now() - t0):ge(0.9)
  mp.expect(mp.now() - t0):lt(4)          -- the hang ends with the 1 s timeout
  web:clear()
  baseline()
end)

mp.test("down refuses connections, up restores them", function()
  web:down()
  local err = mp.expect(function() get() end):raises()
  mp.expect(err.kind):eq("connect")
  web:up()
  baseline()
end)

mp.test("reset_peer resets connections", function()
  web:reset_peer()
  local err = mp.expect(function() get() end):raises()
  mp.expect(err.kind):eq("reset")
  web:clear()
  baseline()
end)

mp.test("bandwidth throttles a 100 KiB body", function()
  local _, fast = get("/big")
  web:bandwidth { kbps = 50 }
  local res, slow = get("/big", 10)
  mp.expect(#res.body):eq(100 * 1024)
  mp.expect(slow):ge(1.5)
  mp.expect(slow):gt(fast * 5)
  web:clear()
end)

mp.test("a fault with for_s reverts on its own", function()
  web:down { for_s = 0.5 }
  mp.expect(function() get() end):raises()
  mp.poll_until(function() return get().status == 200 end, { timeout = 5, label = "proxy back up" })
  web:latency { ms = 500, for_s = 0.5 }
  mp.sleep(0.8)
  baseline()
end)
