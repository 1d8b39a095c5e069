// The feature map of linear attention: φ(x) = elu(x) + 1 (x + 1 for x > 0, exp(x) otherwise),
// or the identity. ELU1 is a specialization constant of the including kernel.
#ifndef DVK_LINEAR_ATTN_FEATURE_GLSL
#define DVK_LINEAR_ATTN_FEATURE_GLSL

float feature(float x)
{
    return ELU1 ? (x > 0.0 ? x + 1.0 : exp(x)) : x;
}

// The read-out's denominator: max(qz, eps), or qz + eps (EPS_ADD); 1 without NORMALIZE.
float denominator(float qz, float eps)
{
    return NORMALIZE ? (EPS_ADD ? qz + eps : max(qz, eps)) : 1.0;
}

#endif
