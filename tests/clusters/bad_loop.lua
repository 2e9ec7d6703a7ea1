-- bad_loop.lua: a cluster file that never returns.
while true do pcall(function() while true do end end) end
