-- mpod/report_files.lua: what both halves of --report DIR agree on (the
-- runner writes the index and assets, each scenario process its file's
-- data and page): the data format's name, a file's slug and HTML escaping.

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

-- html(text) -> text with &, <, >, " escaped
function M.html(text)
  return (tostring(text):gsub('[&<>"]', { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
                                          ['"'] = "&quot;" }))
end

return M
