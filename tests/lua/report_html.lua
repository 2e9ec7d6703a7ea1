-- report_html.lua: --report DIR, looked at in a real browser.
--
-- A real failing scenario (tests/cases/report_timeline.lua) runs against
-- the process-backend fixture cluster (tests/clusters/procs.lua) with a
-- pause, a stop and start, and a kill; its report is loaded from file://
-- in Debian's chromium, headless, with --virtual-time-budget so the page's
-- script runs, and --dump-dom gives the DOM as the script left it. The
-- test checks that DOM (a lane per pod, the kill marker before the failed
-- assertion's marker, the paused interval, a tooltip's text) and takes a
-- screenshot, decoded here (python3's zlib) and checked not to be blank.
-- MPOD_REPORT_IMAGE=1 copies the screenshot to docs/images/report.png:
-- that is how the documentation's image is made.
--
-- Also: the JSON data of a small deterministic file against
-- tests/golden/report_data.json (times normalised; MPOD_GOLDEN_UPDATE=1
-- rewrites it), the summary page, the timeline of a file killed by its
-- timeout (from its history file), and a folder that cannot be made.

local mp = require "mpod"
local json = require "mpod.json"
local procs = require "procs"
local st = require "selftest"
local sys = require "mpod.sys"

mp.exclusive()

local GOLDEN = "tests/golden/report_data.json"
local UPDATE = os.getenv("MPOD_GOLDEN_UPDATE") == "1"
local CHROMIUM_BUDGET = 5000      -- ms of virtual time for the page's script

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return text
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local tmp
mp.before_all(function() tmp = assert(sys.mkdtemp("mpod-report")) end)
mp.after_all(function() sys.rmtree(tmp) end)

-- Chromium --------------------------------------------------------------------

local function chromium_path()
  for _, name in ipairs { "chromium", "chromium-browser" } do
    local r = mp.exec { "/bin/sh", "-c", "command -v " .. name }
    if r.code == 0 then return (r.stdout:gsub("%s+$", "")) end
  end
  mp.fail("chromium is not installed: `make deps-dev` installs it (vendor/debian-packages.txt)")
end

-- chromium(url, extra args) -> stdout; headless, no sandbox (CI runs as
-- root), its profile in the test's folder
local function chromium(url, args)
  local argv = { chromium_path(), "--headless", "--no-sandbox", "--disable-gpu",
    "--no-first-run", "--disable-extensions", "--user-data-dir=" .. tmp .. "/profile",
    "--window-size=1400,900", "--virtual-time-budget=" .. CHROMIUM_BUDGET }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  argv[#argv + 1] = url
  local r = mp.exec(argv, { timeout = st.slow(60), env = { HOME = tmp } })
  if r.code ~= 0 then mp.fail("chromium failed (" .. tostring(r.code) .. "):\n" .. r.stderr) end
  return r.stdout
end

-- The DOM ----------------------------------------------------------------------

-- elements(dom, class) -> the start tags of the elements whose class
-- attribute holds the word class, each as {tag=, class=, attrs={...}}
local function elements(dom, class)
  local found = {}
  for tag, rest in dom:gmatch("<(%w+)(%s[^>]*)>") do
    local classes = rest:match('%sclass="([^"]*)"')
    if classes and (" " .. classes .. " "):find(" " .. class .. " ", 1, true) then
      local attrs = {}
      for k, v in rest:gmatch('%s([%w-]+)="([^"]*)"') do attrs[k] = v end
      found[#found + 1] = { tag = tag, class = classes, attrs = attrs }
    end
  end
  return found
end

local function unescape(text)
  return (text:gsub("&lt;", "<"):gsub("&gt;", ">"):gsub("&quot;", '"'):gsub("&#10;", "\n"):gsub("&amp;", "&"))
end

local function px(e)
  return tonumber((e.attrs.style or ""):match("left:%s*(%-?[%d.]+)px"))
end

-- The screenshot ------------------------------------------------------------------

-- png_colours(path) -> width, height, distinct colours of the PNG (8-bit
-- RGB or RGBA, as chromium writes them), decoded by python3's zlib
local PNG_COLOURS = [[
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w, h, ctype = 8, b"", 0, 0, 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and ctype in (2, 6), "unexpected PNG format"
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
bpp = 3 if ctype == 2 else 4
raw, stride = zlib.decompress(idat), w * bpp
prev, rows, i = bytearray(stride), [], 0
for y in range(h):
    f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
    i += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b, c = prev[x], prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    rows.append(bytes(line))
    prev = line
colours = set()
for line in rows[::3]:
    for x in range(0, stride, bpp * 3):
        colours.add(line[x:x + 3])
print(w, h, len(colours))
]]

local function png_colours(path)
  write(tmp .. "/png.py", PNG_COLOURS)
  local r = mp.exec({ "python3", tmp .. "/png.py", path }, { timeout = st.slow(60) })
  if r.code ~= 0 then mp.fail("cannot decode " .. path .. ": " .. r.stderr) end
  local w, h, n = r.stdout:match("(%d+) (%d+) (%d+)")
  return tonumber(w), tonumber(h), tonumber(n)
end

-- The tests ---------------------------------------------------------------------

mp.test("a real failing scenario's timeline, rendered by chromium", function()
  local dir = tmp .. "/real"
  local e = procs.env()
  local r = st.run({ "--up", "-C", "tests/clusters/procs.lua", "--seed", "1", "--report", dir,
                     st.case("report_timeline") }, { env = e, timeout = 120 })
  st.expect_code(r, 1)
  mp.expect(r.stderr):matches("mpod%-lua: report written to " .. dir:gsub("%p", "%%%0") ..
    "/index%.html %([%d.]+ %a?i?B, [%d.]+ s to write%)")
  local page = "file://" .. sys.realpath(dir) .. "/files/tests__cases__report_timeline.html"
  local dom = chromium(page, { "--dump-dom" })
  mp.expect(dom):contains('data-ready="1"')                 -- the script ran to its end

  -- a lane per pod, one-shot services left out
  local lanes = {}
  for _, l in ipairs(elements(dom, "lane")) do lanes[l.attrs["data-lane"]] = l.attrs["data-kind"] end
  mp.expect(lanes):eq { ["#tests"] = "tests", a = "pod", b = "pod", worker = "pod" }

  -- the kill marker on a's lane comes before the failed assertion's marker
  local kill
  for _, m in ipairs(elements(dom, "marker")) do
    if m.attrs["data-kind"] == "kill" and m.attrs["data-lane"] == "a" then kill = m end
  end
  mp.expect(kill):truthy()
  local failed = elements(dom, "assert")
  mp.expect(#failed):eq(1)
  local assert_marker = failed[1]
  mp.expect(assert_marker.attrs["data-test"]):eq("traffic, a pause, a restart, a kill, then a failed assertion")
  mp.expect(tonumber(kill.attrs["data-t"])):lt(tonumber(assert_marker.attrs["data-t"]))
  mp.expect(px(kill)):lt(px(assert_marker))
  mp.expect(assert_marker.attrs.href):eq("#diag-0")
  mp.expect(dom):contains('id="diag-0"')

  -- the paused interval of b, and b's dead time between its stop and start
  local kinds = {}
  for _, f in ipairs(elements(dom, "fault")) do kinds[f.attrs["data-kind"] .. "@" .. f.attrs["data-lane"]] = f end
  mp.expect(kinds["paused@b"]):truthy()
  mp.expect(kinds["dead@b"]):truthy()
  mp.expect(kinds["dead@a"]):truthy()
  local paused = kinds["paused@b"]
  mp.expect(tonumber(paused.attrs["data-t1"])):gt(tonumber(paused.attrs["data-t"]))
  mp.expect(tonumber(paused.attrs["data-t1"])):lt(tonumber(kill.attrs["data-t"]))

  -- tooltips are DOM text: the kill's, and a log line of b's
  mp.expect(unescape(kill.attrs["data-tip"])):matches("^pod%.kill a at %d+%.%d+ s")
  local log_tips = {}
  for _, l in ipairs(elements(dom, "logtick")) do log_tips[#log_tips + 1] = unescape(l.attrs["data-tip"]) end
  mp.expect(table.concat(log_tips, "\n")):contains("b-" .. e.TAG)

  -- requests of few ops are DOM boxes with their outcome
  local outcomes = {}
  for _, o in ipairs(elements(dom, "op-box")) do outcomes[o.attrs["data-cls"]] = true end
  mp.expect(outcomes.s2):truthy()                           -- podsvc answers 200
  mp.expect(outcomes["e-connect"] or outcomes["e-other"] or outcomes["e-reset"]):truthy()

  -- deep links: an operation (the kill) opens its details, a test and a
  -- time range set the view (the page keeps its state on <body>)
  local linked = chromium(page .. "#op=" .. kill.attrs["data-op"], { "--dump-dom" })
  mp.expect(unescape(linked:match('id="details"[^>]*><h2>details</h2><pre>([^<]*)') or "")):matches("^pod%.kill")
  linked = chromium(page .. "#t=0.5-1.25", { "--dump-dom" })
  mp.expect(linked):contains('data-view="0.500-1.250"')
  local test_name = assert_marker.attrs["data-test"]
  linked = chromium(page .. "#test=" .. test_name:gsub("[^%w]", function(c) return string.format("%%%02X", c:byte()) end),
    { "--dump-dom" })
  mp.expect(linked):contains('data-test="' .. test_name .. '"')

  -- the screenshot is not blank: a PNG of the window with many colours
  local shot = tmp .. "/report.png"
  chromium(page, { "--screenshot=" .. shot, "--hide-scrollbars" })
  local w, h, colours = png_colours(shot)
  mp.expect(w):eq(1400)
  mp.expect(h):eq(900)
  mp.expect(colours):gt(20)
  if os.getenv("MPOD_REPORT_IMAGE") == "1" then
    local data = read(shot)
    assert(sys.mkdir_p("docs/images"))
    write("docs/images/report.png", data)
    mp.note("wrote docs/images/report.png (" .. #data .. " bytes)")
  end

  -- the summary page lists the file and its failed test with its message
  local index = chromium("file://" .. sys.realpath(dir) .. "/index.html", { "--dump-dom" })
  mp.expect(index):contains("files/tests__cases__report_timeline.html")
  mp.expect(index):contains('class="test fail"><td class="status">fail</td><td class="name">traffic, a pause')
  mp.expect(index):contains("expected values to be equal")
end)

-- normalise(data) -> data with what varies from run to run replaced:
-- times, the start's date, the time offsets of timeline rows, the
-- history's counters
local TIME_KEYS = { time = true, start = true, ["end"] = true, failed_at = true,
                    duration = true, elapsed = true }

-- (in place: the decoded arrays stay marked as arrays)
local function normalise(v, key)
  if type(v) == "number" and TIME_KEYS[key] then return "<t>" end
  if type(v) == "string" and key == "started" then return "<date>" end
  if key == "stats" then return "<h:stats()>" end   -- the history's counters, its own business
  if type(v) == "string" and key == "timeline" then
    return (v:gsub("[-+]%d+%.%d%d%d s  ", "<t> s  "))
  end
  if type(v) ~= "table" then return v end
  for k, x in pairs(v) do v[k] = normalise(x, k) end
  return v
end

mp.test("the JSON data of a small deterministic file matches the golden file", function()
  local dir = tmp .. "/data"
  local r = st.run({ "--seed", "1", "--report", dir, st.case("report_data") },
    { env = { MPOD_CLUSTER = "" } })
  st.expect_code(r, 1)
  local text = read(dir .. "/data/tests__cases__report_data.json")
  mp.expect(text):truthy()
  local data = json.decode(text)
  local js = read(dir .. "/data/tests__cases__report_data.js")
  mp.expect(js):eq('(window.MPOD_REPORT = window.MPOD_REPORT || {})["tests__cases__report_data"] = ' ..
    text:gsub("\n$", "") .. ";\n")
  local got = json.encode(normalise(data), { pretty = true }) .. "\n"
  if UPDATE then
    write(GOLDEN, got)
    mp.note("wrote " .. GOLDEN)
    return
  end
  local want = read(GOLDEN)
  if got ~= want then
    write(tmp .. "/got.json", got)
    local diff = mp.exec { "diff", "-u", GOLDEN, tmp .. "/got.json" }
    mp.fail("the report data differs from " .. GOLDEN .. ":\n" .. diff.stdout)
  end
  -- the assets come from the binary, and every file the pages name exists
  for _, path in ipairs { "index.html", "assets/report.js", "assets/report.css", "data/index.json",
                          "files/tests__cases__report_data.html" } do
    mp.expect(sys.stat(dir .. "/" .. path)):truthy()
  end
  mp.expect(read(dir .. "/assets/report.js")):eq(require "mpod.runner.assets.report.js")
  -- the password the file recorded is nowhere in the report
  local grep = mp.exec { "grep", "-rl", "hunter2-secret", dir }
  mp.expect(grep.stdout):eq("")
  mp.expect(text):contains('"password":"***"')
end)

mp.test("a file killed by its timeout gets its timeline from its history file", function()
  local dir = tmp .. "/killed"
  local r = st.run({ "--seed", "1", "-t", "1", "--report", dir, st.case("sleep_forever"), st.case("passing") },
    { env = { MPOD_CLUSTER = "" } })
  st.expect_code(r, 1)
  local data = json.decode(read(dir .. "/data/tests__cases__sleep_forever.json"))
  mp.expect(data.from_history):eq(true)
  mp.expect(#data.tests):eq(1)
  mp.expect(data.tests[1].name):eq("waits")
  mp.expect(data.tests[1].status):eq("fail")
  mp.expect(data.tests[1].message):eq("the file's process ended during this test")
  mp.expect(data.ops[1].f):eq("test")
  mp.expect(data.duration >= 1):truthy()             -- the file ran until it was killed
  mp.expect(read(dir .. "/index.html")):contains('href="files/tests__cases__sleep_forever.html"')
  mp.expect(sys.stat(dir .. "/data/tests__cases__passing.json")):truthy()
end)

mp.test("a report folder that cannot be made is a usage error", function()
  write(tmp .. "/file", "x")
  local r = st.run({ "--report", tmp .. "/file/sub", st.case("passing") }, { env = { MPOD_CLUSTER = "" } })
  st.expect_code(r, 2)
  mp.expect(r.stderr):contains("mpod-lua: --report: cannot create " .. tmp .. "/file/sub")
end)
