-- bad_syntax.lua: a cluster file that does not parse.
return { name = "bad-syntax", services = {
