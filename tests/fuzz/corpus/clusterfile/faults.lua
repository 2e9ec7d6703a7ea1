-- faults.lua: Toxiproxy (build/toxiproxy, `make toxiproxy`) in front of a
-- podsvc, for the fault tests. PORT_A is the service, PORT_P the proxy,
-- PORT_T the Toxiproxy API; TAG names the instance.
local build = "${ROOT}/../../${BUILD}"
return {
  name = "faults-${TAG}",
  toxiproxy = { url = "http://127.0.0.1:${PORT_T}", service = "toxiproxy" },
  proxies = { web = { listen = "127.0.0.1:${PORT_P}", upstream = "127.0.0.1:${PORT_A}" } },
  services = {
    { name = "toxiproxy", cmd = { build .. "/toxiproxy/toxiproxy-server", "-host", "127.0.0.1",
        "-port", "${PORT_T}" }, env = { TAG = "${TAG}" },
      url = "http://127.0.0.1:${PORT_T}", ready = { http = "/version" } },
    { name = "a", cmd = { build .. "/fixtures/podsvc", "--name", "a-${TAG}", "--port", "${PORT_A}" },
      url = "http://127.0.0.1:${PORT_A}", ready = { http = "/health" } },
  },
}
