-- bad_cycle.lua: services that wait for each other.
return { name = "bad-cycle", services = {
  { name = "a", cmd = { "true" }, after = { "b" } },
  { name = "b", cmd = { "true" }, after = { "a" } },
} }
