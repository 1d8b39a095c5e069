/* What the device lets an operator's kernels plan for: the workgroup size, and whether the
 * fp16 kernels on cooperative matrices (tensor cores) can run a problem (device_fit.c). */
#ifndef DVK_OPS_COMMON_DEVICE_FIT_H
#define DVK_OPS_COMMON_DEVICE_FIT_H

#include "ops/common/problem.h"

/* The largest workgroup a kernel may plan for: `cap`, the device's limits, and the profile's. */
uint32_t dvk__workgroup_limit(const dvk_device_info *info, uint32_t cap);

/* Whether the fp16 cooperative-matrix kernels can run this problem on this device: fp16
 * tensors, K and V multiples of 16, VK_NV_cooperative_matrix with fp16 x fp16 + fp32 16x16x16
 * blocks, fp16 arithmetic, the Vulkan memory model, subgroups of exactly 32 and workgroups of
 * 256. Each kernel family checks its own shared memory and SPIR-V on top. */
bool dvk__coopmat_f16_usable(const dvk_context *ctx, const dvk__rec *r);

/* The subgroup size (the lanes of one SIMD vector) of the kernels laid out for CPU devices
 * (recurrent_cpu.comp of the delta rules and of linear attention), or 0 when they do not apply:
 * a CPU device (not under the small-device profile, which plans for a mobile GPU) whose
 * subgroups have one fixed size and offer subgroupAdd and subgroupShuffle, and `kernel` built. */
uint32_t dvk__cpu_lanes(const dvk_context *ctx, dvk_ops_kernel kernel);

/* Value columns per lane of those kernels (4, 2 or 1, dividing V): more amortise each token's
 * loads and shuffles, but the unrolled state of K x columns values per lane grows llvmpipe's
 * compile time as its square (K = 256: 3.4 s with one column, 20 s with four), so it stays
 * within 256. */
uint32_t dvk__cpu_columns(uint32_t K, uint32_t V);

/* The largest count of subgroups (most, most/2, ..., 1) dividing both block counts: how many
 * subgroups of 32 share a cooperative-matrix kernel's tiles evenly. */
uint32_t dvk__subgroups_for(uint32_t blocks_a, uint32_t blocks_b, uint32_t most);

#endif
