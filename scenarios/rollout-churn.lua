-- rollout-churn: a long run outlives a rollout in which every pod dies.
-- While one run streams, mesh-1, mesh-2 and mesh-3 are killed (SIGKILL) and
-- started again in turn, each only once the run made progress since the
-- previous one; whoever owns the run when its pod dies, a survivor takes
-- it over. The run still ends completed, with chunk-1..N persisted exactly
-- once, written by more than one pod; a client that follows the stream
-- from pod to pod (resuming with Last-Event-ID whenever its pod dies) sees
-- every chunk exactly once and `done`. Synchronises on the persisted part
-- count (Postgres), on readiness after each restart and on the stream.

local mp = require "mpod"
local meshd = require "meshd"

mp.exclusive()

local c = mp.cluster()
local CHUNKS, INTERVAL_MS = 80, 200
local PROGRESS = 3                      -- chunks between two kills

mp.before_all(function() meshd.wait_healthy(c) end)

mp.test("a run survives every pod being killed and restarted in turn", function()
  local db <close> = c:db()
  local pods = c:pods("mesh")
  local s = meshd.bootstrap_session(pods[1])
  local t = meshd.create_thread(pods[1], s)
  local client = mp.spawn(meshd.follow, pods, s, t.id, 150)
  meshd.start_run(pods[1], s, t.id, { chunks = CHUNKS, interval_ms = INTERVAL_MS })

  local persisted = meshd.wait_parts(db, t.id, PROGRESS, 10)
  for _, pod in ipairs(pods) do
    local owner, status = meshd.owner_of(db, t.id)
    if status ~= "in_progress" then
      mp.fail(string.format("the run was %s before %s was killed: make it longer", status, pod.name))
    end
    pod:kill()
    mp.note(string.format("killed %s (owner %s, %d chunks persisted)", pod.name, owner, persisted))
    pod:start()
    pod:wait_ready(30)
    meshd.wait_ready_state(pod, meshd.READY, 20)
    persisted = meshd.wait_parts(db, t.id, persisted + PROGRESS, 20)
  end

  local row = meshd.wait_completed(db, t.id, 60)
  local parts = meshd.expect_parts(db, t.id, CHUNKS)
  local writers = {}
  for _, part in ipairs(parts) do writers[part.pod] = (writers[part.pod] or 0) + 1 end
  local names = {}
  for name, n in pairs(writers) do names[#names + 1] = name .. "=" .. n end
  table.sort(names)
  mp.note("chunks written per pod: " .. table.concat(names, " ") .. "; completed by " .. row.run_owner_pod)
  mp.expect(#names):gt(1)

  local seen = client:wait(60)
  mp.note("the client read the stream from " .. table.concat(seen.hops, " -> "))
  meshd.expect_complete(seen, CHUNKS, "client following the stream across pods")
end, { timeout = 180 })
