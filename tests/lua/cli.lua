-- cli.lua: the command line. mpod.runner.cli's parse and check, called
-- directly (every option, --opt=value, --, missing values, bad numbers,
-- unknown options, --keep without --up), then the usage errors as a user meets
-- them through the binary: exit status 2, the message on stderr, nothing
-- on stdout.

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
                          "--filter", "--junit", "--tap-version", "--seed", "--dump-logs" } do
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
  } do
    mp.expect(usage(case[1])):eq("mpod-lua: " .. case[2] .. "\n(see mpod-lua --help)\n")
  end
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
      "--tap-version N", "--seed N", "--shuffle", "--dump-logs DIR", "-v, --verbose",
      "-h, --help", "-V, --version", "MPOD_CLUSTER" } do
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
