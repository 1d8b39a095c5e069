/* Host side of one Infini-attention segment: argument checks, then the passes
 *   rope           q' = rope(scale q), k' = rope(k) into scratch   (shaders/ops/rope/)
 *   softmax_attn   o = causal softmax attention of q', k', v        (shaders/ops/softmax_attn/)
 *   retrieve       with a past memory: o = σ(g) o + (1 − σ(g)) r(q')  (shaders/ops/infini_attn/)
 *   retrieve       with the delta rule and a past memory: v' = v − r(k')
 *   chunk_state    the memory update M += φ(K')ᵀ V', z += Σ φ(k')    (linear attention's pass)
 * See deltavk.h. */
#include "ops/common/alias.h"
#include "ops/common/binding.h"
#include "ops/common/device_fit.h"
#include "ops/linear_attn/linear_attn.h"
#include "ops/rope/rope.h"
#include "ops/softmax_attn/softmax_attn.h"

#include "shaders/ops/infini_attn/retrieve.h"
#include "shaders/ops/infini_attn/update_cpu.h"

#include <math.h>
#include <string.h>

/* The kernels laid out for CPU devices (retrieve_cpu.comp, update_cpu.comp), by [fp16 io]. */
static const dvk_ops_kernel retrieve_cpu_kernels[2] = {DVK_OPS_K_INFINI_ATTN_RETRIEVE_CPU_F32,
                                                       DVK_OPS_K_INFINI_ATTN_RETRIEVE_CPU_F16};
static const dvk_ops_kernel update_cpu_kernels[2] = {DVK_OPS_K_INFINI_ATTN_UPDATE_CPU_F32,
                                                     DVK_OPS_K_INFINI_ATTN_UPDATE_CPU_F16};

/* out = in σ(gate) + r(x) (1 − σ(gate)), or out = in − r(x) (delta), on a CPU device. */
static dvk_status record_retrieve_cpu(dvk_cmd *cmd, const dvk__rec *r, uint32_t lanes,
                                      dvk_binding x, const dvk_binding *mem_bindings,
                                      dvk_binding in, dvk_binding out, bool delta, float eps)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    const uint32_t cpl = dvk__cpu_columns(r->K, r->V), bt = 64;
    const dvk_pipeline_key key = {
        .kernel = retrieve_cpu_kernels[r->dtype == DVK_DTYPE_F16],
        .binding_count = INFINI_ATTN_RETRIEVE_BINDINGS,
        .push_size = sizeof(infini_attn_retrieve_push),
        .spec_count = INFINI_ATTN_RETRIEVE_SPECS,
        .spec = {
            [INFINI_ATTN_RETRIEVE_SPEC_D] = r->K,
            [INFINI_ATTN_RETRIEVE_SPEC_DV] = r->V,
            [INFINI_ATTN_RETRIEVE_SPEC_BT] = bt,
            [INFINI_ATTN_RETRIEVE_SPEC_DELTA] = delta,
            [INFINI_ATTN_RETRIEVE_SPEC_LANES] = lanes,
            [INFINI_ATTN_RETRIEVE_SPEC_CPL] = cpl,
        },
    };
    const dvk_pipeline *pipe;
    DVK_TRY(dvk__pipeline_get(ctx, &key, &pipe));
    const dvk_binding b[INFINI_ATTN_RETRIEVE_BINDINGS] = {
        [INFINI_ATTN_RETRIEVE_BIND_X] = x,
        [INFINI_ATTN_RETRIEVE_BIND_MEM] = mem_bindings[0],
        [INFINI_ATTN_RETRIEVE_BIND_MEM_Z] = mem_bindings[1],
        [INFINI_ATTN_RETRIEVE_BIND_GATE] = mem_bindings[2],
        [INFINI_ATTN_RETRIEVE_BIND_IN] = in,
        [INFINI_ATTN_RETRIEVE_BIND_OUT] = out,
    };
    const infini_attn_retrieve_push pc = {
        .T = r->T,
        .H = r->H,
        .vtiles = (uint32_t)dvk__ceil_div(r->V, lanes * cpl),
        .eps = eps,
    };
    return dvk__cmd_dispatch(cmd, pipe, b, &pc, (uint32_t)dvk__ceil_div(r->T, bt), r->H,
                             r->B * pc.vtiles);
}

