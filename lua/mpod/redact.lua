-- mpod/redact.lua: keeping secrets out of everything mpod-lua reports.
--
-- redact(text) is the one scrubbing function, applied wherever output
-- leaves the engine: the events a scenario process sends (runtime.emit),
-- every argument of the reporter (runner/report calls redact_all, so nothing
-- reaches TAP, JUnit or the progress line without it), the runner's
-- messages on stderr (M.stderr), the rows of `mpod-lua status` and the
-- copies --dump-logs writes. docs/output.md#secrets lists what it hides:
--
--  * the value after a header name (Authorization, Cookie and the names
--    holding them, any case) and `:` or `=`: to the end of the line, or
--    the quoted string;
--  * the value after a name that says secret (one holding password,
--    passwd, secret, token or bearer, or a key of a kind in KEY_KINDS:
--    API_KEY, apikey, private-key; any case) and `:` or `=`: the quoted
--    string, or one word;
--  * a Bearer token of MIN_SECRET characters or more;
--  * the password of a URL of any scheme (scheme://user:password@host);
--  * every exact value registered with add_secret (MIN_SECRET bytes or
--    more), longest first.
--
-- Speed: it runs on every event. The text is lower-cased once, and each
-- rule looks for its trigger word with a plain find (memchr, memcmp), so
-- a text without one costs a few passes over its bytes. A rule matches
-- only where its word is, anchored there, and the search resumes after the
-- name it looked at: nothing backtracks over the text (a gsub pattern that
-- started with a character class tried every byte, and one with a leading
-- repetition was quadratic on long words).

local find, sub, lower = string.find, string.sub, string.lower

local M = {}

M.MIN_SECRET = 6            -- shorter values would hide too much by accident
local MASK = "***"

-- Values ------------------------------------------------------------------------

-- "..." at i: to the closing quote, or to the end of the line when there
-- is none (one anchored run: a search for the quote or the newline could
-- scan the rest of the text at every value)
local QUOTED = { ['"'] = '^[^"\n]*', ["'"] = "^[^'\n]*" }

local function quoted_span(text, i, quote)
  local _, last = find(text, QUOTED[quote], i + 1)
  if last > i then return i + 1, last end
end

local LINE_VALUE = "^[^\r\n\"']+"
local WORD_VALUE = "^[^%s\"'&,;)%]}<>]+"

-- value_span(text, i, to_line_end) -> first, last of the value at i
-- (inside its quotes), or nil when there is none to hide
local function value_span(text, i, to_line_end)
  local c = sub(text, i, i)
  if c == '"' or c == "'" then return quoted_span(text, i, c) end
  if c == "=" or c == ">" or c == "{" or c == "[" then return nil end
  local _, last = find(text, to_line_end and LINE_VALUE or WORD_VALUE, i)
  if last then return i, last end
end

-- value_after(text, p, to_line_end) -> first, last of the value after a
-- name ending before p: an optional closing quote or bracket, then `:` or
-- `=` between blanks
local function value_after(text, p, to_line_end)
  local _, sep = find(text, "^[\"']?%]?[ \t]*[:=][ \t]*", p)
  if not sep then return nil end
  return value_span(text, sep + 1, to_line_end)
end

-- Rules: at(text, hit, word_length) -> first, last to mask (or nil), and
-- the position to resume the search at ----------------------------------------

local function header_value(text, s, len)
  local first, last = value_after(text, s + len, true)
  return first, last, (last or s + len) + 1
end

-- The name runs on over letters, digits, _ and - (DB_PASSWORD_FILE), not
-- over dots: secrets_report.lua:12 is a file and a line, not a secret
local function named_value(text, s, len)
  local _, name_end = find(text, "^[%w_%-]*", s + len)
  local first, last = value_after(text, name_end + 1, false)
  return first, last, (last or name_end) + 1
end

local function bearer_token(text, s, len)
  local _, _, first, stop = find(text, "^[ \t]+()[%w%-._~+/]+=*()", s + len)
  if first and stop - first >= M.MIN_SECRET then return first, stop - 1, stop end
  return nil, nil, stop or s + len
end

local function url_password(text, s)
  local _, _, first, stop = find(text, "^://[^:/@%s\"'<>]*:()[^%s/\"'<>]*()@", s)
  if first and stop > first then return first, stop - 1, stop end
  return nil, nil, s + 3
end

-- "key" alone names map keys, primary keys, sort keys: only these kinds
-- of key are secrets (the word before it, with or without _ or -)
local KEY_KINDS = { api = true, access = true, private = true, signing = true,
                    encryption = true, master = true, auth = true, client = true,
                    session = true }

local function key_kind(low, s)
  local before = sub(low, s > 12 and s - 12 or 1, s - 1)
  return KEY_KINDS[before:match("(%a+)[_%-]?$")] == true
end

local function key_value(text, s, len, low)
  if not key_kind(low, s) then return nil, nil, s + len end
  return named_value(text, s, len)
end

local HEADER_WORDS = { "authorization", "cookie" }
local SECRET_WORDS = { "password", "passwd", "secret", "token", "bearer" }

local RULES = {}
for _, w in ipairs(HEADER_WORDS) do RULES[#RULES + 1] = { word = w, at = header_value } end
for _, w in ipairs(SECRET_WORDS) do RULES[#RULES + 1] = { word = w, at = named_value } end
RULES[#RULES + 1] = { word = "key", at = key_value }
RULES[#RULES + 1] = { word = "bearer", at = bearer_token }
RULES[#RULES + 1] = { word = "://", at = url_password }

-- apply(text, low, rule, s) -> text with the values the rule finds masked;
-- s is the first hit of its word in low (text lower-cased)
local function apply(text, low, rule, s)
  local out, n, copied = nil, 0, 1
  local word, at = rule.word, rule.at
  while s do
    local first, last, resume = at(text, s, #word, low)
    if first then
      out = out or {}
      out[n + 1], out[n + 2] = sub(text, copied, first - 1), MASK
      n, copied = n + 2, last + 1
    end
    s = find(low, word, resume, true)
  end
  if not out then return text end
  out[n + 1] = sub(text, copied)
  return table.concat(out)
end

-- Registered values -----------------------------------------------------------

local secrets = {}          -- value -> true
local by_length = {}        -- the values, longest first (nil: to sort again)

-- add_secret(value): hide this exact text in every report from now on
function M.add_secret(value)
  if type(value) == "string" and #value >= M.MIN_SECRET and not secrets[value] then
    secrets[value] = true
    by_length = nil
  end
end

local function sorted_secrets()
  if not by_length then
    by_length = {}
    for s in pairs(secrets) do by_length[#by_length + 1] = s end
    table.sort(by_length, function(a, b) return #a > #b end)
  end
  return by_length
end

local function mask_literal(text, secret, s)
  local out, n, copied = {}, 0, 1
  while s do
    out[n + 1], out[n + 2] = sub(text, copied, s - 1), MASK
    n, copied = n + 2, s + #secret
    s = find(text, secret, copied, true)
  end
  out[n + 1] = sub(text, copied)
  return table.concat(out)
end

-- The function ------------------------------------------------------------------

-- redact(text) -> text with secrets replaced by ***; other values as given
function M.redact(text)
  if type(text) ~= "string" then return text end
  local low = lower(text)
  for _, rule in ipairs(RULES) do
    local s = find(low, rule.word, 1, true)
    if s then
      local masked = apply(text, low, rule, s)
      if masked ~= text then text, low = masked, lower(masked) end
    end
  end
  for _, secret in ipairs(sorted_secrets()) do
    local s = find(text, secret, 1, true)
    if s then text = mask_literal(text, secret, s) end
  end
  return text
end

-- secret_name(name) -> true when a key or variable named so holds a
-- secret: it contains a header or secret word above, or a key of a kind
-- in KEY_KINDS, in any case
function M.secret_name(name)
  if type(name) ~= "string" then return false end
  local low = lower(name)
  for _, words in ipairs { HEADER_WORDS, SECRET_WORDS } do
    for _, w in ipairs(words) do
      if find(low, w, 1, true) then return true end
    end
  end
  local s = find(low, "key", 1, true)
  while s do
    if key_kind(low, s) then return true end
    s = find(low, "key", s + 3, true)
  end
  return false
end

-- secret_key(key) -> true when a table key ends with a header or secret
-- word (password, db_password, API_KEY, x-auth-token): stricter than
-- secret_name, since tables are keyed by pod names too (token-service)
local function secret_key(key)
  if type(key) ~= "string" then return false end
  local low = lower(key)
  for _, words in ipairs { HEADER_WORDS, SECRET_WORDS } do
    for _, w in ipairs(words) do
      if sub(low, -#w) == w then return true end
    end
  end
  return sub(low, -3) == "key" and key_kind(low, #low - 2)
end

-- redact_all(value) -> a copy with every string redacted and the string or
-- number under a secret key replaced (tables deeply, read raw: no
-- metamethod of a scenario's table runs)
function M.redact_all(value, depth)
  depth = depth or 0
  if type(value) == "string" then return M.redact(value) end
  if type(value) ~= "table" or depth > 8 then return value end
  local out = {}
  for k, v in next, value do
    local tv = type(v)
    if (tv == "string" or tv == "number") and secret_key(k) then
      out[k] = MASK
    else
      out[k] = M.redact_all(v, depth + 1)
    end
  end
  local mt = getmetatable(value)   -- a __metatable field may stand in for it
  return type(mt) == "table" and setmetatable(out, mt) or out
end

-- stderr(text): write text to stderr, redacted; the runner's messages go
-- this way
function M.stderr(text)
  io.stderr:write(M.redact(text))
end

-- The cluster file's secrets --------------------------------------------------

-- A secret that equals a name reports show anyway (the cluster's, a
-- service's, the postgres DSN's user or database: postgres:postgres@
-- .../postgres) is not hidden as a bare word: it would turn every such name
-- into ***, and the name gives it away. Where it stands as a password
-- (user:password@, password=) the rules hide it all the same.
local function public_names(c, dsn_user, dsn_db)
  local names = { [c.name or ""] = true }
  if dsn_user then names[dsn_user] = true end
  if dsn_db then names[dsn_db] = true end
  for _, svc in ipairs(c.services or {}) do
    if type(svc.name) == "string" then names[svc.name] = true end
  end
  return names
end

local function add_hidden(value, public)
  if type(value) == "string" and not public[value] then M.add_secret(value) end
end

-- A URL's password, unless it equals the URL's user or database name
local function add_url_password(value, public)
  if type(value) ~= "string" then return end
  local user, password, rest = value:match("://([^:/@%s]*):([^%s/\"'<>]*)@(%S*)")
  if not password then return end
  local db = rest:match("^[^/]*/([^?/#]+)")
  if password ~= user and password ~= db then add_hidden(password, public) end
end

-- The values of a map (env, headers) whose name says secret, and the
-- credential of one that reads "<scheme> <credential>" (Basic x, Bearer x)
local function add_named(map, public)
  for name, value in pairs(map or {}) do
    if M.secret_name(name) and type(value) == "string" then
      add_hidden(value, public)
      add_hidden(value:match("^%a+[ \t]+(%S+)$"), public)
    end
    add_url_password(value, public)
  end
end

-- dsn_parts(dsn) -> password, user, dbname, as libpq reads the DSN
local function dsn_parts(dsn)
  if type(dsn) ~= "string" then return nil end
  local password, _, user, dbname = require("mpod.pg.core").dsn_password(dsn)
  return password, user, dbname
end

-- add_cluster_secrets(c): register what the loaded cluster file c sets as
-- secret: the password of its `postgres` DSN, the values of `env`
-- variables and `http.headers` whose name says secret, and the password of
-- every URL among those values and the services' urls
function M.add_cluster_secrets(c)
  local password, user, dbname = dsn_parts(c.postgres)
  local public = public_names(c, user, dbname)
  add_hidden(password, public)
  add_url_password(c.postgres, public)
  add_named(type(c.http) == "table" and c.http.headers or nil, public)
  for _, svc in ipairs(c.services or {}) do
    add_named(svc.env, public)
    add_url_password(svc.url, public)
  end
end

return M
