-- cli.lua: the command line. mpod.runner.cli's parse and check, called
-- directly (every option, --opt=value, getopt's short forms -j4, -vj2 and
-- -CFILE, --, missing values, bad numbers, unknown options, --keep without
-- --up, --shard), the split --shard makes, then the usage errors as a user
-- meets them through the binary: exit status 2, the message on stderr,
-- nothing on stdout; and sharded runs that together run every file once.

local mp = require "mpod"
local cli = require "mpod.runner.cli"
local st = require "selftest"
local sys = require "mpod.sys"

-- parse(...) -> opts, positional (fails the test on a parse error)
local function parse(...)
  local opts, positional = cli.parse { ... }
  if not opts then mp.fail("parse error: " .. tostring(positional)) end
  return opts, positional
end

local function parse_error(...)
  local opts, message = cli.parse { ... }
  mp.expect(opts):is_nil()
  return message
end

-- check_error(opts) -> the message check gives
local function check_error(opts)
  local ok, message = cli.check(opts)
  mp.expect(ok):is_nil()
  return message
end

-- parse ------------------------------------------------------------------------

mp.test("parse: every option taking a value, long and short", function()
  local opts, files = parse("-C", "c.lua", "-j", "4", "-t", "30", "--test-timeout", "5",
    "--filter", "login", "--junit", "out.xml", "--tap-version", "14", "--seed", "7",
    "--dump-logs", "logs", "a.lua")
  mp.expect(opts):eq { cluster = "c.lua", jobs = "4", timeout = "30", test_timeout = "5",
    filter = "login", junit = "out.xml", tap_version = "14", seed = "7", dump_logs = "logs" }
  mp.expect(files):eq { "a.lua" }
  opts = parse("--cluster", "c.lua", "--jobs", "2", "--timeout", "9")
  mp.expect(opts):eq { cluster = "c.lua", jobs = "2", timeout = "9" }
end)

mp.test("parse: every flag, long and short", function()
  mp.expect((parse("--up", "--keep", "--shuffle", "--verbose", "--help", "--version", "--follow")))
    :eq { up = true, keep = true, shuffle = true, verbose = true, help = true, version = true,
          follow = true }
  mp.expect((parse("-v", "-h", "-V", "-f")))
    :eq { verbose = true, help = true, version = true, follow = true }
end)

mp.test("parse: short options as getopt reads them: -j4, -vj2, -t30, -CFILE, -vf", function()
  mp.expect((parse("-j4", "-t30", "-CFILE"))):eq { jobs = "4", timeout = "30", cluster = "FILE" }
  mp.expect((parse("-vj2"))):eq { verbose = true, jobs = "2" }
  mp.expect((parse("-vf"))):eq { verbose = true, follow = true }
  mp.expect((parse("-vC", "c.lua"))):eq { verbose = true, cluster = "c.lua" }
  -- the rest of the word is the value, whatever it holds
  mp.expect((parse("-j=4"))):eq { jobs = "=4" }
  mp.expect((parse("-Cv"))):eq { cluster = "v" }
  local opts, files = parse("-j", "4", "-C", "c.lua", "--cluster=d.lua", "x.lua", "-t", "9")
  mp.expect(opts):eq { jobs = "4", cluster = "d.lua", timeout = "9" }
  mp.expect(files):eq { "x.lua" }
end)

mp.test("parse: a bundle with an unknown letter or a missing value says which", function()
  mp.expect(parse_error("-vx")):eq("unknown option -x (in -vx)")
  mp.expect(parse_error("-vé")):eq("unknown option -é (in -vé)")
  mp.expect(parse_error("a.lua", "-vj")):eq("option -j needs a value")
  mp.expect(parse_error("-v=1")):eq("unknown option -= (in -v=1)")
end)

mp.test("parse: --opt=value, including an empty value and values with '='", function()
  local opts = parse("--jobs=3", "--filter=a=b", "--junit=", "--cluster=x.lua")
  mp.expect(opts):eq { jobs = "3", filter = "a=b", junit = "", cluster = "x.lua" }
end)

mp.test("parse: options and files mix in any order; the last value wins", function()
  local opts, files = parse("a.lua", "-j", "2", "b.lua", "--seed", "1", "--seed", "2", "c.lua")
  mp.expect(opts):eq { jobs = "2", seed = "2" }
  mp.expect(files):eq { "a.lua", "b.lua", "c.lua" }
end)

