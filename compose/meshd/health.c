/* health.c: liveness and readiness. Readiness checks both dependencies live
 * and within READY budget: a NATS round trip (NATS_BUDGET_MS) and a
 * SELECT 1 (PG_BUDGET_MS), so it answers in about 1.3 s at worst whatever
 * they do. 503 when Postgres is down (or the pod is shutting down); 200
 * with status "degraded" when only NATS is. */
#include "handlers.h"

#include "bus.h"
#include "config.h"
#include "db.h"

enum { NATS_BUDGET_MS = 300, PG_BUDGET_MS = 1000 };

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
    bool nats_up = bus_check(NATS_BUDGET_MS);
    bool pg_up = db_ping(PG_BUDGET_MS);
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
