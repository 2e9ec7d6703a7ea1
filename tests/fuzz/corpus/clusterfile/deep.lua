local t = {}
for _ = 1, 300000 do t = { t } end
return { name = "deep", services = { { name = "a", env = t } } }
