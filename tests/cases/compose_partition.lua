-- c:partition on the compose backend: a and b stop reaching each other,
-- each keeps its other links (the host still reaches both), and healing
-- restores it.
local mp = require "mpod"
mp.exclusive()
local c = mp.cluster()

local function reaches(from, to)
  local r = mp.exec { "docker", "exec", from:info().container, "curl", "-s", "-m", "2",
                      "-o", "/dev/null", "-w", "%{http_code}", "http://" .. to.name .. ":8080/health" }
  return r.stdout == "200"
end

mp.test("partition cuts a from b and nothing else", function()
  local a, b = c:pod("a"), c:pod("b")
  mp.expect(reaches(a, b)):truthy()
  c:partition({ "a" }, { b })
  mp.expect(reaches(a, b)):falsy()
  mp.expect(reaches(b, a)):falsy()
  mp.expect(a:get("/health").status):eq(200)
  mp.expect(b:get("/health").status):eq(200)
  c:heal()
  mp.expect(reaches(a, b)):truthy()
  mp.expect(reaches(b, a)):truthy()
end)

mp.test("a partition left behind is lifted by healing", function()
  c:partition("web", { "setup" })
  c:partition({ "a" }, { "b" })
  mp.expect(reaches(c:pod("a"), c:pod("b"))):falsy()
end)
