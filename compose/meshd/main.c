/* main.c: meshd, the reference app under test for mpod-lua.
 *
 *   meshd [--migrate | --skip-migrations]
 *
 * Startup: read the environment, apply the schema (unless
 * --skip-migrations; --migrate applies it and exits), then the Postgres
 * pool, NATS, the recovery loop (heartbeat and takeovers) and the HTTP
 * server. SIGTERM and SIGINT are blocked in every thread and taken by
 * sigwait here, so no code runs in signal context. Shutdown order matters:
 * stop accepting connections, stop the recovery loop (no more heartbeats or
 * takeovers), stop the local runs, remove the heartbeat so survivors take
 * the runs over at once, end the streams, then close everything. */
#include "bug.h"
#include "bus.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "hub.h"
#include "log.h"
#include "recovery.h"
#include "runs.h"
#include "schema.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { MIGRATE_WAIT_MS = 30000, RUN_STOP_MS = 1500 };

static const char usage[] =
    "usage: meshd [--migrate | --skip-migrations]\n"
    "environment: PORT POD_NAME DATABASE_URL NATS_URL BASE_URL\n"
    "  [HEARTBEAT_INTERVAL_MS=1000] [STALE_AFTER_MS=3000] [SSE_PING_MS=15000]\n"
    "  [DB_POOL_SIZE=8]; --migrate needs only DATABASE_URL\n";

static int parse_flags(int argc, char **argv, bool *migrate, bool *skip)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--migrate") == 0)
            *migrate = true;
        else if (strcmp(argv[i], "--skip-migrations") == 0)
            *skip = true;
        else
            return -1;
    }
    return *migrate && *skip ? -1 : 0;
}

static int serve(bool skip_migrations)
{
    log_event("start", "port=%d pid=%d instance=%s" MESHD_BUG_FIELD, cfg.port,
              (int)getpid(), cfg.instance);
    if (!skip_migrations && schema_migrate(MIGRATE_WAIT_MS) < 0)
        return 1;
    if (db_init() < 0 || bus_start() < 0 || recovery_start() < 0)
        return 1;
    if (http_start() < 0) {
        log_event("listen_failed", "port=%d", cfg.port);
        return 1;
    }
    log_event("ready", "port=%d", cfg.port);
    return 0;
}

static void shut_down(int sig)
{
    log_event("shutdown", "signal=%s", sig == SIGTERM ? "TERM" : "INT");
    http_quiesce();
    recovery_stop();
    runs_stop_all(RUN_STOP_MS);
    recovery_handover();
    hub_close();
    http_stop();
    bus_stop();
    db_shutdown();
    log_event("exit", "status=0");
}

int main(int argc, char **argv)
{
    bool migrate = false, skip = false;
    if (parse_flags(argc, argv, &migrate, &skip) < 0) {
        fputs(usage, stderr);
        return 2;
    }
    if (config_load(!migrate) < 0)
        return 2;
    signal(SIGPIPE, SIG_IGN);
    if (migrate)
        return schema_migrate(MIGRATE_WAIT_MS) == 0 ? 0 : 1;
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    if (serve(skip) != 0)
        return 1;
    int sig = 0;
    sigwait(&stop_signals, &sig);
    shut_down(sig);
    return 0;
}
