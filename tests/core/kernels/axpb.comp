#version 450
// A caller's own kernel for tests/core/test_kernel.c: y = a·x + OFFSET (OFFSET a float
// specialization constant, a a push constant).
layout(local_size_x = 64) in;
layout(constant_id = 0) const float OFFSET = 0.0;
layout(push_constant) uniform Push {
    uint n;
    float a;
} pc;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };

void main()
{
    const uint i = gl_GlobalInvocationID.x;
    if (i < pc.n)
        y[i] = pc.a * x[i] + OFFSET;
}
