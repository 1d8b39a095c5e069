// Tensors whose element type is a specialization constant (dtype codes of interface.h), so one
// SPIR-V module serves every mix of fp32, fp16, bf16 and int32 tensors. Each tensor is declared
// as aliases of one binding, one per element type; the driver folds the constant, so only the
// alias in use is read or written.
//   DVK_TENSOR_IN(binding, name)     readonly aliases name_f32, name_f16, name_u16, name_i32
//   DVK_TENSOR_OUT(binding, name)    writeonly aliases
//   DVK_TENSOR_INOUT(binding, name)  read-write aliases
//   DVK_LOAD(name, DT, i)            element i as float (bf16 widened by a shift)
//   DVK_STORE(name, DT, i, v)        stores float v as DT (bf16 rounded to nearest even)
//   DVK_LOAD_I32(name, i)            element i of an int32 tensor
// Variants built with DVK_F32_ONLY (for devices without storageBuffer16BitAccess) declare no
// 16-bit aliases: there every float tensor is fp32 and DVK_LOAD / DVK_STORE ignore DT.
#ifndef DVK_DTYPE_GLSL
#define DVK_DTYPE_GLSL

#include "interface.h"

#ifndef DVK_F32_ONLY
#extension GL_EXT_shader_16bit_storage : require

#define DVK_TENSOR_DECL_(q, b, n)                                                              \
    layout(std430, binding = b) q buffer n##_F32_ { float n##_f32[]; };                        \
    layout(std430, binding = b) q buffer n##_F16_ { float16_t n##_f16[]; };                    \
    layout(std430, binding = b) q buffer n##_U16_ { uint16_t n##_u16[]; };                     \
    layout(std430, binding = b) q buffer n##_I32_ { int n##_i32[]; };

#define DVK_LOAD(n, DT, i)                                                                     \
    ((DT) == DVK_DT_F32   ? n##_f32[i]                                                         \
     : (DT) == DVK_DT_F16 ? float(n##_f16[i])                                                  \
                          : uintBitsToFloat(uint(n##_u16[i]) << 16))

#define DVK_STORE(n, DT, i, v)                                                                 \
    do {                                                                                       \
        if ((DT) == DVK_DT_F32)                                                                \
            n##_f32[i] = (v);                                                                  \
        else if ((DT) == DVK_DT_F16)                                                           \
            n##_f16[i] = float16_t(v);                                                         \
        else                                                                                   \
            n##_u16[i] = uint16_t(dvk_bf16_bits(v));                                           \
    } while (false)

#else

#define DVK_TENSOR_DECL_(q, b, n)                                                              \
    layout(std430, binding = b) q buffer n##_F32_ { float n##_f32[]; };                        \
    layout(std430, binding = b) q buffer n##_I32_ { int n##_i32[]; };

#define DVK_LOAD(n, DT, i) (n##_f32[i])
#define DVK_STORE(n, DT, i, v) n##_f32[i] = (v)

#endif

#define DVK_TENSOR_IN(b, n) DVK_TENSOR_DECL_(readonly, b, n)
#define DVK_TENSOR_OUT(b, n) DVK_TENSOR_DECL_(writeonly, b, n)
#define DVK_TENSOR_INOUT(b, n) DVK_TENSOR_DECL_(, b, n)
#define DVK_LOAD_I32(n, i) (n##_i32[i])

// fp32 -> bf16 bits, round to nearest even; NaN stays NaN (as dvk_f32_to_bf16).
uint dvk_bf16_bits(float v)
{
    const uint x = floatBitsToUint(v);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (x >> 16) | 0x40u;
    return (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
}

#endif
