-- bad_self.lua: a table that holds itself.
local http = { timeout = 5 }
http.again = http
return { name = "bad-self", http = http }
