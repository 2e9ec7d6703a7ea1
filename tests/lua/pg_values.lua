-- pg_values.lua: what db:query returns, type by type, against a private
-- Postgres (pgfixture): booleans, integers, floats, numeric, text-like
-- types, json/jsonb, bytea, arrays with NULLs and quoting, NULL vs '',
-- awkward text that broke the psql --csv parser, and parameters going in.

local mp = require "mpod"
local pgfix = require "pgfixture"

local server, db

mp.before_all(function()
  server = pgfix.start()
  db = server:connect()
end)

mp.after_all(function()
  if db then db:close() end
  if server then server:destroy() end
end)

local function value(sql, ...)
  return db:scalar(sql, ...)
end

mp.test("rows are tables keyed by column, with columns in order", function()
  local rows = db:query("SELECT 1 AS b, 2 AS a, 3 AS c UNION ALL SELECT 4, 5, 6")
  mp.expect(#rows):eq(2)
  mp.expect(rows.columns):eq { "b", "a", "c" }
  mp.expect(rows[1]):eq { b = 1, a = 2, c = 3 }
  mp.expect(rows[2]):eq { b = 4, a = 5, c = 6 }
  local none = db:query("SELECT 1 AS x WHERE false")
  mp.expect(#none):eq(0)
  mp.expect(none.columns):eq { "x" }
end)

mp.test("bool", function()
  mp.expect(value("SELECT true")):eq(true)
  mp.expect(value("SELECT false")):eq(false)
  mp.expect(value("SELECT $1::bool", true)):eq(true)
  mp.expect(value("SELECT $1::bool", false)):eq(false)
end)

mp.test("int2, int4, int8 and oid are Lua integers", function()
  mp.expect(math.type(value("SELECT 7::int2"))):eq("integer")
  mp.expect(value("SELECT (-32768)::int2")):eq(-32768)
  mp.expect(value("SELECT 2147483647::int4")):eq(2147483647)
  mp.expect(value("SELECT (-9223372036854775808)::int8")):eq(math.mininteger)
  mp.expect(value("SELECT 9223372036854775807::int8")):eq(math.maxinteger)
  mp.expect(value("SELECT 4294967295::oid")):eq(4294967295)
  mp.expect(value("SELECT count(*) FROM generate_series(1, 12)")):eq(12)
  mp.expect(value("SELECT $1::int8", math.maxinteger)):eq(math.maxinteger)
end)

mp.test("float4 and float8 are floats, with NaN and the infinities", function()
  mp.expect(math.type(value("SELECT 1::float8"))):eq("float")
  mp.expect(value("SELECT 0.1::float8")):eq(0.1)
  mp.expect(value("SELECT 1.5::float4")):eq(1.5)
  mp.expect(value("SELECT 'Infinity'::float8")):eq(math.huge)
  mp.expect(value("SELECT '-Infinity'::float4")):eq(-math.huge)
  local nan = value("SELECT 'NaN'::float8")
  mp.expect(nan ~= nan):truthy()
  mp.expect(value("SELECT $1::float8", 0.1)):eq(0.1)
  mp.expect(value("SELECT $1::float8", 1 / 3)):eq(1 / 3)
  mp.expect(value("SELECT $1::float8", -math.huge)):eq(-math.huge)
  local back = value("SELECT $1::float8", 0 / 0)
  mp.expect(back ~= back):truthy()
end)

mp.test("numeric: whole numbers that fit are integers, the rest exact text", function()
  mp.expect(value("SELECT 42::numeric")):eq(42)
  mp.expect(math.type(value("SELECT 42::numeric"))):eq("integer")
  mp.expect(value("SELECT sum(x) FROM (VALUES (9223372036854775807::int8), (1)) v(x)"))
    :eq("9223372036854775808")
  mp.expect(value("SELECT 1.50::numeric")):eq("1.50")
  mp.expect(value("SELECT 2.00::numeric")):eq("2.00")
  mp.expect(value("SELECT 0.1::numeric + 0.2::numeric")):eq("0.3")
  mp.expect(value("SELECT 'NaN'::numeric")):eq("NaN")
  mp.expect(value("SELECT 123456789012345678901234567890.000000000001::numeric"))
    :eq("123456789012345678901234567890.000000000001")
  mp.expect(value("SELECT $1::numeric", "1.10")):eq("1.10")
end)

mp.test("text-like and date/time types are strings", function()
  mp.expect(value("SELECT 'héllo'::text")):eq("héllo")
  mp.expect(value("SELECT 'ab'::varchar(5)")):eq("ab")
  mp.expect(value("SELECT 'ab'::char(4)")):eq("ab  ")
  mp.expect(value("SELECT 'tbl'::name")):eq("tbl")
  mp.expect(value("SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid"))
    :eq("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
  mp.expect(value("SELECT '2024-02-29'::date")):eq("2024-02-29")
  mp.expect(value("SELECT '13:14:15.5'::time")):eq("13:14:15.5")
  mp.expect(value("SELECT '2024-02-29 13:14:15'::timestamp")):eq("2024-02-29 13:14:15")
end)

mp.test("timestamptz and interval keep the server's text", function()
  db:exec("SET TIME ZONE 'UTC'")
  mp.expect(value("SELECT '2024-02-29 13:14:15+02'::timestamptz")):eq("2024-02-29 11:14:15+00")
  mp.expect(value("SELECT '1 day 02:03:04'::interval")):eq("1 day 02:03:04")
end)

mp.test("unknown types come back as their text", function()
  mp.expect(value("SELECT point(1, 2)")):eq("(1,2)")
  mp.expect(value("SELECT '10.0.0.1/8'::inet")):eq("10.0.0.1/8")
  mp.expect(value("SELECT 'x'::\"char\"")):eq("x")
end)

mp.test("json and jsonb are decoded, JSON null is mp.null", function()
  mp.expect(value([[SELECT '{"a": [1, 2.5, "x", null, true]}'::json]]))
    :eq { a = { 1, 2.5, "x", mp.null, true } }
  mp.expect(value([[SELECT '{"b": {"c": 1}}'::jsonb]])):eq { b = { c = 1 } }
  mp.expect(value("SELECT 'null'::jsonb")):eq(mp.null)
  mp.expect(value([[SELECT '"s"'::json]])):eq("s")
  mp.expect(value("SELECT $1::jsonb", { k = { 1, 2 } })):eq { k = { 1, 2 } }
  mp.expect(value("SELECT $1::jsonb ->> 'k'", { k = "v" })):eq("v")
end)

mp.test("bytea is a byte string, in hex and escape output", function()
  mp.expect(value([[SELECT '\x00ff41'::bytea]])):eq("\0\255A")
  mp.expect(value("SELECT ''::bytea")):eq("")
  db:exec("SET bytea_output = 'escape'")
  mp.expect(value([[SELECT '\x00ff415c'::bytea]])):eq("\0\255A\\")
  db:exec("SET bytea_output = 'hex'")
  local all = {}
  for i = 0, 255 do all[#all + 1] = string.char(i) end
  all = table.concat(all)
  mp.expect(value("SELECT $1::bytea", all)):eq(all)
  mp.expect(value("SELECT length($1::bytea)", "a\0b")):eq(3)
end)

mp.test("NULL is mp.null and stays distinct from ''", function()
  local row = db:one("SELECT NULL::text AS n, ''::text AS e, NULL::int AS i, NULL::jsonb AS j")
  mp.expect(row.n):eq(mp.null)
  mp.expect(row.e):eq("")
  mp.expect(row.i):eq(mp.null)
  mp.expect(row.j):eq(mp.null)
  mp.expect(value("SELECT $1::text IS NULL", nil)):eq(true)
  mp.expect(value("SELECT $1::text IS NULL", mp.null)):eq(true)
  mp.expect(value("SELECT $1::text IS NULL", "")):eq(false)
  mp.expect(value("SELECT $1::text = ''", "")):eq(true)
end)

mp.test("text with commas, quotes, newlines and backslashes survives", function()
  local nasty = 'a,b;"c"\n\'d\'\r\n\\e\tf, "NULL", {x}'
  db:exec("CREATE TEMP TABLE t_nasty (id int, v text)")
  db:exec("INSERT INTO t_nasty VALUES (1, $1), (2, 'NULL'), (3, ',')", nasty)
  local rows = db:query("SELECT id, v FROM t_nasty ORDER BY id")
  mp.expect(rows[1].v):eq(nasty)
  mp.expect(rows[2].v):eq("NULL")
  mp.expect(rows[3].v):eq(",")
end)

mp.test("a parameter holding SQL stays data", function()
  db:exec("CREATE TEMP TABLE t_victim (v text)")
  local evil = "x'); DROP TABLE t_victim; --"
  db:exec("INSERT INTO t_victim VALUES ($1)", evil)
  mp.expect(value("SELECT v FROM t_victim")):eq(evil)
  mp.expect(value("SELECT count(*) FROM t_victim WHERE v = $1", "' OR '1'='1")):eq(0)
  mp.expect(value("SELECT $1", "$2")):eq("$2")
end)

mp.test("arrays of each type become Lua arrays", function()
  mp.expect(value("SELECT ARRAY[1, 2, 3]::int4[]")):eq { 1, 2, 3 }
  mp.expect(value("SELECT ARRAY[1, 2]::int2[]")):eq { 1, 2 }
  mp.expect(value("SELECT ARRAY[9223372036854775807]::int8[]")):eq { math.maxinteger }
  mp.expect(value("SELECT ARRAY[true, false]")):eq { true, false }
  mp.expect(value("SELECT ARRAY[1.5, 'NaN']::float8[]")[1]):eq(1.5)
  mp.expect(value("SELECT ARRAY[1, 1.5]::numeric[]")):eq { 1, "1.5" }
  mp.expect(value("SELECT ARRAY['a', 'b']::varchar[]")):eq { "a", "b" }
  mp.expect(value("SELECT ARRAY['2024-01-02'::date]")):eq { "2024-01-02" }
  mp.expect(value([=[SELECT ARRAY['{"a":1}'::jsonb, '[1]'::jsonb]]=])):eq { { a = 1 }, { 1 } }
  mp.expect(value([=[SELECT ARRAY['\x0001'::bytea]]=])):eq { "\0\1" }
  mp.expect(value("SELECT ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid]"))
    :eq { "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" }
  mp.expect(value("SELECT '{}'::int[]")):eq {}
end)

mp.test("array elements: NULL, quoting and escapes", function()
  mp.expect(value("SELECT ARRAY[1, NULL, 3]")):eq { 1, mp.null, 3 }
  local texts = { "a,b", 'q"uote', "back\\slash", "", "NULL", "with space", "{brace}", "line\nbreak" }
  mp.expect(value("SELECT array_agg(v ORDER BY i) FROM jsonb_array_elements_text($1) "
    .. "WITH ORDINALITY AS e(v, i)", texts)):eq(texts)
  mp.expect(value("SELECT ARRAY[NULL::text, 'NULL']")):eq { mp.null, "NULL" }
  mp.expect(value("SELECT string_to_array('x,,y', ',')")):eq { "x", "", "y" }
end)

mp.test("multi-dimensional arrays nest; other lower bounds are read too", function()
  mp.expect(value("SELECT ARRAY[[1, 2], [3, 4]]")):eq { { 1, 2 }, { 3, 4 } }
  mp.expect(value("SELECT '[0:1]={7,8}'::int[]")):eq { 7, 8 }
end)

mp.test("parameters: integers, floats, booleans, strings, tables, nil in the middle", function()
  local row = db:one("SELECT $1::int8 AS i, $2::float8 AS f, $3::bool AS b, $4::text AS s, "
    .. "$5::text IS NULL AS n, $6::jsonb AS j", 5, 2.5, true, "s", nil, { 1, "two" })
  mp.expect(row):eq { i = 5, f = 2.5, b = true, s = "s", n = true, j = { 1, "two" } }
  mp.expect(value("SELECT $1::int + $2::int", 2, 3)):eq(5)
  mp.expect(value("SELECT $1::text", 1.0)):eq("1")
  mp.expect(value("SELECT $1::int", 3.0)):eq(3)
end)

mp.test("a parameter of a type no query can hold raises a usage error", function()
  local err = mp.expect(function() db:query("SELECT $1", print) end)
    :raises("query parameter $1 is a function")
  mp.expect(err.kind):eq("usage")
  mp.expect(db:scalar("SELECT 1")):eq(1)
end)
