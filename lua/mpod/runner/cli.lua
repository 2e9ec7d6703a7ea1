-- mpod/runner/cli.lua: the mpod-lua command line (docs/cli.md).
--
-- Parses options, picks the files and the cluster file, and hands over to
-- the runner or to a cluster command (up, down, status, logs). Returns the
-- process exit code: 0 all passed, 1 a test failed, 2 usage or cluster-file
-- error, 3 the cluster could not be brought up or reached, 4 internal error.
--
-- lua/mpod/runner/ is the runner process, the mpod-lua command, and this is
-- its entry (main.c runs main(argv)). Each scenario file runs in a forked
-- process of its own (lua/mpod/scenario/); the modules at the top of
-- lua/mpod/ are loaded by both.

local errors = require "mpod.error"
local redact = require "mpod.redact"
local report = require "mpod.runner.report"
local sys = require "mpod.sys"

local M = {}

local VERSION = sys.version

local USAGE = [[
usage: mpod-lua [options] [file.lua ...]      (default files: scenarios/*.lua)
       mpod-lua up | down | status | logs POD [-f]   [-C FILE]
       mpod-lua --help | --version

Runs scenario files, each in its own process, and prints TAP on stdout.

options:
  -C, --cluster FILE     cluster file (default: $MPOD_CLUSTER, else ./cluster.lua)
      --name NAME        the cluster's name instead of the file's ($MPOD_NAME):
                         one cluster file up several times at once
      --up               bring the cluster up first and down at exit
      --keep             with --up, leave the cluster running
  -j, --jobs N           scenario files at once (exclusive files run alone); 1
  -t, --timeout S        per-file timeout in seconds; 300
      --test-timeout S   default per-test timeout in seconds; 60
      --filter TEXT      only tests whose full name contains TEXT
      --junit FILE       also write JUnit XML to FILE
      --tap-version N    13 (default) or 14
      --seed N           seed for math.random and --shuffle (default: random)
      --shuffle          run the files in a random order (see --seed)
      --dump-logs DIR    after a run with failures, write every pod's log to DIR
                         (and each failing file's history)
      --history DIR      write each file's history of operations to
                         DIR/<file>.jsonl, one JSON object a line
      --report DIR       write an HTML report to DIR (index.html: the run, and a
                         timeline of every file's pods, requests, faults, tests)
      --shard K/N        run only the K-th of N parts of the files (CI matrices)
  -v, --verbose          stream notes and failures to stderr
  -h, --help             this text
  -V, --version          the version

examples:
  mpod-lua                                  # scenarios/*.lua with ./cluster.lua
  mpod-lua scenarios/login.lua              # one file
  mpod-lua -j 4 --junit report.xml          # four files at once, JUnit for CI
  mpod-lua --filter "sign-out" -v           # matching tests only, notes on stderr
  mpod-lua -C staging.lua --up              # bring that cluster up, run, take it down
  mpod-lua --seed 1234 --shuffle            # replay a shuffled order
  mpod-lua -j4 --shard 2/3                  # the second third of the files
  mpod-lua --report report                  # then open report/index.html
  mpod-lua up                               # then: status, logs mesh-1 -f, down

Short options bundle as in getopt (-vj4, -CFILE); long ones also take their
value after = (--jobs=4); -- ends the options.

environment: MPOD_CLUSTER (the cluster file when -C is not given),
MPOD_NAME (the cluster's name when --name is not given), MPOD_STATE_DIR
(where up/down keep their state), MPOD_COMPOSE (the compose CLI), TMPDIR.
Full documentation: man mpod-lua; the guides are in docs/ of the source.

exit status: 0 all passed, 1 a test failed, 2 usage or cluster-file error,
3 the cluster could not be brought up or reached, 4 internal error.
]]

local function usage_error(msg)
  redact.stderr("mpod-lua: " .. msg .. "\n(see mpod-lua --help)\n")
  return 2
end

local OPTIONS = {
  ["-C"] = "cluster", ["--cluster"] = "cluster", ["--name"] = "name",
  ["--up"] = true, ["--keep"] = true, ["--shuffle"] = true,
  ["-j"] = "jobs", ["--jobs"] = "jobs",
  ["-t"] = "timeout", ["--timeout"] = "timeout",
  ["--test-timeout"] = "test_timeout", ["--filter"] = "filter",
  ["--junit"] = "junit", ["--tap-version"] = "tap_version", ["--seed"] = "seed",
  ["--dump-logs"] = "dump_logs", ["--shard"] = "shard", ["--history"] = "history",
  ["--report"] = "report",
  ["-v"] = true, ["--verbose"] = true, ["-h"] = true, ["--help"] = true,
  ["-V"] = true, ["--version"] = true, ["-f"] = true, ["--follow"] = true,
}

local FLAG_NAMES = {
  ["--up"] = "up", ["--keep"] = "keep", ["--shuffle"] = "shuffle",
  ["-v"] = "verbose", ["--verbose"] = "verbose", ["-h"] = "help",
  ["--help"] = "help", ["-V"] = "version", ["--version"] = "version",
  ["-f"] = "follow", ["--follow"] = "follow",
}

-- long(argv, i, opts) -> the index after the option argv[i] ("--name",
-- "--name=value", "--name value") and its value | nil, message
local function long(argv, i, opts)
  local a = argv[i]
  local name, inline = a:match("^(%-%-[%w-]+)=(.*)$")
  name = name or a
  local spec = OPTIONS[name]
  if spec == true and not inline then
    opts[FLAG_NAMES[name]] = true
  elseif spec == true then return nil, "option " .. name .. " takes no value"
  elseif type(spec) == "string" then
    local value = inline
    if not value then
      i = i + 1
      value = argv[i]
      if value == nil then return nil, "option " .. name .. " needs a value" end
    end
    opts[spec] = value
  else
    return nil, "unknown option " .. a
  end
  return i + 1
end

-- short(argv, i, opts) -> the index after the cluster of short options
-- argv[i], as getopt reads it: flags bundle ("-vf"), and an option taking
-- a value takes the rest of the word ("-j4", "-vj2", "-CFILE") or else
-- the next argument | nil, message
local function short(argv, i, opts)
  local a, pos = argv[i], 2
  while pos <= #a do
    local _, last = a:find("^" .. utf8.charpattern, pos)
    last = last or pos
    local name = "-" .. a:sub(pos, last)
    local spec = OPTIONS[name]
    if spec == true then
      opts[FLAG_NAMES[name]] = true
    elseif type(spec) == "string" then
      local value = a:sub(last + 1)
      if value == "" then
        i = i + 1
        value = argv[i]
        if value == nil then return nil, "option " .. name .. " needs a value" end
      end
      opts[spec] = value
      return i + 1
    else
      return nil, "unknown option " .. name .. (name ~= a and " (in " .. a .. ")" or "")
    end
    pos = last + 1
  end
  return i + 1
end

-- parse(argv) -> opts, positional | nil, message
function M.parse(argv)
  local opts, positional = {}, {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local err
    if a == "--" then
      table.move(argv, i + 1, #argv, #positional + 1, positional)
      break
    elseif a:sub(1, 2) == "--" then i, err = long(argv, i, opts)
    elseif a:sub(1, 1) == "-" and a ~= "-" then i, err = short(argv, i, opts)
    else
      positional[#positional + 1] = a
      i = i + 1
    end
    if not i then return nil, err end
  end
  return opts, positional
end

-- decimal(text, integer) -> the number text writes in decimal digits
-- ("12", "-3", and with integer false "2.5" or ".5"), or nil. tonumber
-- alone would also take "0x10", "1e3", " 4" and "1e999" (infinity).
local function decimal(text, integer)
  local digits = integer and "^%-?%d+$" or "^%-?%d*%.?%d*$"
  if type(text) ~= "string" or not text:find(digits) or not text:find("%d") then return nil end
  local n = tonumber(text)
  if integer then return math.tointeger(n) end
  return n and n ~= math.huge and n or nil
end

local function positive_number(opts, key, what, integer)
  if opts[key] == nil then return true end
  local n = decimal(opts[key], integer)
  if not n or n <= 0 then
    return nil, string.format("%s must be a positive %s, not '%s'", what,
      integer and "integer" or "number", tostring(opts[key]))
  end
  opts[key] = n
  return true
end

-- check(opts) -> true | nil, message
function M.check(opts)
  for _, spec in ipairs {
    { "jobs", "--jobs", true }, { "timeout", "--timeout" },
    { "test_timeout", "--test-timeout" },
  } do
    local ok, err = positive_number(opts, spec[1], spec[2], spec[3])
    if not ok then return nil, err end
  end
  if opts.tap_version and opts.tap_version ~= "13" and opts.tap_version ~= "14" then
    return nil, "--tap-version must be 13 or 14"
  end
  opts.tap_version = tonumber(opts.tap_version or 13)
  if opts.seed then
    local seed = decimal(opts.seed, true)
    if not seed then return nil, "--seed must be an integer, not '" .. tostring(opts.seed) .. "'" end
    opts.seed = seed
  end
  if opts.keep and not opts.up then return nil, "--keep only makes sense with --up" end
  if opts.shard then
    local k, n = tostring(opts.shard):match("^(%d+)/(%d+)$")
    k, n = math.tointeger(tonumber(k)), math.tointeger(tonumber(n))
    if not (k and n and k >= 1 and k <= n) then
      return nil, "--shard must be K/N with 1 <= K <= N (as 2/3), not '" .. tostring(opts.shard) .. "'"
    end
    opts.shard = { k, n }
  end
  return true
end

-- shard(files, k, n) -> the files of shard k of n, in their given order.
-- The split does not depend on that order nor on the locale a shell sorted
-- a glob with: the files are sorted by their bytes and dealt out in turn,
-- the first to shard 1, the second to shard 2, ... (the runner keeps the C
-- locale, where Lua's < compares bytes). So every machine of a
-- CI matrix given the same files computes the same split, each file falls
-- in exactly one shard, and shard sizes differ by one at most.
function M.shard(files, k, n)
  local order = {}
  for i = 1, #files do order[i] = i end
  table.sort(order, function(a, b)
    if files[a] ~= files[b] then return files[a] < files[b] end
    return a < b
  end)
  local mine = {}
  for rank, i in ipairs(order) do
    if (rank - 1) % n + 1 == k then mine[#mine + 1] = i end
  end
  table.sort(mine)
  local picked = {}
  for _, i in ipairs(mine) do picked[#picked + 1] = files[i] end
  return picked
end

local function shuffle(list, seed)
  local rng = seed
  for i = #list, 2, -1 do
    rng = (rng * 1103515245 + 12345) % 2147483648
    local j = rng % i + 1
    list[i], list[j] = list[j], list[i]
  end
end

-- The files to run: the arguments, else scenarios/*.lua.
local function pick_files(positional)
  if #positional > 0 then return positional end
  local files = sys.glob("scenarios/*.lua")
  return files
end

-- cluster_name(opts) -> the name that replaces the cluster file's, or nil
local function cluster_name(opts)
  if opts.name then return opts.name end
  local env = os.getenv("MPOD_NAME")
  if env and env ~= "" then return env end
  return nil
end

local function cluster_path(opts)
  if opts.cluster then return opts.cluster, true end
  local env = os.getenv("MPOD_CLUSTER")
  if env and env ~= "" then return env, true end
  return "cluster.lua", false
end

local function random_seed()
  local f = io.open("/dev/urandom", "rb")
  if f then
    local b = f:read(4)
    f:close()
    if b and #b == 4 then return string.unpack("<I4", b) % 1000000000 end
  end
  return os.time() % 1000000000
end

-- The --junit file must be writable before anything runs: a run of many
-- minutes must not end in a report it cannot write. Opened to append, so
-- an existing file is left as it is until the run writes it.
local function check_junit(path)
  local f, err = io.open(path, "a")
  if not f then return nil, err end
  f:close()
  return true
end

-- Run scenario files; returns the exit code.
local function run_files(opts, positional)
  local files = pick_files(positional)
  if #files == 0 then
    return usage_error("no scenario files (none given and no scenarios/*.lua here)")
  end
  if opts.junit then
    local ok, err = check_junit(opts.junit)
    if not ok then               -- err: "PATH: No such file or directory"
      redact.stderr("mpod-lua: --junit " .. err .. "\n")
      return 2
    end
  end
  if opts.shard then files = M.shard(files, opts.shard[1], opts.shard[2]) end
  opts.seed = opts.seed or random_seed()
  if opts.shuffle then shuffle(files, opts.seed) end
  local report_dir
  if opts.report then
    local why
    report_dir, why = require("mpod.runner.report_html").new(opts.report)
    if not report_dir then return usage_error("--report: " .. why) end
  end
  local histories
  local made, problem = pcall(function()
    histories = require("mpod.runner.histories").new { dir = opts.history, dump_logs = opts.dump_logs,
                                                       want = opts.report ~= nil }
  end)
  if not made then return usage_error(type(problem) == "table" and problem.message or tostring(problem)) end
  local path, explicit = cluster_path(opts)
  local reporter = report.new {
    tap_version = opts.tap_version, junit = opts.junit, total = #files,
    progress = report.stderr_is_tty and not opts.verbose,
  }
  local session = require("mpod.runner.session")
  local s, code = session.open(path, explicit, opts, reporter)
  if not s then
    reporter:finish()
    if histories then histories:finish() end
    return code
  end
  if report_dir then report_dir:set_pods(s.description) end
  local header = { string.format("mpod-lua %s, seed %d%s%s", VERSION, opts.seed,
    opts.shard and string.format(", shard %d/%d", opts.shard[1], opts.shard[2]) or "",
    s.cluster and string.format(", cluster %s (%s)", s.cluster.name, s.cluster.backend) or "") }
  local totals = require("mpod.runner.run").run {
    files = files, jobs = opts.jobs or 1, file_timeout = opts.timeout or 300,
    test_timeout = opts.test_timeout or 60, filter = opts.filter, seed = opts.seed,
    verbose = opts.verbose, header = header, reporter = reporter,
    cluster_description = s.description, cluster_error = s.cluster_error,
    control = s.control, histories = histories, report = report_dir,
    on_file_end = report_dir and function(info) report_dir:file_history(info) end,
  }
  if report_dir then
    report_dir.header = header[1]
    local text, why = report_dir:finish(totals)
    redact.stderr("mpod-lua: " .. (text or ("--report: " .. tostring(why))) .. "\n")
  end
  session.close(s, totals)
  if histories then histories:finish() end
  if totals.junit_error then                 -- writable at the start, not at the end
    redact.stderr("mpod-lua: --junit " .. totals.junit_error .. "\n")
    return 2
  end
  if totals.bailed then return 3 end
  return totals.failed > 0 and 1 or 0
end

local COMMANDS = { up = true, down = true, status = true, logs = true }

function M.main(argv)
  if argv[1] == "--watchdog" and argv[2] then
    return require("mpod.runner.session").watchdog(argv[2], argv[3])
  end
  if argv[1] == "--reaper" and argv[2] then return require("mpod.reaper").main(argv[2]) end
  local opts, positional = M.parse(argv)
  if not opts then return usage_error(positional) end
  if opts.help then io.stdout:write(USAGE); return 0 end
  if opts.version then io.stdout:write("mpod-lua " .. VERSION .. "\n"); return 0 end
  local ok, err = M.check(opts)
  if not ok then return usage_error(err) end
  opts.name = cluster_name(opts)
  local command = positional[1]
  if command and COMMANDS[command] and not command:match("%.lua$") then
    table.remove(positional, 1)
    local path, explicit = cluster_path(opts)
    return require("mpod.runner.session").command(command, positional, path, explicit, opts)
  end
  local code
  ok, err = pcall(function() code = run_files(opts, positional) end)
  if ok then return code end
  if errors.is(err, "cluster") then
    redact.stderr("mpod-lua: " .. tostring(err.message) .. "\n")
    return 2
  end
  error(redact.redact_all(err), 0)
end

return M
