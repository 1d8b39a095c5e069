#version 450
// The engine's own compute kernel (not deltavk's), compiled by the sample's build into a C
// array. Two operations on floats, chosen by a push constant:
//   op 0: dst = sigmoid(a)     (the engine turns its gate logits into deltavk's beta)
//   op 1: dst = a + b          (a residual: the engine adds deltavk's output to its input)
layout(local_size_x = 64) in;

layout(std430, set = 0, binding = 0) readonly buffer A { float a[]; };
layout(std430, set = 0, binding = 1) readonly buffer B { float b[]; };
layout(std430, set = 0, binding = 2) writeonly buffer Dst { float dst[]; };

layout(push_constant) uniform Push {
    uint n;
    uint op;
} p;

void main()
{
    const uint i = gl_GlobalInvocationID.x;
    if (i >= p.n)
        return;
    dst[i] = p.op == 0u ? 1.0 / (1.0 + exp(-a[i])) : a[i] + b[i];
}
