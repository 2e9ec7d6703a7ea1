/*
 * bundle.h: the Lua half of the engine, compiled into the binary. The table
 * is generated at build time by gen_bundle from lua/ (each module as Lua
 * bytecode with its debug information) and ends with a zeroed entry;
 * host.c registers each chunk in package.preload.
 */
#ifndef MPOD_BUNDLE_H
#define MPOD_BUNDLE_H

#include <stddef.h>

typedef struct {
    const char *module;      /* "mpod.http" */
    const char *chunkname;   /* "=mpod/http.lua" */
    const unsigned char *bytecode;
    size_t len;
} mp_bundled_chunk;

extern const mp_bundled_chunk mp_bundle[];

#endif
