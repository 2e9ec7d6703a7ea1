-- bad_not_table.lua: a cluster file that returns a string.
return "meshd-local"
