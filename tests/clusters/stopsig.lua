-- stopsig.lua: one service behind a wrapper, for the stop tests of
-- tests/lua/backend_process.lua. The service's process is a shell that
-- runs another one and waits for it; that one ignores TERM and, on INT
-- (the service's stop_signal), writes "INT" to $MARK and exits. So the
-- mark is written only by a stop that sends the service's own stop signal
-- to its whole process group. TAG and MARK come from the environment.
local inner = [[trap 'echo INT > "$MARK"; exit 0' INT; trap '' TERM; echo started; ]] ..
  [[while :; do sleep 0.05; done]]
return {
  name = "stopsig-${TAG}",
  backend = "process",
  services = {
    { name = "wrapped", stop_signal = "INT", stop_timeout = 5,
      cmd = { "sh", "-c", 'sh -c "$0"; echo the wrapper ended', inner },
      ready = { log = "started", timeout = 10 } },
  },
}
