// Shared by the cooperative-matrix (tensor core) kernels: the delta rule's chunk_prepare_cm,
// chunk_state_cm and chunk_output_cm, KDA's/RWKV-7's (dplr/), linear attention's
// chunk_output_cm and dvk_linear's tiled_cm. fp16 tensors only; products take fp16 operands
// from shared memory (or memory) and accumulate in fp32, 16 x 16 x 16 per subgroup of 32. The
// mapping of a matrix's elements to invocations is the driver's, so masks, decays and odd sizes
// are applied in shared memory by ordinary code between products.
//
// One source, two extensions (DvkShaders.cmake's COOPMAT builds each kernel twice):
// VK_NV_cooperative_matrix (NVIDIA), and with DVK_CM_KHR=1 VK_KHR_cooperative_matrix (AMD
// RDNA3+, Intel Xe2, NVIDIA, ...; compiled by glslangValidator 13+ where glslc cannot). The
// kernels write only these names:
//   CM_A, CM_B        fp16 operands of a product (the NV extension has one type for both)
//   ACC32, ACC16      fp32 accumulators, and fp16 ones for storing a result as fp16
//                     (ACC16(acc) converts)
//   CM_LOAD(m, buf, element, stride, CM_ROWS | CM_COLS), CM_STORE(...): stride and element in
//                     units of buf's element type; CM_COLS reads the block transposed
//   CM_MMA(a, b, c)   a b + c
// The host checks the device offers this shape (16x16x16, fp16 x fp16 + fp32, subgroup scope)
// on the extension it uses, and runs the pipelines with subgroups of exactly 32.
//
// Built without glslc's optimiser: shaderc 2023.2's optimiser crashes on cooperative-matrix
// additions. The driver's compiler optimises the module anyway.
//
// Declare one coopmat per declaration (`ACC32 a = ..., b = ...` loses the second one's use in
// glslang 13: "cannot convert from coopmat<3, 16, 16, 2> to coopmat<3, 16, 16>").
//
// Size arrays here by arithmetic on specialisation constants only, never by a choice on a
// boolean one (`FLAG ? N : 1`): on the H100's driver such arrays (a shared tile and register
// arrays of dplr/chunk_state_cm.comp, unoptimised modules) gave wrong results — KDA's state
// went to inf — while the same kernel with fixed sizes was right.
#ifndef DVK_COOPMAT_GLSL
#define DVK_COOPMAT_GLSL

#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_KHR_shader_subgroup_basic : require

#if DVK_CM_KHR
#extension GL_KHR_cooperative_matrix : require
#define CM_A coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseA>
#define CM_B coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseB>
#define ACC32 coopmat<float, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>
#define ACC16 coopmat<float16_t, gl_ScopeSubgroup, 16, 16, gl_MatrixUseAccumulator>
#define CM_ROWS gl_CooperativeMatrixLayoutRowMajor
#define CM_COLS gl_CooperativeMatrixLayoutColumnMajor
#define CM_LOAD(m, buf, element, stride, layout) coopMatLoad(m, buf, element, stride, layout)
#define CM_STORE(m, buf, element, stride, layout) coopMatStore(m, buf, element, stride, layout)
#define CM_MMA(a, b, c) coopMatMulAdd(a, b, c)
#else
#extension GL_NV_cooperative_matrix : require
#define CM_A fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define CM_B fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define ACC32 fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>
#define ACC16 fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define CM_ROWS false
#define CM_COLS true
#define CM_LOAD(m, buf, element, stride, layout) coopMatLoadNV(m, buf, element, stride, layout)
#define CM_STORE(m, buf, element, stride, layout) coopMatStoreNV(m, buf, element, stride, layout)
#define CM_MMA(a, b, c) coopMatMulAddNV(a, b, c)
#endif

const uint NSG = WG / 32; // subgroups per workgroup

// Rows of fp16 tiles in shared memory are padded by CM_PAD halves (fp32 tiles by CM_PAD / 2
// floats): with rows of 64 or 128 halves, the 16 rows of a block load all start in the same
// bank. Padding made the delta rule's three stages 1.6 to 2.6x faster on the H100.
const uint CM_PAD = 8;

