/* runs.h: the runs this pod emits. A run belongs to the process whose
 * instance id is in threads.run_owner_instance (its name is in
 * threads.run_owner_pod); the owner writes chunk-1..chunk-N into
 * thread_message_parts, one every chunk_interval_ms, then marks the thread
 * completed. Each chunk is written only while this process still owns the
 * run (checked and locked in the same statement), so a run taken over by
 * another pod stops here before its next chunk, and no chunk is written
 * twice. */
#ifndef MESHD_RUNS_H
#define MESHD_RUNS_H

enum claim_result {
    CLAIM_OK,
    CLAIM_NOT_FOUND,   /* no such thread for this user */
    CLAIM_TAKEN,       /* the thread already had a run */
    CLAIM_UNAVAILABLE, /* Postgres unreachable, or shutting down */
    CLAIM_FAILED,
};

/* Claims an idle thread of user_id for a new run of total chunks and starts
 * emitting them. */
enum claim_result runs_claim_new(const char *thread_id, const char *user_id,
                                 const char *text, int total, int interval_ms);

/* Takes over a run whose owner (old_pod, old_instance) is gone, if no other
 * pod did first, and resumes it after its last persisted chunk. */
void runs_take_over(const char *thread_id, const char *old_pod,
                    const char *old_instance);

/* Stops every local run within timeout_ms (logging event=handover for each);
 * they stay owned by this instance in Postgres until a survivor claims them.
 * No run starts afterwards. */
void runs_stop_all(int timeout_ms);

#endif
