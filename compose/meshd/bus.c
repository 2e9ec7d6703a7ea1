/* bus.c: the NATS side of meshd (see bus.h). libnats calls the connection
 * and message handlers below on its own threads; they only log, parse and
 * hand over to the hub or the recovery loop. Connection state transitions
 * are logged once each as event=nats_up / event=nats_down. */
#include "bus.h"

#include "config.h"
#include "hub.h"
#include "log.h"
#include "recovery.h"

#include <cJSON.h>
#include <nats/nats.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREAD_PREFIX "meshd.thread."
#define HANDOVER_SUBJECT "meshd.pods.handover"

static natsConnection *conn;
static natsSubscription *thread_sub, *handover_sub;
static atomic_int nats_state = -1; /* -1 unknown, 0 down, 1 up */
static atomic_bool closing;

static void note_state(int up)
{
    if (!atomic_load(&closing) && atomic_exchange(&nats_state, up) != up)
        log_event(up ? "nats_up" : "nats_down", "url=%s", cfg.nats_url);
}

static void on_up(natsConnection *nc, void *closure)
{
    (void)nc, (void)closure;
    note_state(1);
}

static void on_down(natsConnection *nc, void *closure)
{
    (void)nc, (void)closure;
    note_state(0);
}

/* Feeds one "meshd.thread.<id>" message to the hub. */
static void on_thread_msg(natsConnection *nc, natsSubscription *sub,
                          natsMsg *msg, void *closure)
{
    (void)nc, (void)sub, (void)closure;
    const char *thread_id = natsMsg_GetSubject(msg) + strlen(THREAD_PREFIX);
    cJSON *j = cJSON_ParseWithLength(natsMsg_GetData(msg),
                                     (size_t)natsMsg_GetDataLength(msg));
    cJSON *seq = cJSON_GetObjectItem(j, "seq");
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(j, "text"));
    const char *pod = cJSON_GetStringValue(cJSON_GetObjectItem(j, "pod"));
    if (cJSON_IsTrue(cJSON_GetObjectItem(j, "done")))
        hub_deliver_done(thread_id);
    else if (cJSON_IsNumber(seq) && text && pod)
        hub_deliver_part(thread_id, (long)seq->valuedouble, text, pod);
    cJSON_Delete(j);
    natsMsg_Destroy(msg);
}

static void on_handover_msg(natsConnection *nc, natsSubscription *sub,
                            natsMsg *msg, void *closure)
{
    (void)nc, (void)sub, (void)closure;
    recovery_wake();
    natsMsg_Destroy(msg);
}

static natsStatus configure(natsOptions *opts)
{
    char name[96];
    snprintf(name, sizeof name, "meshd-%s", cfg.pod_name);
    natsStatus s = natsOptions_SetURL(opts, cfg.nats_url);
    if (s == NATS_OK) s = natsOptions_SetName(opts, name);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 250);
    if (s == NATS_OK) s = natsOptions_SetTimeout(opts, 1000);
    if (s == NATS_OK) s = natsOptions_SetPingInterval(opts, 2000);
    if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts, 2);
    if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, on_down, NULL);
    if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, on_up, NULL);
    if (s == NATS_OK) s = natsOptions_SetRetryOnFailedConnect(opts, true, on_up, NULL);
    return s;
}

int bus_start(void)
{
    natsOptions *opts = NULL;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK)
        s = configure(opts);
    if (s == NATS_OK) {
        s = natsConnection_Connect(&conn, opts);
        note_state(s == NATS_OK);
        if (s == NATS_NOT_YET_CONNECTED)
            s = NATS_OK;
    }
    natsOptions_Destroy(opts);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&thread_sub, conn, THREAD_PREFIX "*",
                                     on_thread_msg, NULL);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&handover_sub, conn, HANDOVER_SUBJECT,
                                     on_handover_msg, NULL);
    if (s != NATS_OK) {
        log_event("nats_error", "error=\"%s\"", natsStatus_GetText(s));
        return -1;
    }
    return 0;
}

void bus_stop(void)
{
    atomic_store(&closing, true);
    natsSubscription_Unsubscribe(thread_sub);
    natsSubscription_Unsubscribe(handover_sub);
    natsSubscription_Destroy(thread_sub);
    natsSubscription_Destroy(handover_sub);
    natsConnection_Close(conn);
    natsConnection_Destroy(conn);
    nats_CloseAndWait(2000);
}

bool bus_connected(void)
{
    return natsConnection_Status(conn) == NATS_CONN_STATUS_CONNECTED;
}

bool bus_check(int budget_ms)
{
    return bus_connected() && natsConnection_FlushTimeout(conn, budget_ms) == NATS_OK;
}

static void publish_json(const char *subject, cJSON *payload)
{
    char *data = payload ? cJSON_PrintUnformatted(payload) : NULL;
    if (data)
        natsConnection_PublishString(conn, subject, data);
    free(data);
    cJSON_Delete(payload);
}

void bus_publish_part(const char *thread_id, long seq, const char *text)
{
    char subject[80];
    snprintf(subject, sizeof subject, THREAD_PREFIX "%s", thread_id);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "seq", (double)seq);
    cJSON_AddStringToObject(j, "text", text);
    cJSON_AddStringToObject(j, "pod", cfg.pod_name);
    publish_json(subject, j);
}

void bus_publish_done(const char *thread_id)
{
    char subject[80];
    snprintf(subject, sizeof subject, THREAD_PREFIX "%s", thread_id);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddTrueToObject(j, "done");
    publish_json(subject, j);
}

void bus_publish_handover(int budget_ms)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "pod", cfg.pod_name);
    publish_json(HANDOVER_SUBJECT, j);
    natsConnection_FlushTimeout(conn, budget_ms);
}
