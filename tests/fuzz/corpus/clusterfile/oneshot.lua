-- oneshot_fails.lua: a migration that exits 7, which web comes after.
local podsvc = "${ROOT}/../../${BUILD}/fixtures/podsvc"
return {
  name = "oneshot-${TAG}",
  services = {
    { name = "db", cmd = { podsvc, "--name", "db-${TAG}" }, ready = { log = "started" } },
    { name = "migrate", oneshot = true, after = { "db" },
      cmd = { podsvc, "--name", "migrate-${TAG}", "--exit", "7", "--after", "10" } },
    { name = "web", after = { "migrate" }, cmd = { podsvc, "--name", "web-${TAG}" } },
  },
}
