-- report_text.lua: the escaping rules of the reports (mpod.runner.report.text,
-- the C loops of mpod.text) one by one through Lua, fast paths included:
-- TAP descriptions, YAML scalars, XML text, cuts between UTF-8 characters.
-- Every function must give valid UTF-8 whatever its input.

local mp = require "mpod"
local text = require "mpod.runner.report.text"

local FFFD = "\u{FFFD}"

mp.test("valid: invalid UTF-8 bytes become U+FFFD, one per byte", function()
  mp.expect(text.valid("plain")):eq("plain")
  mp.expect(text.valid("caf\xc3\xa9 \xf0\x9f\x98\x80")):eq("caf\xc3\xa9 \xf0\x9f\x98\x80")
  mp.expect(text.valid("\xc0\x80")):eq(FFFD .. FFFD)                  -- overlong NUL
  mp.expect(text.valid("\xed\xa0\x80")):eq(FFFD .. FFFD .. FFFD)      -- a surrogate
  mp.expect(text.valid("\xf4\x90\x80\x80")):eq(FFFD:rep(4))           -- above U+10FFFF
  mp.expect(text.valid("\xe2\x82x")):eq(FFFD .. FFFD .. "x")          -- truncated
  mp.expect(text.valid("a\255\254b")):eq("a" .. FFFD .. FFFD .. "b")
end)

mp.test("tap_name: # and \\ escaped, control characters as spaces, UTF-8 kept", function()
  mp.expect(text.tap_name("plain name")):eq("plain name")
  mp.expect(text.tap_name("issue #12")):eq("issue \\#12")
  mp.expect(text.tap_name("a\\b")):eq("a\\\\b")
  mp.expect(text.tap_name("two\nlines\r\nhere")):eq("two lines  here")
  mp.expect(text.tap_name("tab\there")):eq("tab here")
  mp.expect(text.tap_name("caf\xc3\xa9")):eq("caf\xc3\xa9")
  mp.expect(text.tap_name("bad\xffbyte")):eq("bad" .. FFFD .. "byte")
  mp.expect(text.tap_name("nul\0in")):eq("nul in")
  mp.expect(text.tap_name("# SKIP not really")):eq("\\# SKIP not really")
end)

mp.test("yaml_scalar: quoted strings, escapes, literal blocks where they read back", function()
  local y = text.yaml_scalar
  mp.expect(y("simple", 2)):eq('"simple"')
  mp.expect(y('say "hi" \\o/', 2)):eq('"say \\"hi\\" \\\\o/"')
  mp.expect(y("bell\7", 2)):eq('"bell\\x07"')
  mp.expect(y("line one\nline two\n", 4)):eq("|\n    line one\n    line two")
  mp.expect(y("a\n\nb", 2)):eq("|\n  a\n  \n  b")
  mp.expect(y("  indented\nsecond", 2)):eq('"  indented\\nsecond"')
  mp.expect(y("x\ny\1", 2)):eq('"x\\ny\\x01"')
  mp.expect(y("\xff", 2)):eq('"' .. FFFD .. '"')
  mp.expect(y("c1\xc2\x85 ls\xe2\x80\xa8 bom\xef\xbb\xbf nc\xef\xbf\xbe", 2))
    :eq('"c1\\x85 ls\\u2028 bom\\uFEFF nc\\uFFFE"')
  mp.expect(y("a\xc2\x85\nb", 2)):eq('"a\\x85\\nb"')
  mp.expect(y("\n  indented\nback", 2)):eq('"\\n  indented\\nback"')
  mp.expect(y("ok \xe2\x80\xbf\nb", 2)):eq("|\n  ok \xe2\x80\xbf\n  b")   -- U+203F is plain
  mp.expect(text.yaml_quoted("two\nlines")):eq('"two\\nlines"')
end)

mp.test("xml: markup as entities, characters XML cannot carry as U+FFFD", function()
  mp.expect(text.xml("<a href=\"x\">&'</a>")):eq("&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;")
  mp.expect(text.xml("nul\0esc\27")):eq("nul" .. FFFD .. "esc" .. FFFD)
  mp.expect(text.xml("tab\tnl\n")):eq("tab\tnl\n")
  mp.expect(text.xml("\xef\xbf\xbf")):eq(FFFD)
end)

mp.test("xml_attr: newlines, returns and tabs as character references, which readers keep", function()
  mp.expect(text.xml_attr("plain")):eq("plain")
  mp.expect(text.xml_attr("line one\nline two\r\n\tend & <x>"))
    :eq("line one&#10;line two&#13;&#10;&#9;end &amp; &lt;x&gt;")
  mp.expect(text.xml_attr("\1\255")):eq(FFFD .. FFFD)
end)

mp.test("cuts never split a character; a cut name says how much is left out", function()
  mp.expect(text.prefix("abc", 5)):eq(3)
  mp.expect(text.prefix("a\xc3\xa9", 2)):eq(1)
  mp.expect(text.prefix("\xf0\x9f\x98\x80x", 3)):eq(0)
  mp.expect(text.prefix("ab\xff\xfe", 3)):eq(3)
  mp.expect(text.tap_cut("abc#def", 4)):eq("abc\\# ... (3 more bytes)")
end)

-- Random bytes, seeded: whatever comes in, what goes out is valid UTF-8,
-- stays on its line where it must, and carries no raw markup.
mp.test("any bytes give valid UTF-8: names on one line, XML without raw markup", function()
  local rng = 7
  local function byte()
    rng = (rng * 1103515245 + 12345) % 2147483648
    return rng >> 16 & 0xFF
  end
  for _ = 1, 2000 do
    local bytes = {}
    for i = 1, byte() % 40 do bytes[i] = string.char(byte()) end
    local s = table.concat(bytes)
    local name, quoted, x = text.tap_name(s), text.yaml_quoted(s), text.xml(s)
    for _, out in ipairs { name, quoted, x, text.yaml_scalar(s, 2) } do
      if not utf8.len(out) then mp.fail("not UTF-8 for " .. string.format("%q", s)) end
    end
    if name:find("[%z\1-\31\127]") or quoted:find("[%z\1-\31\127]") then
      mp.fail("a control character passed for " .. string.format("%q", s))
    end
    if x:find("[<>\"']") or x:find("&[^alqg]") or x:find("[%z\1-\8\11\12\14-\31]") then
      mp.fail("raw markup in XML for " .. string.format("%q", s))
    end
    local kept = text.prefix(s, 10)
    mp.expect(kept):le(10)
  end
end)