/* The memory update M' = M + φ(K')ᵀV, z' = z + Σ φ(k') on a CPU device (update_cpu.comp). */
static dvk_status record_update_cpu(dvk_cmd *cmd, const dvk__rec *r, uint32_t lanes,
                                    dvk_binding k, dvk_binding v, const dvk_infini_attn_desc *d)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    const uint32_t cpl = dvk__cpu_columns(r->K, r->V);
    const dvk_pipeline_key key = {
        .kernel = update_cpu_kernels[r->dtype == DVK_DTYPE_F16],
        .binding_count = INFINI_ATTN_UPDATE_CPU_BINDINGS,
        .push_size = sizeof(infini_attn_update_cpu_push),
        .spec_count = INFINI_ATTN_UPDATE_CPU_SPECS,
        .spec = {
            [INFINI_ATTN_UPDATE_CPU_SPEC_D] = r->K,
            [INFINI_ATTN_UPDATE_CPU_SPEC_DV] = r->V,
            [INFINI_ATTN_UPDATE_CPU_SPEC_LANES] = lanes,
            [INFINI_ATTN_UPDATE_CPU_SPEC_CPL] = cpl,
            [INFINI_ATTN_UPDATE_CPU_SPEC_USE_MEM] = d->memory != NULL,
        },
    };
    const dvk_pipeline *pipe;
    DVK_TRY(dvk__pipeline_get(ctx, &key, &pipe));
    const dvk_binding none = dvk__bind_dummy(cmd);
    const dvk_binding b[INFINI_ATTN_UPDATE_CPU_BINDINGS] = {
        [INFINI_ATTN_UPDATE_CPU_BIND_K] = k,
        [INFINI_ATTN_UPDATE_CPU_BIND_V] = v,
        [INFINI_ATTN_UPDATE_CPU_BIND_MEM] = d->memory ? dvk__bind_read(d->memory) : none,
        [INFINI_ATTN_UPDATE_CPU_BIND_MEM_Z] = d->memory ? dvk__bind_read(d->memory_z) : none,
        [INFINI_ATTN_UPDATE_CPU_BIND_OUT] = dvk__bind_write(d->final_memory),
        [INFINI_ATTN_UPDATE_CPU_BIND_OUT_Z] = dvk__bind_write(d->final_z),
    };
    const infini_attn_update_cpu_push pc = {.T = r->T, .H = r->H};
    return dvk__cmd_dispatch(cmd, pipe, b, &pc, (uint32_t)dvk__ceil_div(r->V, lanes * cpl),
                             r->H, r->B);
}

/* out = in σ(gate) + r(x) (1 − σ(gate)), or out = in − r(x) (delta). */
static dvk_status record_retrieve(dvk_cmd *cmd, const dvk__rec *r, dvk_binding x,
                                  const dvk_tensor *mem, const dvk_tensor *mem_z,
                                  const dvk_tensor *gate, dvk_binding in, dvk_binding out,
                                  bool delta, float eps)
{
    dvk_context *ctx = dvk__cmd_context(cmd);
    const dvk_device_info *info = &ctx->info;
    const uint32_t lanes = dvk__cpu_lanes(ctx, retrieve_cpu_kernels[r->dtype == DVK_DTYPE_F16]);
    if (lanes) {
        const dvk_binding mb[3] = {dvk__bind_read(mem), dvk__bind_read(mem_z),
                                   dvk__bind_read(gate)};
        return record_retrieve_cpu(cmd, r, lanes, x, mb, in, out, delta, eps);
    }
    const uint32_t wg = dvk__floor_pow2(dvk__workgroup_limit(info, 256));
    if (wg < 64)
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED, "Infini-attention needs 64 invocations per "
                                                   "workgroup");
    const uint32_t gm = wg / 16, bt = 64;
    uint32_t bv = 64, kt = 32;
    while (4 * (bt * (kt + 1) + kt * bv + kt + bt) > info->max_shared_memory && kt > 8)
        kt /= 2;
    while (4 * (bt * (kt + 1) + kt * bv + kt + bt) > info->max_shared_memory && bv > 16)
        bv /= 2;
    if (4 * (bt * (kt + 1) + kt * bv + kt + bt) > info->max_shared_memory || bt % gm)
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED, "Infini-attention: the retrieval does not fit "
                                                   "the device's shared memory");
    const dvk_pipeline_key key = {
        .kernel = r->dtype == DVK_DTYPE_F16 ? DVK_OPS_K_INFINI_ATTN_RETRIEVE_F16
                                            : DVK_OPS_K_INFINI_ATTN_RETRIEVE_F32,
        .binding_count = INFINI_ATTN_RETRIEVE_BINDINGS,
        .push_size = sizeof(infini_attn_retrieve_push),
        .spec_count = INFINI_ATTN_RETRIEVE_SPECS,
        .spec = {
            [INFINI_ATTN_RETRIEVE_SPEC_D] = r->K,
            [INFINI_ATTN_RETRIEVE_SPEC_DV] = r->V,
            [INFINI_ATTN_RETRIEVE_SPEC_BT] = bt,
            [INFINI_ATTN_RETRIEVE_SPEC_BV] = bv,
            [INFINI_ATTN_RETRIEVE_SPEC_KT] = kt,
            [INFINI_ATTN_RETRIEVE_SPEC_WG] = wg,
            [INFINI_ATTN_RETRIEVE_SPEC_GN] = 16,
            [INFINI_ATTN_RETRIEVE_SPEC_DELTA] = delta,
        },
    };
    const dvk_pipeline *pipe;
    DVK_TRY(dvk__pipeline_get(ctx, &key, &pipe));
    const dvk_binding b[INFINI_ATTN_RETRIEVE_BINDINGS] = {
        [INFINI_ATTN_RETRIEVE_BIND_X] = x,
        [INFINI_ATTN_RETRIEVE_BIND_MEM] = dvk__bind_read(mem),
        [INFINI_ATTN_RETRIEVE_BIND_MEM_Z] = dvk__bind_read(mem_z),
        [INFINI_ATTN_RETRIEVE_BIND_GATE] = dvk__bind_read(gate),
        [INFINI_ATTN_RETRIEVE_BIND_IN] = in,
        [INFINI_ATTN_RETRIEVE_BIND_OUT] = out,
    };
    const infini_attn_retrieve_push pc = {
        .T = r->T,
        .H = r->H,
        .vtiles = (uint32_t)dvk__ceil_div(r->V, bv),
        .eps = eps,
    };
    return dvk__cmd_dispatch(cmd, pipe, b, &pc, (uint32_t)dvk__ceil_div(r->T, bt), r->H,
                             r->B * pc.vtiles);
}

