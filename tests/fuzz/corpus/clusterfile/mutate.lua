string.format = nil
table.concat = nil
return { name = "m", services = { { name = "a", ready = { tcp = "nowhere" } } } }
