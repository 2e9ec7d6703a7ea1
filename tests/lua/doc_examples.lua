-- doc_examples.lua: every complete example of docs/*.md and README.md
-- runs, and does what its page says.
--
-- A ```lua block is a complete example when its first line that is not
-- blank or a comment is `local mp = require "mpod"` (a comment may end
-- it): a whole scenario file. The line before the fence may say more, in an HTML comment that
-- the rendered page does not show:
--
--   <!-- example: file=PATH exit=N cluster=PATH -->
--
-- file: where the page saves the block (other blocks may refer to it); a
-- block with file= that is not complete (a cluster file) is only written.
-- exit: its run's exit status (default 0: every test passes). cluster: a
-- file of the page that the run brings up with --up. A complete example
-- without cluster= that calls mp.cluster() or requires "meshd" runs
-- against the reference cluster (compose/local.lua, process backend,
-- without Toxiproxy; ports chosen by mpod-lua), brought up once for all of
-- them; `require "meshd"` finds scenarios/lib through LUA_PATH, as
-- docs/reference-cluster.md says a scenario outside scenarios/ does. The
-- others run without a cluster. `/path/to/mpod-lua` in a page stands for
-- the checkout, and its build/ for the build under test ($BUILD: the
-- sanitizer and valgrind builds have their own folders). When the page shows a transcript of the example (a block
-- with `# Subtest: PATH`), its test points must be the run's.

local mp = require "mpod"
local st = require "selftest"
local sys = require "mpod.sys"

local BUILD = os.getenv("BUILD") or "build"
local ROOT = sys.realpath(".")
local MPOD = st.MPOD:sub(1, 1) == "/" and st.MPOD or ROOT .. "/" .. st.MPOD
local PAGES = sys.glob("docs/*.md")
PAGES[#PAGES + 1] = "README.md"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("a")
  f:close()
  return text
end

local function write(path, text)
  assert(sys.mkdir_p(path:match("^(.*)/[^/]*$")))
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- complete(code) -> true when the first line that is not blank or a
-- comment is `local mp = require "mpod"`, maybe with a comment after it
local function complete(code)
  for line in (code .. "\n"):gmatch("([^\n]*)\n") do
    if not line:match("^%s*$") and not line:match("^%s*%-%-") then
      return line == 'local mp = require "mpod"' or line:find('^local mp = require "mpod"%s+%-%-') ~= nil
    end
  end
  return false
end

-- blocks(page) -> the page's ```lua blocks, in order: {code=, attrs=,
-- line=}; a fence may be indented (a block inside a list item)
local function blocks(page)
  local list, lines, i = {}, {}, 1
  for line in (read(page) .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  while i <= #lines do
    local indent = lines[i]:match("^(%s*)```lua%s*$")
    if indent then
      local attrs = {}
      for k, v in (lines[i - 1] or ""):match("^%s*<!%-%- example: (.-) %-%->%s*$") and
          lines[i - 1]:gmatch("(%w+)=(%S+)") or function() end do
        attrs[k] = v
      end
      local code, j = {}, i + 1
      while lines[j] and not lines[j]:match("^%s*```%s*$") do
        code[#code + 1] = lines[j]:sub(#indent + 1)
        j = j + 1
      end
      list[#list + 1] = { code = table.concat(code, "\n") .. "\n", attrs = attrs, line = i }
      i = j
    end
    i = i + 1
  end
  return list
end

-- transcript_points(page, file) -> the test points ("ok 1 - name", ...)
-- of the transcript the page shows for file, or nil
local function transcript_points(page, file)
  for block in read(page):gmatch("\n```\n(.-)\n```") do
    if block:find("# Subtest: " .. file .. "\n", 1, true) then
      local points = {}
      for point in block:gmatch("\n%s*(n?o?t? ?ok %d+ %- [^\n]*)") do
        if not point:find(" - " .. file, 1, true) then points[#points + 1] = point end
      end
      return points
    end
  end
end

local function run_points(tap)
  local points = {}
  for point in tap:gmatch("\n    (n?o?t? ?ok %d+ %- [^\n]*)") do points[#points + 1] = point end
  return points
end

-- The examples, gathered once: {page=, line=, dir=, file=, exit=,
-- cluster=, meshd=}, their files written under a folder per page; an
-- example that needs no cluster gets a folder of its own (dir), where no
-- ./cluster.lua of its page is found.
local work, examples, reference_up
local state = {}

local function gather()
  for _, page in ipairs(PAGES) do
    local dir = string.format("%s/%s", work, page:gsub("[/.]", "_"))
    for n, b in ipairs(blocks(page)) do
      local build_dir = BUILD:sub(1, 1) == "/" and BUILD or ROOT .. "/" .. BUILD
      local code = b.code:gsub("/path/to/mpod%-lua/build/", function() return build_dir .. "/" end)
        :gsub("/path/to/mpod%-lua", function() return ROOT end)
      local is_complete = complete(code)
      local ex = {
        page = page, line = b.line, dir = dir, file = b.attrs.file or ("example-" .. n .. ".lua"),
        exit = tonumber(b.attrs.exit or "0"), cluster = b.attrs.cluster,
        meshd = not b.attrs.cluster and (code:find("mp.cluster()", 1, true) ~= nil
          or code:find('require "meshd"', 1, true) ~= nil),
      }
      if is_complete and not ex.cluster and not ex.meshd then ex.dir = dir .. "/alone-" .. n end
      if is_complete or b.attrs.file then write(ex.dir .. "/" .. ex.file, code) end
      if is_complete then examples[#examples + 1] = ex end
    end
  end
end

-- mpod(args, env, cwd) -> the result of mpod-lua with args, in a
-- private state folder, without the variables that would change which
-- cluster a command means (the reference cluster chooses its ports)
local function mpod(args, env, cwd)
  local argv = { "env", "-u", "MESHD_PORT_OFFSET", "-u", "MPOD_NAME", MPOD }
  table.move(args, 1, #args, #argv + 1, argv)
  return mp.exec(argv, { env = env, cwd = cwd, timeout = st.slow(120) })
end

-- The reference cluster: env for mpod-lua runs against it.
local function reference_env()
  return { MPOD_STATE_DIR = state.dir, MESHD_TOXIPROXY = "off",
           BUILD = BUILD, LUA_PATH = ROOT .. "/scenarios/lib/?.lua;;", MPOD_CLUSTER = "" }
end

work = assert(sys.mkdtemp("mpod-doc-examples"))
state.dir = work .. "/state"
examples = {}
gather()
for _, ex in ipairs(examples) do
  if ex.meshd then reference_up = true end
end

mp.before_all(function()
  if not reference_up then return end
  local made = mp.exec({ "make", "-s", "--no-print-directory", "BUILD=" .. BUILD, BUILD .. "/meshd" },
    { timeout = st.slow(300) })
  if not made.ok then mp.fail("make " .. BUILD .. "/meshd failed:\n" .. made.stdout .. made.stderr) end
  local up = mpod({ "up", "-C", ROOT .. "/compose/local.lua" }, reference_env())
  if up.code ~= 0 then mp.fail("the reference cluster did not come up:\n" .. up.stdout .. up.stderr) end
end)

mp.after_all(function()
  if reference_up then
    mpod({ "down", "-C", ROOT .. "/compose/local.lua" }, reference_env())
  end
  if work then sys.rmtree(work) end
end)

-- run_example(ex) -> mpod-lua's result for the example
local function run_example(ex)
  local argv = { "--seed", "1" }
  local env = { MPOD_STATE_DIR = state.dir, BUILD = BUILD, MPOD_CLUSTER = "" }
  if ex.cluster then
    table.move({ "--up", "-C", ex.cluster }, 1, 3, #argv + 1, argv)
  elseif ex.meshd then
    env = reference_env()
    table.move({ "-C", ROOT .. "/compose/local.lua" }, 1, 2, #argv + 1, argv)
  end
  argv[#argv + 1] = ex.file
  return mpod(argv, env, ex.dir)
end

mp.test("the pages hold complete examples, and each says what it needs", function()
  mp.expect(#examples):ge(10)
  local pages, with_cluster = {}, 0
  for _, ex in ipairs(examples) do
    pages[ex.page] = true
    if ex.meshd then with_cluster = with_cluster + 1 end
  end
  for _, page in ipairs { "docs/http.md", "docs/postgres.md", "docs/api.md",
                          "docs/getting-started.md", "docs/reference-cluster.md", "README.md" } do
    if not pages[page] then mp.fail(page .. " has no complete example") end
  end
  mp.expect(with_cluster):ge(4)
end)

-- check(ex): the example's run exits as the page says, with the test
-- points of the page's transcript when it shows one
local function check(ex)
  local r = run_example(ex)
  if r.code ~= ex.exit then
    mp.fail(string.format("exit %s, expected %d\n%s%s", tostring(r.code or r.signal), ex.exit,
      r.stdout, r.stderr))
  end
  local shown = transcript_points(ex.page, ex.file)
  if shown then mp.expect(run_points(r.stdout)):eq(shown) end
end

for _, ex in ipairs(examples) do
  mp.test(string.format("%s:%d %s%s", ex.page, ex.line, ex.file,
    ex.meshd and " (reference cluster)" or ex.cluster and " (--up -C " .. ex.cluster .. ")" or ""),
    function() check(ex) end, { timeout = st.slow(120) })
end
