-- mpod/runner/histories.lua: where each scenario file's history goes
-- (--history DIR, --dump-logs DIR; docs/history.md#export).
--
-- Before a file starts, the runner picks the path its process appends
-- the history to, one JSON object per line: DIR/<slug>.jsonl with
-- --history, else a file in a private temporary folder when someone
-- wants the histories anyway (--dump-logs for failing files, or a caller
-- of mpod.runner.run that sets want_history). The process writes in
-- batches as it runs, so a file killed by its timeout or crashing leaves
-- what it wrote until then. After the file, a failing file's history is
-- copied to the --dump-logs folder; the temporary folder goes when the
-- run ends.

local sys = require "mpod.sys"

local M = {}

local Histories = {}
Histories.__index = Histories

-- slug(path) -> the file name of a scenario's history, without ".jsonl":
-- the path without a leading "./" and its ".lua", "/" turned into "__"
-- (scenarios/chaos-meshd.lua -> scenarios__chaos-meshd)
function M.slug(path)
  local s = path:gsub("^%./+", ""):gsub("%.lua$", ""):gsub("/", "__")
  if s == "" then s = "_" end
  return s
end

-- new{dir=, dump_logs=, want=} -> histories, or nil when nobody wants
-- them; raises (kind "os") when a folder cannot be made
function M.new(opts)
  if not (opts.dir or opts.dump_logs or opts.want) then return nil end
  local h = setmetatable({ dir = opts.dir, dump_logs = opts.dump_logs, taken = {} }, Histories)
  if h.dir then
    local ok, err = sys.mkdir_p(h.dir)
    if not ok then require("mpod.error").raise("os", "--history: " .. tostring(err)) end
  else
    local tmp, err = sys.mkdtemp("mpod-history")
    if not tmp then require("mpod.error").raise("os", "cannot make a folder for histories: " .. tostring(err)) end
    h.temp = tmp
  end
  return h
end

-- h:path_for(file) -> the path the file's process appends to (emptied
-- first: a run replaces the history of an earlier run)
function Histories:path_for(file)
  local slug = require("mpod.report_files").unique(self.taken, M.slug(file))
  local path = (self.dir or self.temp) .. "/" .. slug .. ".jsonl"
  os.remove(path)
  return path, slug
end

local function copy(from, to)
  local src = io.open(from, "rb")
  if not src then return nil, "no history was written" end
  local dst, err = io.open(to, "wb")
  if not dst then src:close(); return nil, err end
  while true do
    local chunk = src:read(1 << 16)
    if not chunk then break end
    dst:write(chunk)
  end
  src:close()
  return dst:close()
end

-- h:after_file(path, slug, ok) -> a comment for the report, or nil: a
-- failing file's history goes to the --dump-logs folder too
function Histories:after_file(path, slug, ok)
  if ok or not self.dump_logs or not path then return nil end
  local made, err = sys.mkdir_p(self.dump_logs)
  local to = self.dump_logs .. "/" .. slug .. ".jsonl"
  if made and sys.realpath(to) == sys.realpath(path) then return nil end
  if made then made, err = copy(path, to) end
  if not made then return "--dump-logs: cannot write the history " .. to .. ": " .. tostring(err) end
  return nil
end

-- h:finish(): remove the temporary folder (the histories --history wrote stay)
function Histories:finish()
  if self.temp then sys.rmtree(self.temp) end
  self.temp = nil
end

return M
