-- No fault is left: the proxy answers at once.
local mp = require "mpod"
mp.test("the proxy is clean", function()
  local t0 = mp.now()
  local res = mp.http.request { url = "http://127.0.0.1:" .. os.getenv("PORT_P") .. "/health", timeout = 5 }
  mp.expect(res.status):eq(200)
  mp.expect(mp.now() - t0):lt(0.5)
  local toxics = mp.http.request { url = "http://127.0.0.1:" .. os.getenv("PORT_T") .. "/proxies/web/toxics" }.json
  mp.expect(#toxics):eq(0)
end)
