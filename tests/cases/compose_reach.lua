-- After healing, a and b reach each other again.
local mp = require "mpod"
local c = mp.cluster()
mp.test("a and b reach each other", function()
  for _, pair in ipairs { { "a", "b" }, { "b", "a" } } do
    local r = mp.exec { "docker", "exec", c:pod(pair[1]):info().container, "curl", "-s", "-m", "2",
                        "-o", "/dev/null", "-w", "%{http_code}", "http://" .. pair[2] .. ":8080/health" }
    mp.expect(r.stdout):eq("200")
  end
end)
