local t = {}
t.self = t
return { name = "cycle", http = t }
