-- bad_headers.lua: http.headers that is not a table.
return { name = "bad-headers", http = { headers = "Origin: x" } }
