-- A file that fails while loading with a message of several lines: the
-- file-level diagnostic (at the top level of the TAP, where prove reads
-- YAML) then holds a multi-line string.
local mp = require "mpod"
mp.test("never runs", function() end)
error("config invalid:\nport missing", 0)
