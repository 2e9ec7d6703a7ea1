-- bad_pods.lua: external pods (no cmd: nothing is started) for the
-- bad-input tests: `up` answers (the HTTP fixture, PORT_UP), `refused` has
-- nobody listening (PORT_REFUSED), `silent` accepts and never answers
-- (the fixture's silent port, PORT_SILENT); the cluster's Postgres is a
-- port nobody listens on.
return {
  name = "bad-pods-${TAG}",
  http = { timeout = 2 },
  postgres = "postgresql://postgres@127.0.0.1:${PORT_REFUSED}/postgres?connect_timeout=2",
  services = {
    { name = "up", group = "web", url = "http://127.0.0.1:${PORT_UP}" },
    { name = "refused", group = "web", url = "http://127.0.0.1:${PORT_REFUSED}" },
    { name = "silent", group = "web", url = "http://127.0.0.1:${PORT_SILENT}" },
  },
}
