/*
 * logpump.h: the --log-pump mode of the mpod-lua binary (logpump.c).
 */
#ifndef MPOD_LOGPUMP_H
#define MPOD_LOGPUMP_H

/* argv: mpod-lua --log-pump FILE CAP; returns the exit code. */
int mp_logpump_main(int argc, char **argv);

#endif
