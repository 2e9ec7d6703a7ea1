/* recovery.c: the recovery loop (see recovery.h).
 *
 * Heartbeats go into pods(name, instance, heartbeat_at); the instance id
 * changes at every start, so the runs of a pod that was killed and started
 * again under the same name count as orphaned at once. A run is orphaned
 * when no pods row has its owner's name and instance, or that row's
 * heartbeat is older than STALE_AFTER_MS (Postgres's clock on both sides).
 * This pod only takes runs over after its own heartbeats have succeeded for
 * STALE_AFTER_MS in a row: right after a Postgres outage every heartbeat
 * looks stale, and the others must get the chance to refresh theirs. */
#include "recovery.h"

#include "bus.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "runs.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>

enum { HANDOVER_FLUSH_MS = 500 };

static struct {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop, woken, started;
} rec = {.lock = PTHREAD_MUTEX_INITIALIZER};

static pthread_once_t rec_once = PTHREAD_ONCE_INIT;

static void rec_init(void)
{
    cond_init_monotonic(&rec.wake);
}

static bool heartbeat(void)
{
    const char *params[] = {cfg.pod_name, cfg.instance};
    PGresult *res;
    enum db_status st = db_query(
        &res,
        "INSERT INTO pods (name, instance, started_at, heartbeat_at)"
        " VALUES ($1, $2, now(), now())"
        " ON CONFLICT (name) DO UPDATE SET heartbeat_at = now(),"
        "   instance = EXCLUDED.instance,"
        "   started_at = CASE WHEN pods.instance = EXCLUDED.instance"
        "     THEN pods.started_at ELSE now() END",
        2, params);
    if (st == DB_OK)
        PQclear(res);
    return st == DB_OK;
}

/* Finds orphaned runs and tries to take each over. */
static void take_over_orphans(void)
{
    char stale[16];
    snprintf(stale, sizeof stale, "%d", cfg.stale_after_ms);
    const char *params[] = {stale, cfg.instance};
    PGresult *res;
    if (db_query(&res,
                 "SELECT t.id, t.run_owner_pod, t.run_owner_instance"
                 " FROM threads t LEFT JOIN pods p"
                 "   ON p.name = t.run_owner_pod AND p.instance = t.run_owner_instance"
                 " WHERE t.status = 'in_progress'"
                 "   AND t.run_owner_instance IS DISTINCT FROM $2"
                 "   AND (p.name IS NULL"
                 "     OR p.heartbeat_at < now() - $1 * interval '1 millisecond')"
                 " ORDER BY t.run_claimed_at LIMIT 50",
                 2, params) != DB_OK)
        return;
    for (int i = 0; i < PQntuples(res); i++)
        runs_take_over(PQgetvalue(res, i, 0), db_text(res, i, 1),
                       db_text(res, i, 2));
    PQclear(res);
}

/* Waits for the next beat or a wake-up; false when told to stop. */
static bool wait_next_beat(void)
{
    int64_t deadline = now_ms() + cfg.heartbeat_interval_ms;
    pthread_mutex_lock(&rec.lock);
    while (!rec.stop && !rec.woken &&
           cond_wait_until(&rec.wake, &rec.lock, deadline))
        ;
    rec.woken = false;
    bool go_on = !rec.stop;
    pthread_mutex_unlock(&rec.lock);
    return go_on;
}

static void *recovery_main(void *arg)
{
    (void)arg;
    int64_t healthy_since = -1;
    do {
        if (!heartbeat()) {
            healthy_since = -1;
            continue;
        }
        if (healthy_since < 0)
            healthy_since = now_ms();
        if (now_ms() - healthy_since >= cfg.stale_after_ms)
            take_over_orphans();
    } while (wait_next_beat());
    return NULL;
}

int recovery_start(void)
{
    pthread_once(&rec_once, rec_init);
    heartbeat();
    if (pthread_create(&rec.thread, NULL, recovery_main, NULL) != 0)
        return -1;
    rec.started = true;
    return 0;
}

void recovery_wake(void)
{
    pthread_once(&rec_once, rec_init);
    pthread_mutex_lock(&rec.lock);
    rec.woken = true;
    pthread_cond_signal(&rec.wake);
    pthread_mutex_unlock(&rec.lock);
}

void recovery_stop(void)
{
    if (!rec.started)
        return;
    pthread_mutex_lock(&rec.lock);
    rec.stop = true;
    pthread_cond_signal(&rec.wake);
    pthread_mutex_unlock(&rec.lock);
    pthread_join(rec.thread, NULL);
    rec.started = false;
}

void recovery_handover(void)
{
    const char *params[] = {cfg.pod_name, cfg.instance};
    PGresult *res;
    if (db_query(&res, "DELETE FROM pods WHERE name = $1 AND instance = $2",
                 2, params) == DB_OK) {
        PQclear(res);
        log_plain("deregistered");
    } else {
        log_plain("deregister_failed");
    }
    bus_publish_handover(HANDOVER_FLUSH_MS);
}
