/* bug.h: the planted bugs. meshd compiled with -DMESHD_BUG=<name> carries
 * one known bug, so that a test can show a scenario finds it (`make
 * meshd-bugs` builds build/meshd-bug-<name> for each; README.md, "Planted
 * bugs"). Without the flag none is compiled in, and an unknown name stops
 * the build. Code holds a bug's variant under #if MESHD_BUG_IS(name),
 * next to the right code it replaces. */
#ifndef MESHD_BUG_H
#define MESHD_BUG_H

#define MESHD_BUG_ack_before_commit 1
#define MESHD_BUG_takeover_without_cas 2
#define MESHD_BUG_resume_skips_chunk 3
#define MESHD_BUG_stale_session_cache 4

#define MESHD_BUG_PASTE(prefix, name) prefix##name
#define MESHD_BUG_NUMBER(name) MESHD_BUG_PASTE(MESHD_BUG_, name)

#ifdef MESHD_BUG
#define MESHD_BUG_ID MESHD_BUG_NUMBER(MESHD_BUG)
#if MESHD_BUG_ID < 1
#error "MESHD_BUG names no planted bug (see compose/meshd/bug.h)"
#endif
#define MESHD_BUG_QUOTE(name) MESHD_BUG_STRING(name)
#define MESHD_BUG_STRING(name) #name
/* " bug=<name>", for the start event line */
#define MESHD_BUG_FIELD " bug=" MESHD_BUG_QUOTE(MESHD_BUG)
#else
#define MESHD_BUG_ID 0
#define MESHD_BUG_FIELD ""
#endif

/* True in the variant that carries the bug `name`. */
#define MESHD_BUG_IS(name) (MESHD_BUG_ID == MESHD_BUG_##name)

#endif
