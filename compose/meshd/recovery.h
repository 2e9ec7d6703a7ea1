/* recovery.h: the pod's heartbeat in the pods table and the takeover of
 * runs whose owner stopped heartbeating (or handed them over). */
#ifndef MESHD_RECOVERY_H
#define MESHD_RECOVERY_H

/* Writes a first heartbeat (when Postgres is up) and starts the loop that
 * heartbeats every HEARTBEAT_INTERVAL_MS and takes over orphaned runs. */
int recovery_start(void);

/* Makes the loop look for orphaned runs now (a pod announced a handover). */
void recovery_wake(void);

/* Stops the loop; then removes this pod's heartbeat row so survivors take
 * its runs over at once, and tells them over NATS. */
void recovery_stop(void);
void recovery_handover(void);

#endif
