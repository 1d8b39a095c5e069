// Shared by cpu_gemm.comp and cpu_gemv.comp (dvk_linear on CPU devices): their
// specialization constants, x and the weight read as raw 16-, 8- and 4-byte words, and the
// conversion of a word's elements to fp32. Include dtype.glsl, cpu.h and linear.glsl first.
#ifndef DVK_NN_LINEAR_CPU_GLSL
#define DVK_NN_LINEAR_CPU_GLSL

layout(constant_id = LC_SPEC_LANES) const uint LANES = 8;
layout(constant_id = LC_SPEC_TM) const uint TM = 1;
layout(constant_id = LC_SPEC_CPL) const uint CPL = 4;
layout(constant_id = LC_SPEC_VW) const uint VW = 4;

DVK_TENSOR_IN(LINEAR_BIND_X, x)
layout(std430, binding = LINEAR_BIND_X) readonly buffer X4_ { uvec4 x4[]; };
layout(std430, binding = LINEAR_BIND_X) readonly buffer X2_ { uvec2 x2[]; };
layout(std430, binding = LINEAR_BIND_X) readonly buffer X1_ { uint x1[]; };
DVK_TENSOR_IN(LINEAR_BIND_W, w)
layout(std430, binding = LINEAR_BIND_W) readonly buffer W4_ { uvec4 w4[]; };
layout(std430, binding = LINEAR_BIND_W) readonly buffer W2_ { uvec2 w2[]; };
layout(std430, binding = LINEAR_BIND_W) readonly buffer W1_ { uint w1[]; };
DVK_TENSOR_INOUT(LINEAR_BIND_Y, y)

const uint XES = X_DT == DVK_DT_F32 ? 4 : 2; // bytes per x element
const uint WES = W_DT == DVK_DT_F32 ? 4 : 2;

// The raw bits of `bytes` bytes from byte-aligned element e of buffer b (one load).
#define RAW(b, bytes, e, es)                                                                   \
    ((bytes) == 16  ? b##4[(e) * (es) / 16]                                                    \
     : (bytes) == 8 ? uvec4(b##2[(e) * (es) / 8], 0u, 0u)                                      \
     : (bytes) == 4 ? uvec4(b##1[(e) * (es) / 4], 0u, 0u, 0u)                                  \
                    : uvec4(raw16_##b(e), 0u, 0u, 0u))

uint raw16_x(uint e)
{
#ifndef DVK_F32_ONLY
    return uint(x_u16[e]);
#else
    return 0u;
#endif
}
uint raw16_w(uint e)
{
#ifndef DVK_F32_ONLY
    return uint(w_u16[e]);
#else
    return 0u;
#endif
}

// Element i of a raw load of dtype dt as fp32.
float elem(uvec4 r, uint i, uint dt)
{
    if (dt == DVK_DT_F32)
        return uintBitsToFloat(r[i]);
    const uint bits = (r[i / 2] >> (16 * (i % 2))) & 0xffffu;
    if (dt == DVK_DT_F16)
        return unpackHalf2x16(bits).x;
    return uintBitsToFloat(bits << 16);
}

#endif
