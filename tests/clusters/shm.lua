-- shm.lua: one service holding a SysV shared memory segment, for the
-- teardown test of tests/lua/backend_process.lua: podsvc writes the
-- segment's id to $SHM_FILE and removes the segment itself only when it
-- stops on TERM, after --stop-delay; stop_timeout is far shorter, so a
-- teardown has to KILL it, and must then remove what it left. TAG,
-- SHM_FILE and BUILD come from the environment.
local podsvc = "${ROOT}/../../${BUILD}/fixtures/podsvc"
return {
  name = "shm-${TAG}",
  backend = "process",
  services = {
    { name = "holder", stop_timeout = 0.3,
      cmd = { podsvc, "--name", "holder-${TAG}", "--shm", "${SHM_FILE}", "--stop-delay", "5000" },
      ready = { log = "started", timeout = 10 } },
  },
}
