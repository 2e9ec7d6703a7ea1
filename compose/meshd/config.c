/* config.c: reads the environment into cfg. Required: DATABASE_URL always;
 * PORT, POD_NAME, NATS_URL and BASE_URL to serve. Optional integers keep
 * their defaults when unset and must be positive when set; a heartbeat
 * must come more often than a pod is declared stale. */
#include "config.h"

#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct config cfg;

static int required(const char *name, const char **out)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "meshd: environment variable %s is required\n", name);
        return -1;
    }
    *out = v;
    return 0;
}

static int optional_int(const char *name, int fallback, int max, int *out)
{
    const char *v = getenv(name);
    *out = fallback;
    if (!v || !*v)
        return 0;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n <= 0 || n > max) {
        fprintf(stderr, "meshd: %s must be an integer in 1..%d, got \"%s\"\n",
                name, max, v);
        return -1;
    }
    *out = (int)n;
    return 0;
}

static int serving_settings(void)
{
    const char *port;
    if (required("PORT", &port) || required("POD_NAME", &cfg.pod_name) ||
        required("NATS_URL", &cfg.nats_url) ||
        required("BASE_URL", &cfg.base_url))
        return -1;
    char *end;
    long n = strtol(port, &end, 10);
    if (*end || n <= 0 || n > 65535) {
        fprintf(stderr, "meshd: PORT must be a TCP port, got \"%s\"\n", port);
        return -1;
    }
    cfg.port = (int)n;
    cfg.secure_cookies = strncmp(cfg.base_url, "https:", 6) == 0;
    size_t len = strlen(cfg.base_url);
    while (len > 0 && cfg.base_url[len - 1] == '/')
        len--;
    if (len >= sizeof cfg.origin) {
        fprintf(stderr, "meshd: BASE_URL is too long\n");
        return -1;
    }
    memcpy(cfg.origin, cfg.base_url, len);
    return 0;
}

int config_load(bool need_http)
{
    cfg.pod_name = getenv("POD_NAME") ? getenv("POD_NAME") : "meshd";
    if (required("DATABASE_URL", &cfg.database_url))
        return -1;
    if (need_http && serving_settings() < 0)
        return -1;
    if (optional_int("HEARTBEAT_INTERVAL_MS", 1000, 600000,
                     &cfg.heartbeat_interval_ms) ||
        optional_int("STALE_AFTER_MS", 3000, 3600000, &cfg.stale_after_ms) ||
        optional_int("SSE_PING_MS", 15000, 30000, &cfg.sse_ping_ms) ||
        optional_int("DB_POOL_SIZE", 8, 64, &cfg.db_pool_size))
        return -1;
    if (cfg.stale_after_ms <= cfg.heartbeat_interval_ms) {
        fprintf(stderr, "meshd: STALE_AFTER_MS (%d) must exceed "
                        "HEARTBEAT_INTERVAL_MS (%d)\n",
                cfg.stale_after_ms, cfg.heartbeat_interval_ms);
        return -1;
    }
    if (random_hex(cfg.instance, 16) < 0) {
        fprintf(stderr, "meshd: no randomness from the OS\n");
        return -1;
    }
    return 0;
}
