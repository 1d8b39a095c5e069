/* Interface of norm.comp (dvk_layer_norm, dvk_rms_norm, dvk_l2_norm, dvk_group_norm): every
 * norm of deltavk_nn.h normalises segments of `len` consecutive elements (a row, or a group of
 * a row for GroupNorm). A team of TS invocations owns one segment; a workgroup holds
 * WG / TS teams, so short rows share a workgroup and long rows get one each. */
#ifndef DVK_NN_NORM_H
#define DVK_NN_NORM_H

#include "../../common/interface.h"

#define NORM_KIND_LAYER 0u /* (x − mean) / sqrt(var + eps): LayerNorm and GroupNorm */
#define NORM_KIND_RMS 1u   /* x · f(sqrt(mean(x²))) */
#define NORM_KIND_L2 2u    /* x · f(sqrt(Σx²)) */

/* f(n) of deltavk_nn.h's dvk_norm_eps (the same values). */
#define NORM_EPS_INSIDE 0u /* 1 / sqrt(n² + eps) */
#define NORM_EPS_CLAMP 1u  /* 1 / max(n, eps) */
#define NORM_EPS_ADD 2u    /* 1 / (n + eps) */

#define NORM_MAX_WG 1024 /* invocations per workgroup, at most */
#define NORM_MAX_E 16    /* elements per invocation held in registers, at most */

#define NORM_SPEC_WG 0       /* local_size_x: a power of two, a multiple of TS */
#define NORM_SPEC_TS 1       /* invocations per segment: a power of two */
#define NORM_SPEC_E 2        /* elements per invocation kept in registers (1..NORM_MAX_E);
                                0: rows too long for that, read from memory in each pass */
#define NORM_SPEC_KIND 3     /* NORM_KIND_* */
#define NORM_SPEC_EPS_MODE 4 /* NORM_EPS_* */
#define NORM_SPEC_HAS_W 5    /* 1: a weight tensor */
#define NORM_SPEC_HAS_B 6    /* 1: a bias tensor */
#define NORM_SPEC_HAS_G 7    /* 1: a gate tensor (y ⊙= silu(gate)) */
#define NORM_SPEC_X_DT 8     /* DVK_DT_* of each tensor */
#define NORM_SPEC_W_DT 9
#define NORM_SPEC_B_DT 10
#define NORM_SPEC_G_DT 11
#define NORM_SPEC_Y_DT 12
#define NORM_SPECS 13

#define NORM_BIND_X 0
#define NORM_BIND_W 1
#define NORM_BIND_B 2
#define NORM_BIND_G 3
#define NORM_BIND_Y 4
#define NORM_BINDINGS 5

DVK_PUSH_BEGIN(norm_push)
    uint32_t len;        /* elements per segment */
    uint32_t segs;       /* segments: rows × groups */
    uint32_t groups;     /* segments per row: segment s uses channels (s % groups)·len + j */
    float eps;
    float weight_offset; /* added to every weight element */
DVK_PUSH_END(norm_push)

#endif
