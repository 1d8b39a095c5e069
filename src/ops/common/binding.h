/* Binding helpers the operators' host code shares. */
#ifndef DVK_OPS_COMMON_BINDING_H
#define DVK_OPS_COMMON_BINDING_H

#include "core/internal.h"

/* The same memory bound read-only: a scratch result a later pass reads. */
static inline dvk_binding dvk__as_input(dvk_binding b)
{
    b.write = false;
    return b;
}

#endif
