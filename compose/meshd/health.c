/* health.c: liveness and readiness.
 *
 * Readiness checks both dependencies live: a NATS round trip
 * (NATS_BUDGET_MS) and a Postgres SELECT 1 (PG_BUDGET_MS). Each check runs
 * in a detached probe thread and the handler waits for both until
 * READY_WAIT_MS at most, so even a call that ignores its budget (a name
 * lookup stuck on an unreachable DNS server, say) cannot hold readiness:
 * a probe that has not answered by then counts as down, and finishes on
 * its own. A probe is freed by whichever of its two users lets go last. */
#include "handlers.h"

#include "bus.h"
#include "config.h"
#include "db.h"

#include <stdlib.h>

enum { NATS_BUDGET_MS = 300, PG_BUDGET_MS = 1000, READY_WAIT_MS = 1200 };

struct probe {
    bool (*check)(int budget_ms);
    int budget_ms;
    bool done, up;
    int users;
};

static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t probe_done;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

static void probe_init(void)
{
    cond_init_monotonic(&probe_done);
}

/* Drops one user of p (probe_lock held); frees it after the last. */
static void let_go(struct probe *p)
{
    if (--p->users == 0)
        free(p);
}

static void *run_probe(void *arg)
{
    struct probe *p = arg;
    bool up = p->check(p->budget_ms);
    pthread_mutex_lock(&probe_lock);
    p->up = up;
    p->done = true;
    pthread_cond_broadcast(&probe_done);
    let_go(p);
    pthread_mutex_unlock(&probe_lock);
    return NULL;
}

/* Starts check in a probe thread; NULL when no thread could start. */
static struct probe *start_probe(bool (*check)(int), int budget_ms)
{
    struct probe *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    *p = (struct probe){.check = check, .budget_ms = budget_ms, .users = 2};
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t tid;
    int rc = pthread_create(&tid, &attr, run_probe, p);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        free(p);
        return NULL;
    }
    return p;
}

/* The probe's answer, waiting until the monotonic deadline at most. */
static bool probe_result(struct probe *p, int64_t deadline)
{
    if (!p)
        return false;
    pthread_mutex_lock(&probe_lock);
    while (!p->done && cond_wait_until(&probe_done, &probe_lock, deadline))
        ;
    bool up = p->done && p->up;
    let_go(p);
    pthread_mutex_unlock(&probe_lock);
    return up;
}

void handle_live(struct request *r)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "status", "ok");
    cJSON_AddStringToObject(body, "pod", cfg.pod_name);
    reply_json(r, 200, body);
}

static void add_service(cJSON *services, const char *name, bool up)
{
    cJSON *service = cJSON_AddObjectToObject(services, name);
    cJSON_AddStringToObject(service, "status", up ? "up" : "down");
}

void handle_ready(struct request *r)
{
    pthread_once(&probe_once, probe_init);
    int64_t deadline = now_ms() + READY_WAIT_MS;
    struct probe *nats = start_probe(bus_check, NATS_BUDGET_MS);
    struct probe *pg = start_probe(db_ping, PG_BUDGET_MS);
    bool nats_up = probe_result(nats, deadline);
    bool pg_up = probe_result(pg, deadline);
    bool serving = pg_up && !http_stopping();
    const char *status = !serving ? "down" : nats_up ? "ok" : "degraded";
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "status", status);
    cJSON_AddStringToObject(body, "pod", cfg.pod_name);
    cJSON *services = cJSON_AddObjectToObject(body, "services");
    add_service(services, "postgres", pg_up);
    add_service(services, "nats", nats_up);
    reply_json(r, serving ? 200 : 503, body);
}