mp.test("parse: a value is taken as is, even when it starts with a dash", function()
  mp.expect((parse("--filter", "--up"))):eq { filter = "--up" }
  mp.expect((parse("--seed", "-5"))):eq { seed = "-5" }
end)

mp.test("parse: after --, everything is a file; a lone - is a file", function()
  local opts, files = parse("-v", "--", "-j", "--weird.lua", "--")
  mp.expect(opts):eq { verbose = true }
  mp.expect(files):eq { "-j", "--weird.lua", "--" }
  local _, single = parse("-")
  mp.expect(single):eq { "-" }
end)

mp.test("parse: subcommands are positional words", function()
  local opts, words = parse("logs", "mesh-1", "-f", "-C", "c.lua")
  mp.expect(opts):eq { follow = true, cluster = "c.lua" }
  mp.expect(words):eq { "logs", "mesh-1" }
end)

mp.test("parse: a missing value names the option", function()
  for _, name in ipairs { "-C", "--cluster", "-j", "--jobs", "-t", "--timeout", "--test-timeout",
                          "--filter", "--junit", "--tap-version", "--seed", "--dump-logs",
                          "--shard" } do
    mp.expect(parse_error("a.lua", name)):eq("option " .. name .. " needs a value")
  end
end)

mp.test("parse: unknown options are refused, long or short", function()
  mp.expect(parse_error("--frobnicate")):eq("unknown option --frobnicate")
  mp.expect(parse_error("-x")):eq("unknown option -x")
  mp.expect(parse_error("--frob=1")):eq("unknown option --frob=1")
  mp.expect(parse_error("a.lua", "--Verbose")):eq("unknown option --Verbose")
end)

mp.test("parse: a flag given a value says it takes none", function()
  mp.expect(parse_error("--up=1")):eq("option --up takes no value")
  mp.expect(parse_error("--verbose=yes")):eq("option --verbose takes no value")
end)

-- check ------------------------------------------------------------------------

mp.test("check: numbers become numbers, tap_version defaults to 13", function()
  local opts = parse("-j", "4", "-t", "2.5", "--test-timeout", "0.5", "--seed", "42")
  mp.expect(cli.check(opts)):eq(true)
  mp.expect(opts.jobs):eq(4)
  mp.expect(math.type(opts.jobs)):eq("integer")
  mp.expect(opts.timeout):eq(2.5)
  mp.expect(opts.test_timeout):eq(0.5)
  mp.expect(opts.seed):eq(42)
  mp.expect(opts.tap_version):eq(13)
  local decimals = { jobs = "08", timeout = ".5", test_timeout = "3.", seed = "-0" }
  mp.expect(cli.check(decimals)):eq(true)
  mp.expect(decimals):eq { jobs = 8, timeout = 0.5, test_timeout = 3.0, seed = 0, tap_version = 13 }
  local v14 = parse("--tap-version", "14")
  cli.check(v14)
  mp.expect(v14.tap_version):eq(14)
end)

mp.test("check: --jobs is a positive integer", function()
  for _, bad in ipairs { "0", "-1", "2.5", "two", "", "0x10", "1e1", " 4", "4 ", "+4", "4.0",
                         "99999999999999999999" } do
    mp.expect(check_error { jobs = bad })
      :eq("--jobs must be a positive integer, not '" .. bad .. "'")
  end
end)

mp.test("check: --timeout and --test-timeout are positive numbers", function()
  for _, bad in ipairs { "0", "-1", "soon", "", "0x10", "1e3", "inf", "nan", ".", " 5", "+5",
                         "1" .. string.rep("0", 400) } do
    mp.expect(check_error { timeout = bad })
      :eq("--timeout must be a positive number, not '" .. bad .. "'")
    mp.expect(check_error { test_timeout = bad })
      :eq("--test-timeout must be a positive number, not '" .. bad .. "'")
  end
end)

