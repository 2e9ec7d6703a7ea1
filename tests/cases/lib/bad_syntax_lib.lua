-- A helper module with a syntax error, required by bad_require.lua.
local M = {}
function M.helper( return 1 end
return M
