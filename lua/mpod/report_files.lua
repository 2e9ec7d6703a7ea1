-- mpod/report_files.lua: what both halves of --report DIR agree on (the
-- runner writes the index and assets, each scenario process its file's
-- data and page; the runner a file's own when its process could not):
-- the data format's name, a file's slug, HTML escaping, and writing a
-- file's data and page.

local M = {}

M.FORMAT = "mpod-report/1"

-- slug(path) -> the file's name in the report: the path without a leading
-- "./" and its ".lua", "/" as "__", and any byte but letters, digits,
-- ".", "_" and "-" as "_" (scenarios/chaos-meshd.lua -> scenarios__chaos-meshd)
function M.slug(path)
  local s = tostring(path):gsub("^%./", ""):gsub("%.lua$", "")
  s = s:gsub("/", "__"):gsub("[^%w._-]", "_")
  return s
end

-- unique(taken, base) -> base, or base-2, base-3... the first that is not
-- a key of `taken` (which it then becomes): a file given twice in a run
-- gets names of its own (report pages, history files)
function M.unique(taken, base)
  local name, n = base, 1
  while taken[name] do
    n = n + 1
    name = base .. "-" .. n
  end
  taken[name] = true
  return name
end

-- html(text) -> text with &, <, >, " escaped
function M.html(text)
  return (tostring(text):gsub('[&<>"]', { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
                                          ['"'] = "&quot;" }))
end

local PAGE = [[<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%s - mpod-lua report</title>
<link rel="stylesheet" href="../assets/report.css">
</head><body class="file-page" data-slug="%s">
<header class="top"><a href="../index.html">&larr; all files</a> <h1>%s</h1></header>
<main id="app"><noscript>The timeline needs JavaScript; the data is in ../data/%s.json.</noscript></main>
<script src="../data/%s.js"></script>
<script src="../assets/report.js"></script>
</body></html>
]]

local function write_file(path, ...)
  local f, err = io.open(path, "wb")
  if not f then return nil, err end
  local ok, werr = f:write(...)
  local closed, cerr = f:close()
  if not ok or not closed then return nil, werr or cerr end
  return true
end

-- write_file_data(dir, slug, file, text) -> bytes written | nil, error:
-- a file's data (text: its JSON, redacted) as DIR/data/<slug>.json and
-- .js (the same object assigned to a global, so a page opened from
-- file:// loads it with a <script> tag: browsers refuse fetch() there),
-- and its page DIR/files/<slug>.html
function M.write_file_data(dir, slug, file, text)
  local json = require "mpod.json"
  local ok, err = write_file(dir .. "/data/" .. slug .. ".json", text, "\n")
  if ok then
    ok, err = write_file(dir .. "/data/" .. slug .. ".js", "(window.MPOD_REPORT = window.MPOD_REPORT || {})[",
      json.encode(slug), "] = ", text, ";\n")
  end
  local name, html_slug = M.html(file), M.html(slug)
  local page = string.format(PAGE, name, html_slug, name, html_slug, html_slug)
  if ok then ok, err = write_file(dir .. "/files/" .. slug .. ".html", page) end
  if not ok then return nil, err end
  return 2 * #text + #page
end

return M