mp.test("check: --seed is an integer (negative is fine), --tap-version 13 or 14", function()
  for _, bad in ipairs { "1.5", "abc", "0x10", "1e3", " 7", "", "99999999999999999999" } do
    mp.expect(check_error { seed = bad }):eq("--seed must be an integer, not '" .. bad .. "'")
  end
  local opts = { seed = "-3" }
  mp.expect(cli.check(opts)):eq(true)
  mp.expect(opts.seed):eq(-3)
  for _, bad in ipairs { "12", "15", "13.0", "" } do
    mp.expect(check_error { tap_version = bad }):eq("--tap-version must be 13 or 14")
  end
end)

mp.test("check: --keep only with --up", function()
  mp.expect(check_error { keep = true }):eq("--keep only makes sense with --up")
  mp.expect(cli.check { keep = true, up = true }):eq(true)
end)

mp.test("check: --shard is K/N with 1 <= K <= N, in decimal digits", function()
  local opts = { shard = "2/3" }
  mp.expect(cli.check(opts)):eq(true)
  mp.expect(opts.shard):eq { 2, 3 }
  opts = { shard = "1/1" }
  cli.check(opts)
  mp.expect(opts.shard):eq { 1, 1 }
  for _, bad in ipairs { "0/3", "4/3", "1/0", "x/y", "3", "1/", "/3", "-1/3", "1/3/5", " 1/3",
                         "0x1/3", "1.0/3", "1/99999999999999999999", "" } do
    mp.expect(check_error { shard = bad })
      :eq("--shard must be K/N with 1 <= K <= N (as 2/3), not '" .. bad .. "'")
  end
end)

-- shard -------------------------------------------------------------------------

local FILES = { "scenarios/b.lua", "scenarios/a.lua", "z.lua", "scenarios/c.lua", "A.lua",
                "scenarios/a_2.lua", "m/x.lua" }

