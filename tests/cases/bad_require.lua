-- A file whose helper module (lib/bad_syntax_lib.lua) does not parse.
local mp = require "mpod"
local helper = require "bad_syntax_lib"
mp.test("never runs", function() helper.helper() end)