// Copies NROWS rows x columns [col0, col0 + W) of an fp16 tensor into shared
// dst[off + t * S + j] (S >= W: a padded row stride),
// 16 bytes (8 halves) per load through `src4`, a uvec4 view of the tensor, with every load of an
// invocation unrolled so that all are in flight at once (one load at a time would wait out the
// memory latency for each). Row t starts at element ROW(t); rows where !OK(t) and columns >= D
// are zeros; row t is multiplied by SCALE(t). W, D, col0 and ROW(t) must be multiples of 8.
// Needs `lid` and WG.
#define STAGE_F16(dst, off, src4, NROWS, OK, ROW, W, D, col0, SCALE, S)                            \
    [[unroll]] for (uint e_ = 0; e_ < ((NROWS) * (W) / 8 + WG - 1) / WG; ++e_) {                  \
        const uint v_ = lid + e_ * WG;                                                            \
        if (v_ < (NROWS) * (W) / 8) {                                                             \
            const uint t_ = v_ / ((W) / 8), j_ = (v_ % ((W) / 8)) * 8;                            \
            uvec4 x_ = uvec4(0);                                                                  \
            if (OK(t_) && (col0) + j_ < (D))                                                      \
                x_ = src4[(ROW(t_) + (col0) + j_) / 8];                                           \
            const float s_ = SCALE(t_);                                                           \
            [[unroll]] for (uint c_ = 0; c_ < 4; ++c_) {                                          \
                const vec2 p_ = vec2(unpackFloat2x16(x_[c_])) * s_;                               \
                dst[(off) + t_ * (S) + j_ + 2 * c_] = float16_t(p_.x);                            \
                dst[(off) + t_ * (S) + j_ + 2 * c_ + 1] = float16_t(p_.y);                        \
            }                                                                                     \
        }                                                                                         \
    }
#define ONE(t) 1.0

// arr[b .. b+7] (fp32 or fp16) rounded to fp16 and packed for one 16-byte store
#define PACK8_F16(arr, b)                                                                         \
    uvec4(packFloat2x16(f16vec2(arr[(b)], arr[(b) + 1])),                                         \
          packFloat2x16(f16vec2(arr[(b) + 2], arr[(b) + 3])),                                     \
          packFloat2x16(f16vec2(arr[(b) + 4], arr[(b) + 5])),                                     \
          packFloat2x16(f16vec2(arr[(b) + 6], arr[(b) + 7])))

// STAGE_F16 in two halves, so that the loads can be issued well before the tile is needed (a
// chunk ahead): LOAD_F16 fills `regs`, F16_REGS(NROWS, W) uvec4s, with the same elements and
// zeros; PUT_F16 writes them to shared dst[off + t * S + j] unscaled (S >= W: a padded row
// stride).
#define F16_REGS(NROWS, W) (((NROWS) * (W) / 8 + WG - 1) / WG)
#define LOAD_F16(regs, src4, NROWS, OK, ROW, W, D, col0)                                          \
    [[unroll]] for (uint e_ = 0; e_ < F16_REGS(NROWS, W); ++e_) {                                 \
        const uint v_ = lid + e_ * WG;                                                            \
        const uint t_ = v_ / ((W) / 8), j_ = (v_ % ((W) / 8)) * 8;                                \
        regs[e_] = uvec4(0);                                                                      \
        if (v_ < (NROWS) * (W) / 8 && OK(t_) && (col0) + j_ < (D))                                \
            regs[e_] = src4[(ROW(t_) + (col0) + j_) / 8];                                         \
    }
#define PUT_F16(dst, off, regs, NROWS, W, S)                                                      \
    [[unroll]] for (uint e_ = 0; e_ < F16_REGS(NROWS, W); ++e_) {                                 \
        const uint v_ = lid + e_ * WG;                                                            \
        if (v_ < (NROWS) * (W) / 8) {                                                             \
            const uint t_ = v_ / ((W) / 8), j_ = (v_ % ((W) / 8)) * 8;                            \
            [[unroll]] for (uint c_ = 0; c_ < 4; ++c_) {                                          \
                const f16vec2 p_ = unpackFloat2x16(regs[e_][c_]);                                 \
                dst[(off) + t_ * (S) + j_ + 2 * c_] = p_.x;                                       \
                dst[(off) + t_ * (S) + j_ + 2 * c_ + 1] = p_.y;                                   \
            }                                                                                     \
        }                                                                                         \
    }

#endif
