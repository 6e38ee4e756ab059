/* profile.h — timing hooks for `pldr-native bench model --parts` (build/pldr-native-prof only,
 * -DPLDR_PROFILE): milliseconds by part of the forward pass, summed over calls. A function that
 * is one part starts with PROFILE_SCOPE(part); nothing else in the math knows about it. */
#ifndef PLDR_PROFILE_H
#define PLDR_PROFILE_H

enum { PROF_EMBED, PROF_PROJ, PROF_ROPE, PROF_ANET, PROF_ATTN, PROF_NORM, PROF_FFN, PROF_HEAD, PROF_N };

#ifdef PLDR_PROFILE
#include "../platform.h"
extern double pldr_profile_ms[PROF_N];
typedef struct { int part; double t0; } profile_span;
static inline void profile_end(profile_span *p) { pldr_profile_ms[p->part] += pldr_now_ms() - p->t0; }
#define PROFILE_SCOPE(part) \
    profile_span profile_span_ __attribute__((cleanup(profile_end))) = {(part), pldr_now_ms()}
#else
#define PROFILE_SCOPE(part) ((void)0)
#endif

#endif
