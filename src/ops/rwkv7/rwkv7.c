/* Host side of RWKV-7's time mixing (dvk_rwkv7): its inputs mapped onto the generalized delta
 * rule (src/ops/dplr/dplr.h) — q = r, gk = w, and a, b bound to kappa and alpha, from which
 * the kernels form a = -kappa and b = kappa * alpha (the rwkv7 flag) — with scale 1 by
 * default. dvk_ref_rwkv7 (reference.c) is the same mapping in the C reference. */
#include "ops/dplr/dplr.h"

dvk_status dvk_rwkv7(dvk_cmd *cmd, const dvk_rwkv7_desc *d)
{
    if (!d) {
        DVK_TRY(dvk__cmd_check_recording(cmd));
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "desc is NULL");
    }
    const dvk__dplr_args args = {
        .q = d->r, .k = d->k, .v = d->v, .a = d->kappa, .b = d->alpha, .gk = d->w, .o = d->o,
        .q_name = "r", .a_name = "kappa", .b_name = "alpha", .gk_name = "w",
        .h0 = d->initial_state, .ht = d->final_state, .scale = d->scale, .default_scale = 1.0f,
        .mode = d->mode, .cu_seqlens = d->cu_seqlens, .num_seqs = d->num_seqs,
        .chunk_size = d->chunk_size, .readout = DVK_READOUT_VALUE, .rwkv7 = true,
    };
    return dvk__dplr_record(cmd, &args);
}