mp.test("shard: N shards hold every file exactly once, balanced, in the given order", function()
  for n = 1, #FILES + 2 do
    local seen, position = {}, {}
    for i, f in ipairs(FILES) do position[f] = i end
    for k = 1, n do
      local part = cli.shard(FILES, k, n)
      mp.expect(#part >= #FILES // n and #part <= (#FILES + n - 1) // n):truthy()
      for i, f in ipairs(part) do
        mp.expect(seen[f]):is_nil()
        seen[f] = k
        if i > 1 then mp.expect(position[f]):gt(position[part[i - 1]]) end
      end
    end
    for _, f in ipairs(FILES) do mp.expect(seen[f]):type("number") end
  end
end)

mp.test("shard: the split depends on the files, not on the order they come in", function()
  local reversed, rotated = {}, {}
  for i = #FILES, 1, -1 do reversed[#reversed + 1] = FILES[i] end
  for i = 3, #FILES + 2 do rotated[#rotated + 1] = FILES[(i - 1) % #FILES + 1] end
  local function set(list)
    local out = {}
    for _, f in ipairs(list) do out[f] = true end
    return out
  end
  for n = 2, 4 do
    for k = 1, n do
      local want = set(cli.shard(FILES, k, n))
      mp.expect(set(cli.shard(reversed, k, n))):eq(want)
      mp.expect(set(cli.shard(rotated, k, n))):eq(want)
    end
  end
  -- byte order, whatever the locale: "A.lua" < "m/x.lua" < "scenarios/a.lua" < ...
  mp.expect(cli.shard(FILES, 1, 7)):eq { "A.lua" }
  mp.expect(cli.shard(FILES, 3, 7)):eq { "scenarios/a.lua" }
  mp.expect(cli.shard(FILES, 4, 7)):eq { "scenarios/a_2.lua" }
end)

-- Through the binary -------------------------------------------------------------

-- usage(args [, cwd]) -> stderr; checks exit status 2 and an empty stdout
local function usage(args, cwd)
  local argv = { sys.realpath(st.MPOD) }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local r = mp.exec(argv, { cwd = cwd, timeout = 30, env = { MPOD_CLUSTER = "" } })
  mp.expect(r.stdout):eq("")
  mp.expect(r.code):eq(2)
  return r.stderr
end

mp.test("usage errors exit 2 with one message on stderr and nothing on stdout", function()
  local passing = st.case("passing")
  for _, case in ipairs {
    { { "--frobnicate", passing }, "unknown option --frobnicate" },
    { { passing, "-j" }, "option -j needs a value" },
    { { "-j", "0", passing }, "--jobs must be a positive integer, not '0'" },
    { { "--timeout=never", passing }, "--timeout must be a positive number, not 'never'" },
    { { "--test-timeout", "-2", passing }, "--test-timeout must be a positive number, not '-2'" },
    { { "--seed", "x", passing }, "--seed must be an integer, not 'x'" },
    { { "-j", "0x10", passing }, "--jobs must be a positive integer, not '0x10'" },
    { { "-t", "1e3", passing }, "--timeout must be a positive number, not '1e3'" },
    { { "--tap-version", "12", passing }, "--tap-version must be 13 or 14" },
    { { "--keep", passing }, "--keep only makes sense with --up" },
    { { "-vx", passing }, "unknown option -x (in -vx)" },
    { { "--shard", "0/3", passing }, "--shard must be K/N with 1 <= K <= N (as 2/3), not '0/3'" },
    { { "--shard=4/3", passing }, "--shard must be K/N with 1 <= K <= N (as 2/3), not '4/3'" },
    { { "--shard", "1/0", passing }, "--shard must be K/N with 1 <= K <= N (as 2/3), not '1/0'" },
    { { "--shard", "x/y", passing }, "--shard must be K/N with 1 <= K <= N (as 2/3), not 'x/y'" },
  } do
    mp.expect(usage(case[1])):eq("mpod-lua: " .. case[2] .. "\n(see mpod-lua --help)\n")
  end
end)

mp.test("--junit to a path that cannot be written: exit 2 with the reason, before anything runs", function()
  local dir = sys.mkdtemp("mpod-cli-junit")
  local passing = st.case("passing")
  mp.expect(usage { "--junit", dir .. "/no/such/dir/x.xml", passing })
    :eq("mpod-lua: --junit " .. dir .. "/no/such/dir/x.xml: No such file or directory\n")
  mp.expect(usage { "--junit=" .. dir, passing })
    :eq("mpod-lua: --junit " .. dir .. ": Is a directory\n")
  -- an existing file passes the check and is replaced by the run's JUnit
  local path = dir .. "/old.xml"
  local f = assert(io.open(path, "w"))
  f:write("old")
  f:close()
  local r = st.run { "--junit", path, passing }
  f = assert(io.open(path))
  local xml = f:read("a")
  f:close()
  sys.rmtree(dir)
  mp.expect(r.code):eq(0)
  mp.expect(xml):matches("^<%?xml ")
end)

mp.test("no files given and no scenarios/*.lua: a usage error", function()
  local dir = sys.mkdtemp("mpod-cli")
  local err = usage({}, dir)
  sys.rmtree(dir)
  mp.expect(err):eq("mpod-lua: no scenario files (none given and no scenarios/*.lua here)\n"
    .. "(see mpod-lua --help)\n")
end)

mp.test("--help: usage, every option, examples, exit status; on stdout, exit 0", function()
  local r = st.run { "--help" }
  mp.expect(r.code):eq(0)
  mp.expect(r.stderr):eq("")
  local help = r.stdout
  mp.expect(help):matches("^usage: mpod%-lua ")
  for _, option in ipairs { "-C, --cluster FILE", "--up", "--keep", "-j, --jobs N",
      "-t, --timeout S", "--test-timeout S", "--filter TEXT", "--junit FILE",
      "--tap-version N", "--seed N", "--shuffle", "--dump-logs DIR", "--shard K/N",
      "-v, --verbose", "-h, --help", "-V, --version", "MPOD_CLUSTER", "man mpod-lua" } do
    mp.expect(help):contains(option)
  end
  mp.expect(help):contains("examples:")
  mp.expect(help):contains("exit status:")
  -- -h is the same text
  mp.expect(st.run({ "-h" }).stdout):eq(help)
end)

mp.test("every example in --help parses and checks", function()
  local help = st.run({ "--help" }).stdout
  local examples = help:match("examples:\n(.-)\n\n")
  mp.expect(examples):type("string")
  local n = 0
  for line in examples:gmatch("[^\n]+") do
    local command = line:match("^%s+mpod%-lua (.-)%s*$") or line:match("^%s+mpod%-lua$") and ""
    if command then
      command = command:gsub("%s+#.*$", "")
      local args = {}
      for word in command:gmatch("%S+") do args[#args + 1] = word end
      local opts, err = cli.parse(args)
      if not opts then mp.fail(line .. ": " .. err) end
      local ok, cerr = cli.check(opts)
      if not ok then mp.fail(line .. ": " .. cerr) end
      n = n + 1
    end
  end
  mp.expect(n):ge(4)
end)

mp.test("--version and -V print the version, exit 0", function()
  for _, flag in ipairs { "--version", "-V" } do
    local r = st.run { flag }
    mp.expect(r.code):eq(0)
    mp.expect(r.stdout):matches("^mpod%-lua %d+%.%d+%.%d+\n$")
    mp.expect(r.stdout):eq("mpod-lua " .. mp.version .. "\n")
  end
end)

mp.test("-j beyond the open-file limit runs fewer files at once, with a note, and fails none", function()
  local dir = assert(sys.mkdtemp("mpod-cli-fd"))
  local file = dir .. "/sleeps.lua"
  local f = assert(io.open(file, "w"))
  f:write('local mp = require "mpod"\nmp.test("sleeps", function() mp.sleep(1) end)\n')
  f:close()
  -- 60 files of a second each: with ulimit -n 64, forking all of them at
  -- once runs out of descriptors for their channels
  local script = { "ulimit -n 64 && exec \"$0\" --seed 1 -j 60" }
  for _ = 1, 60 do script[#script + 1] = file end
  local r = mp.exec({ "/bin/sh", "-c", table.concat(script, " "), sys.realpath(st.MPOD) },
    { timeout = st.slow(120), env = { MPOD_CLUSTER = "" } })
  sys.rmtree(dir)
  st.expect_code(r, 0)
  mp.expect(r.stderr):matches("mpod%-lua: %-j 60 is more than the open%-file limit allows " ..
    "%(ulimit %-n 64, %d+ open%): running at most %d+ files at once\n")
  mp.expect(r.stderr):contains("mpod-lua: 60 passed, 0 failed, 0 skipped")
end)

-- The top-level results of a run's TAP: { [file] = count }
local function files_run(tap)
  local out = {}
  for line in tap:gmatch("[^\n]+") do
    local file = line:match("^ok %d+ %- (%S+)$") or line:match("^not ok %d+ %- (%S+)$")
    if file then out[file] = (out[file] or 0) + 1 end
  end
  return out
end

mp.test("--shard K/N: the N runs together run every file once, exclusive files included", function()
  local dir = assert(sys.mkdtemp("mpod-cli-shard"))
  local files = {}
  for i = 1, 7 do
    local file = string.format("%s/f%d.lua", dir, i)
    local f = assert(io.open(file, "w"))
    f:write('local mp = require "mpod"\n', i % 3 == 0 and "mp.exclusive()\n" or "",
      'mp.test("runs", function() end)\n')
    f:close()
    files[#files + 1] = file
  end
  local reversed = {}
  for i = #files, 1, -1 do reversed[#reversed + 1] = files[i] end
  for _, n in ipairs { 1, 2, 3, 7, 9 } do
    local count = {}
    for k = 1, n do
      -- even shards get the files in the other order: the split is the same
      local args = { "-j2", "--shard", k .. "/" .. n }
      table.move(k % 2 == 0 and reversed or files, 1, #files, #args + 1, args)
      local r = st.run(args, { env = { MPOD_CLUSTER = "" } })
      st.expect_code(r, 0)
      mp.expect(r.stdout):contains(string.format(", shard %d/%d\n", k, n))
      for file, times in pairs(files_run(r.stdout)) do count[file] = (count[file] or 0) + times end
    end
    for _, file in ipairs(files) do
      if count[file] ~= 1 then mp.fail(string.format("%d shards ran %s %d times", n, file, count[file] or 0)) end
    end
  end
  sys.rmtree(dir)
end)

mp.test("--shard: a shard with no files is a run of no tests, exit 0", function()
  local r = st.run({ "--shard", "3/3", st.case("passing"), st.case("failing") },
    { env = { MPOD_CLUSTER = "" } })
  st.expect_code(r, 0)
  st.expect_line(r.stdout, "1..0")
  mp.expect(files_run(r.stdout)):eq {}
end)
