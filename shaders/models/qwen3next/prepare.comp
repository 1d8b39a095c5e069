#version 450
// Qwen3-Next's Gated DeltaNet between the conv and the rule (see qwen3next.h): element e of
// rows · (conv_dim + HV), token row = e / (conv_dim + HV); a channel below conv_dim is copied to
// q, k or v, the others are one value head's β and g.
#extension GL_GOOGLE_include_directive : require
#include "qwen3next.h"

layout(local_size_x = QWEN3NEXT_LOCAL) in;

layout(std430, binding = QWEN3NEXT_PREP_BIND_C) readonly buffer C_ { float c[]; };
layout(std430, binding = QWEN3NEXT_PREP_BIND_BA) readonly buffer BA_ { float ba[]; };
layout(std430, binding = QWEN3NEXT_PREP_BIND_NEG_A) readonly buffer NegA_ { float neg_a[]; };
layout(std430, binding = QWEN3NEXT_PREP_BIND_DT_BIAS) readonly buffer DtBias_ { float dt_bias[]; };
layout(std430, binding = QWEN3NEXT_PREP_BIND_Q) writeonly buffer Q_ { float q[]; };
layout(std430, binding = QWEN3NEXT_PREP_BIND_K) writeonly buffer K_ { float k[]; };
layout(std430, binding = QWEN3NEXT_PREP_BIND_V) writeonly buffer V_ { float v[]; };
layout(std430, binding = QWEN3NEXT_PREP_BIND_BETA) writeonly buffer Beta_ { float beta[]; };
layout(std430, binding = QWEN3NEXT_PREP_BIND_G) writeonly buffer G_ { float g[]; };

// PyTorch's softplus: x above 20 as is; log1p(e^x) with Goldberg's correction, which keeps
// its relative precision where e^x is tiny.
float softplus(float x)
{
    if (x > 20.0)
        return x;
    const float y = exp(x);
    const float w = 1.0 + y;
    return w == 1.0 ? y : log(w) * (y / (w - 1.0));
}

void main()
{
    const uint e = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * QWEN3NEXT_LOCAL +
                   gl_LocalInvocationID.x;
    if (e >= pc.total)
        return;
    const uint width = pc.conv_dim + pc.hv, row = e / width, ch = e % width;
    if (ch < pc.conv_dim) {
        const float x = c[row * pc.conv_dim + ch];
        const uint vdim = pc.conv_dim - 2u * pc.key_dim;
        if (ch < pc.key_dim)
            q[row * pc.key_dim + ch] = x;
        else if (ch < 2u * pc.key_dim)
            k[row * pc.key_dim + ch - pc.key_dim] = x;
        else
            v[row * vdim + ch - 2u * pc.key_dim] = x;
    } else {
        const uint h = ch - pc.conv_dim;
        const float b = ba[row * 2u * pc.hv + h], a = ba[row * 2u * pc.hv + pc.hv + h];
        beta[row * pc.hv + h] = 1.0 / (1.0 + exp(-b));
        g[row * pc.hv + h] = neg_a[h] * softplus(a + dt_bias[h]);
    }
}
