#version 450
// argmax along the last dimension: the first index of the maximum (torch.argmax), NaN above
// every number (the first NaN wins). One workgroup per row: each invocation keeps its best
// (value, index) over a strided walk, then a tree keeps the better of each pair.
#extension GL_GOOGLE_include_directive : require
#include "row_common.glsl"

DVK_TENSOR_OUT(SAMPLING_BIND_Y, y)

// Whether (a, ia) beats (b, ib): NaN first, then the larger value, then the smaller index.
bool better(float a, uint ia, float b, uint ib)
{
    const bool na = is_nan(a), nb = is_nan(b);
    if (na != nb)
        return na;
    if (!na && a != b)
        return a > b;
    return ia < ib;
}

void main()
{
    const uint row = row_index();
    if (row >= pc.rows)
        return;
    const uint lid = gl_LocalInvocationID.x, base = row * pc.n;
    float bv = NEG_INF;
    uint bi = 0xffffffffu; // no element yet: loses to any
    for (uint j = lid; j < pc.n; j += LOCAL) {
        const float v = DVK_LOAD(x, X_DT, base + j);
        if (bi == 0xffffffffu || better(v, j, bv, bi)) {
            bv = v;
            bi = j;
        }
    }
    red_f[lid] = bv;
    red_u[lid] = bi;
    barrier();
    for (uint h = LOCAL / 2; h > 0; h >>= 1) {
        if (lid < h) {
            const uint oi = red_u[lid + h];
            if (oi != 0xffffffffu &&
                (red_u[lid] == 0xffffffffu || better(red_f[lid + h], oi, red_f[lid], red_u[lid]))) {
                red_f[lid] = red_f[lid + h];
                red_u[lid] = oi;
            }
        }
        barrier();
    }
    if (lid == 0)
        y_i32[row] = int(red_u[0]);
}
