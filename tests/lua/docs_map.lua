-- docs_map.lua: docs/architecture.md's map of the tree and its two walks
-- stay true. The map (the first ```text block after "## The tree") is one
-- entry a line, indented two spaces a level, a folder ending in "/", then
-- what it is; lines starting with "#" name a group. Every path it names
-- must exist, and every entry of the folders it covers (the top level,
-- lua/, lua/mpod/ and its folders, tests/, and src/*.c) must be in it, as
-- `ls` shows them now. The walks of a pod request and a pod kill name
-- files and functions: each file must exist and each name must occur in
-- the engine's sources, so a rename shows up here.

local mp = require "mpod"
local sys = require "mpod.sys"

local PAGE = "docs/architecture.md"

-- The folders whose every entry the map must list (glob patterns).
local COVERED = { "*", "lua/*", "lua/mpod/*", "lua/mpod/runner/*",
                  "lua/mpod/runner/backend/*", "lua/mpod/scenario/*", "tests/*",
                  "src/*.c" }

local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

-- map_block(page) -> the map's text and the page line it starts on, or
-- nil and why
local function map_block(page)
  local heading = page:find("\n## The tree\n", 1, true)
  if not heading then return nil, "no '## The tree' section" end
  local open, body = page:find("\n```text\n", heading, true)
  if not open then return nil, "no ```text block after '## The tree'" end
  local close = page:find("\n```\n", body, true)
  if not close then return nil, "the map's block is not closed" end
  local _, newlines = page:sub(1, body):gsub("\n", "")
  return page:sub(body + 1, close), newlines + 1
end

-- parse(block, first_line) -> entries {path = {line=, dir=}}, problems
local function parse(block, first_line)
  local entries, problems, stack = {}, {}, {}
  local n = first_line - 1
  for line in block:gmatch("([^\n]*)\n") do
    n = n + 1
    local indent, rest = line:match("^( *)(.*)$")
    if rest ~= "" and rest:sub(1, 1) ~= "#" then
      local name = rest:match("^(%S+)%s%s+%S")
      local level = #indent // 2
      if not name then
        problems[#problems + 1] = string.format("line %d: no description: %s", n, rest)
      elseif #indent % 2 ~= 0 or level > #stack then
        problems[#problems + 1] = string.format("line %d: indented %d spaces under %s",
          n, #indent, stack[#stack] or "the top")
      else
        for i = #stack, level + 1, -1 do stack[i] = nil end
        local dir = name:sub(-1) == "/"
        local path = table.concat(stack) .. name
        if dir then path = path:sub(1, -2) end
        if entries[path] then
          problems[#problems + 1] = string.format("line %d: %s listed twice", n, path)
        end
        entries[path] = { line = n, dir = dir }
        if dir then stack[level + 1] = name end
      end
    end
  end
  return entries, problems
end

-- check_map(page, listing) -> problems: entries that do not exist,
-- entries of the covered folders the map lacks. listing(pattern) -> paths
local function check_map(page, listing, stat)
  local block, first_line = map_block(page)
  if not block then return { block = first_line } end
  local entries, problems = parse(block, first_line)
  for path, e in pairs(entries) do
    local st = stat(path)
    if not st then
      problems[#problems + 1] = string.format("line %d: %s does not exist", e.line, path)
    elseif (st.type == "directory") ~= e.dir then
      problems[#problems + 1] = string.format("line %d: %s is a %s, written as a %s", e.line,
        path, st.type, e.dir and "folder" or "file")
    end
  end
  for _, pattern in ipairs(COVERED) do
    for _, path in ipairs(listing(pattern)) do
      if not entries[path] then
        problems[#problems + 1] = string.format("%s (from ls %s) is not in the map", path, pattern)
      end
    end
  end
  table.sort(problems)
  return problems
end

local function real_stat(path) return sys.stat(path) end

-- ignored(path) -> whether .gitignore leaves the path out of the tree (the
-- build folders): `ls` of a fresh checkout is what the map shows
local IGNORED = {}
for line in read(".gitignore"):gmatch("[^\n]+") do
  local anchored = line:sub(1, 1) == "/"
  local glob = line:gsub("^/", ""):gsub("/$", "")
  local pattern = glob:gsub("[%^%$%(%)%%%.%[%]%+%-%?]", "%%%0"):gsub("%*", "[^/]*")
  IGNORED[#IGNORED + 1] = { pattern = "^" .. pattern .. "$", anchored = anchored }
end

local function ignored(path)
  for _, rule in ipairs(IGNORED) do
    if path:match(rule.pattern) or (not rule.anchored and path:match("[^/]*$"):match(rule.pattern)) then
      return true
    end
  end
  return false
end

-- tree(pattern) -> the paths of the checkout matching pattern
local function tree(pattern)
  local paths = {}
  for _, path in ipairs(sys.glob(pattern)) do
    if not ignored(path) then paths[#paths + 1] = path end
  end
  return paths
end

-- section(page, heading) -> the text of the "## heading..." section
local function section(page, heading)
  local start = page:find("\n## " .. heading, 1, true)
  if not start then return nil end
  local stop = page:find("\n## ", start + 1, true) or #page
  return page:sub(start, stop)
end

-- The engine's sources, and the public API's annotations, as one text.
local function sources()
  local parts = {}
  for _, pattern in ipairs { "lua/mpod/*.lua", "lua/mpod/*/*.lua", "lua/mpod/*/*/*.lua",
                             "src/*.c", "src/*.h", "docs/mpod.meta.lua" } do
    for _, path in ipairs(sys.glob(pattern)) do parts[#parts + 1] = read(path) end
  end
  return table.concat(parts, "\n")
end

local function escape(s) return (s:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0")) end

-- walk_problems(text, corpus) -> files a walk names that do not exist, and
-- code names (`name`, `a.b`, `A:b`, with or without a call after) that
-- occur nowhere in the sources
local function walk_problems(text, corpus)
  local problems = {}
  for code in text:gmatch("`([^`\n]+)`") do
    if code:match("^[%w_/%.%-]+%.[ch]$") or code:match("^[%w_/%.%-]+%.lua$") then
      local found = false
      for _, prefix in ipairs { "", "lua/mpod/", "src/" } do
        if sys.stat(prefix .. code) then found = true end
      end
      if not found then problems[#problems + 1] = "no file " .. code end
    else
      local name = code:gsub("%b()$", "")
      if name:match("^[%a_][%w_]*$") or name:match("^[%a_][%w_]*[.:][%a_][%w_]*$") then
        if not corpus:find("%f[%w_]" .. escape(name) .. "%f[^%w_]") then
          problems[#problems + 1] = "no " .. name .. " in the sources"
        end
      end
    end
  end
  return problems
end

local page = read(PAGE)

mp.test("the map opens the page and is one entry a line, each saying what it is", function()
  local first_heading = page:match("\n(## [^\n]*)")
  mp.expect(first_heading):eq("## The tree")
  local block, first_line = map_block(page)
  if not block then mp.fail(first_line) end
  local entries, problems = parse(block, first_line)
  if #problems > 0 then mp.fail(table.concat(problems, "\n")) end
  mp.expect(entries["lua/mpod/runner"]):matches { dir = true }
  mp.expect(entries["src/task.c"]):matches { dir = false }
end)

mp.test("the map and ls agree: every path exists, every entry is listed", function()
  local problems = check_map(page, tree, real_stat)
  if #problems > 0 then mp.fail(PAGE .. ":\n" .. table.concat(problems, "\n")) end
end)

mp.test("a stale or missing map entry is caught", function()
  local function listing(pattern)
    local paths = tree(pattern)
    if pattern == "lua/mpod/scenario/*" then paths[#paths + 1] = "lua/mpod/scenario/new.lua" end
    return paths
  end
  local function stat(path)
    if path == "lua/mpod/scenario/new.lua" then return { type = "file" } end
    return sys.stat(path)
  end
  local doctored = page:gsub("\n      sync%.lua [^\n]*\n",
    "\n      sync.lua            x\n      gone.lua            a module that was removed\n", 1)
  mp.expect(doctored):ne(page)
  local gone_line = select(2, doctored:sub(1, doctored:find("gone.lua", 1, true)):gsub("\n", "")) + 1
  mp.expect(check_map(doctored, listing, stat)):eq {
    string.format("line %d: lua/mpod/scenario/gone.lua does not exist", gone_line),
    "lua/mpod/scenario/new.lua (from ls lua/mpod/scenario/*) is not in the map",
  }
  local dedented = page:gsub("\n    runner/ ", "\n     runner/ ", 1)
  mp.expect(table.concat(check_map(dedented, tree, real_stat), "\n")):contains("indented 5 spaces")
end)

mp.test("the walks of a pod request and a pod kill name real files and functions", function()
  local corpus = sources()
  for _, heading in ipairs { "One pod request", "One pod kill" } do
    local text = section(page, heading)
    if not text then mp.fail("no '## " .. heading .. "' section in " .. PAGE) end
    local problems = walk_problems(text, corpus)
    if #problems > 0 then mp.fail(heading .. ":\n" .. table.concat(problems, "\n")) end
  end
  mp.expect(walk_problems("`Pod:gett` in `scenario/clusters.lua`, `l_request`", corpus)):eq {
    "no Pod:gett in the sources", "no file scenario/clusters.lua" }
end)
