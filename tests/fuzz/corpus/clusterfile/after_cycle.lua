return { name = "ac", services = {
  { name = "a", cmd = { "true" }, after = { "b" } },
  { name = "b", cmd = { "true" }, after = { "a" } },
} }
