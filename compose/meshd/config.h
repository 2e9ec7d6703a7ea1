/* config.h: meshd's settings, read once from the environment by config_load
 * before any thread starts and read-only afterwards. */
#ifndef MESHD_CONFIG_H
#define MESHD_CONFIG_H

#include <stdbool.h>

struct config {
    int port;
    const char *pod_name;
    const char *database_url;
    const char *nats_url;
    const char *base_url;
    char origin[256];     /* BASE_URL without trailing slashes */
    int heartbeat_interval_ms;
    int stale_after_ms;
    int sse_ping_ms;
    int db_pool_size;
    bool secure_cookies;  /* BASE_URL is https */
    char instance[33];    /* random id of this process, unique per start */
};

extern struct config cfg;

/* Fills cfg from the environment. need_http is false for --migrate, which
 * needs only DATABASE_URL. Returns 0, or -1 after printing what is wrong. */
int config_load(bool need_http);

#endif
