-- never_ready.lua: a service whose readiness check cannot pass (the log
-- pattern comes from READY_LOG), for the readiness-timeout test.
return {
  name = "never-${TAG}",
  services = {
    { name = "slow", cmd = { "${ROOT}/../../${BUILD}/fixtures/podsvc", "--name", "slow-${TAG}" },
      ready = { log = "${READY_LOG}", timeout = 1 } },
  },
}
