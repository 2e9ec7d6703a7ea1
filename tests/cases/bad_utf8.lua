-- Bytes that are not UTF-8 in every place a report shows text: a test
-- name, a note, an error message, a SKIP reason and a response body quoted
-- in the diagnostics (BAD_HTTP_URL: the HTTP fixture). The TAP and the
-- JUnit stay valid UTF-8 (each bad byte becomes U+FFFD); the run goes on.
local mp = require "mpod"
mp.test("name \xff\xfe with bad bytes", function() end)
mp.test("a note with bad bytes", function() mp.note("note \xc0\x80 overlong, \xed\xa0\x80 surrogate") end)
mp.test("an error with bad bytes", function() error("bad \xff byte", 0) end)
mp.test("a skipped test", function() end, { skip = "reason \xfe" })
mp.test("a response body with bad bytes", function()
  mp.http.request({ url = os.getenv("BAD_HTTP_URL") .. "/echo", method = "POST",
                    body = "\xff\xfe body \x80" }):expect(201)
end)
mp.test("the run goes on", function() end)