dvk_status dvk_infini_attn(dvk_cmd *cmd, const dvk_infini_attn_desc *d)
{
    DVK_TRY(dvk__cmd_check_recording(cmd));
    if (!d)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "desc is NULL");
    dvk_context *ctx = dvk__cmd_context(cmd);
    const uint64_t any = UINT64_MAX;
    DVK_TRY(dvk__check_tensor(ctx, "q", d->q, 4, (uint64_t[]){any, any, any, any},
                              DVK_DTYPE_DEFAULT));
    const uint64_t *s = d->q->shape;
    if (s[0] > 65535 || s[2] > 65535 || s[1] > (1u << 30))
        return dvk__fail(DVK_ERROR_LIMIT_EXCEEDED, "q: batch and heads must be < 65536");
    dvk__linear_attn p;
    memset(&p, 0, sizeof p);
    dvk__rec *r = &p.r;
    r->B = r->N = (uint32_t)s[0];
    r->T = r->max_len = (uint32_t)s[1];
    r->H = r->HV = (uint32_t)s[2];
    r->K = (uint32_t)s[3];
    r->dtype = d->q->dtype;
    DVK_TRY(dvk__check_tensor(ctx, "k", d->k, 4, s, r->dtype));
    DVK_TRY(dvk__check_tensor(ctx, "v", d->v, 4, (uint64_t[]){r->B, r->T, r->H, any}, r->dtype));
    r->V = (uint32_t)d->v->shape[3];
    DVK_TRY(dvk__check_tensor(ctx, "o", d->o, 4, d->v->shape, r->dtype));
    DVK_TRY(dvk__check_tensor(ctx, "gate", d->gate, 1, (uint64_t[]){r->H}, DVK_DTYPE_F32));
    if (r->K > 256 || r->V > 256)
        return dvk__fail(DVK_ERROR_UNSUPPORTED, "D = %u and DV = %u must be in [1, 256]", r->K,
                         r->V);
    if (d->rope && r->K % 2)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "rope needs an even D (D = %u)", r->K);
    if (r->dtype == DVK_DTYPE_F16 && !ctx->info.fp16_storage)
        return dvk__fail(DVK_ERROR_UNSUPPORTED_DTYPE,
                         "fp16 tensors need storageBuffer16BitAccess, which %s lacks",
                         ctx->info.name);
    if (!d->memory != !d->memory_z)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "memory and memory_z go together");
    if (!d->final_memory != !d->final_z)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "final_memory and final_z go together");
    const uint64_t m_shape[4] = {r->B, r->H, r->K, r->V}, z_shape[3] = {r->B, r->H, r->K};
    if (d->memory) {
        DVK_TRY(dvk__check_tensor(ctx, "memory", d->memory, 4, m_shape, DVK_DTYPE_F32));
        DVK_TRY(dvk__check_tensor(ctx, "memory_z", d->memory_z, 3, z_shape, DVK_DTYPE_F32));
    }
    if (d->final_memory) {
        DVK_TRY(dvk__check_tensor(ctx, "final_memory", d->final_memory, 4, m_shape,
                                  DVK_DTYPE_F32));
        DVK_TRY(dvk__check_tensor(ctx, "final_z", d->final_z, 3, z_shape, DVK_DTYPE_F32));
    }
    /* Every pass reads q, k and v while o is written, and the memory's passes read memory
     * while final_memory is written; the memory may be updated in place. */
    const dvk__alias_in in[] = {
        {"q", d->q}, {"k", d->k}, {"v", d->v}, {"gate", d->gate},
        {"memory", d->memory}, {"memory_z", d->memory_z},
    };
    const dvk__alias_out out[] = {
        {"o", d->o, NULL}, {"final_memory", d->final_memory, d->memory},
        {"final_z", d->final_z, d->memory_z},
    };
    DVK_TRY(dvk__check_aliasing(in, sizeof in / sizeof in[0], out, sizeof out / sizeof out[0]));
    if (!isfinite(d->scale) || !isfinite(d->rope_theta) || d->rope_theta < 0.0f ||
        !isfinite(d->eps) || d->eps < 0.0f)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                         "scale, rope_theta and eps must be finite (rope_theta, eps >= 0)");
    const float scale = d->scale != 0.0f ? d->scale : 1.0f / sqrtf((float)r->K);
    const float eps = d->eps != 0.0f ? d->eps : 1e-10f;

    /* q' = rope(scale q), k' = rope(k), in the storage dtype */
    dvk_binding qr, kr;
    DVK_TRY(dvk__cmd_scratch(cmd, d->q->bytes, &qr));
    DVK_TRY(dvk__cmd_scratch(cmd, d->k->bytes, &kr));
    dvk__rope rope = {
        .B = r->B, .T = r->T, .H = r->H, .D = r->K, .rotary_dim = d->rope ? r->K : 0,
        .theta = d->rope_theta != 0.0f ? d->rope_theta : 10000.0f, .scale = scale,
        .dtype = r->dtype, .x = dvk__bind_read(d->q), .y = qr,
    };
    dvk__rope_tab rtab; /* q and k share positions: one set of tables */
    DVK_TRY(dvk__rope_tables(cmd, &rope, &rtab));
    DVK_TRY(dvk__record_rope_with(cmd, &rope, &rtab));
    rope.scale = 1.0f;
    rope.x = dvk__bind_read(d->k);
    rope.y = kr;
    DVK_TRY(dvk__record_rope_with(cmd, &rope, &rtab));
    qr = dvk__as_input(qr);
    kr = dvk__as_input(kr);

    /* local attention */
    const dvk__softmax_attn sa = {
        .B = r->B, .T = r->T, .H = r->H, .D = r->K, .DV = r->V, .segment = r->T, .scale = 1.0f,
        .dtype = r->dtype, .q = qr, .k = kr, .v = dvk__bind_read(d->v),
        .o = dvk__bind_write(d->o),
    };
    DVK_TRY(dvk__record_softmax_attn(cmd, &sa));

    /* retrieval from the past memory, mixed in by the gates */
    if (d->memory)
        DVK_TRY(record_retrieve(cmd, r, qr, d->memory, d->memory_z, d->gate,
                                dvk__as_input(dvk__bind_write(d->o)), dvk__bind_write(d->o),
                                false, eps));
    if (!d->final_memory)
        return DVK_SUCCESS;

    /* the memory update, with the delta rule's corrected values */
    dvk_binding v = dvk__bind_read(d->v);
    if (d->delta_rule && d->memory) {
        dvk_binding vd;
        DVK_TRY(dvk__cmd_scratch(cmd, d->v->bytes, &vd));
        DVK_TRY(record_retrieve(cmd, r, kr, d->memory, d->memory_z, d->gate, v, vd, true, eps));
        v = dvk__as_input(vd);
    }
    const uint32_t lanes = dvk__cpu_lanes(ctx, update_cpu_kernels[r->dtype == DVK_DTYPE_F16]);
    if (lanes)
        return record_update_cpu(cmd, r, lanes, kr, v, d);
    r->scale = 1.0f;
    r->h0 = d->memory;
    r->ht = d->final_memory;
    p.z0 = d->memory_z;
    p.zt = d->final_z;
    p.elu1 = true;
    dvk__linear_attn_plan pl;
    DVK_TRY(dvk__linear_attn_make_plan(ctx, r, 0, &pl));
    dvk__chunk_tables tab;
    DVK_TRY(dvk__chunk_tables_build(ctx, r, pl.C, &tab));
    dvk_binding table, seq;
    dvk_status st = dvk__chunk_tables_upload(cmd, r, &tab, &table, &seq);
    if (st == DVK_SUCCESS)
        st = dvk__linear_attn_record_state(cmd, &p, &pl, &tab, kr, v, table, seq, NULL, NULL);
    dvk__chunk_tables_free(ctx, &tab);
    return st;
}
