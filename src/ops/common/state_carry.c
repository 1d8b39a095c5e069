/* The recurrent state carried between the dispatches of a sequential pass (state_carry.h). */
#include "ops/common/state_carry.h"

#include <string.h>

dvk_status dvk__carry_init(dvk_cmd *cmd, const dvk__rec *r, uint32_t segments, dvk__carry *c)
{
    memset(c, 0, sizeof *c);
    const dvk_binding none = dvk__bind_dummy(cmd);
    c->segments = segments ? segments : 1;
    c->has_h0 = r->h0 != NULL;
    c->has_ht = r->ht != NULL;
    c->h0 = c->has_h0 ? dvk__bind_read(r->h0) : none;
    /* the kernels' state output is writable: without final_state, a dummy write */
    c->ht = c->has_ht ? dvk__bind_write(r->ht) : dvk__bind_dummy_write(cmd);
    c->carry = none;
    if (c->segments > 1) {
        if (c->has_ht)
            c->carry = c->ht;
        else
            DVK_TRY(dvk__cmd_scratch(cmd, (uint64_t)r->N * r->HV * r->K * r->V * 4, &c->carry));
    }
    return DVK_SUCCESS;
}

void dvk__carry_segment(const dvk__carry *c, uint32_t i, dvk_binding *in, bool *use_in,
                        dvk_binding *out, bool *store_out)
{
    *use_in = i > 0 || c->has_h0;
    *in = i == 0 ? c->h0 : c->carry;
    in->write = false;
    *store_out = i + 1 < c->segments || c->has_ht;
    *out = i + 1 < c->segments ? c->carry : c->ht;
}
