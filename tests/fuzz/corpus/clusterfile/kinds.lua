return {
  name = "kinds", backend = "compose", compose = { file = "c.yml", project = "p" },
  http = { headers = { Origin = "http://x" }, timeout = 3 },
  postgres = "postgresql://u:p@127.0.0.1:1/db", ready_timeout = 5, log_limit = 1024,
  toxiproxy = { url = "http://127.0.0.1:8474", service = "toxiproxy" },
  proxies = { pg = { listen = "127.0.0.1:1", upstream = "db:5432" } },
  services = {
    { name = "db", ready = { tcp = "127.0.0.1:1", timeout = 2, interval = 0.1 } },
    { name = "web-1", group = "web", url = "https://h:1", service = "web",
      ready = { http = "/health", status = 204 }, after = { "db" }, stop_signal = "INT",
      stop_timeout = 3 },
    { name = "job", oneshot = true, ready = { cmd = { "true", 1 } } },
    { name = "logs", ready = { log = "ready%." } },
  },
}
