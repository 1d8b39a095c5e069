// softplus(x) = log(1 + exp(x)) as PyTorch computes it: x itself above 20. log1p by
// Goldberg's correction, log(1 + y) * y / ((1 + y) - 1), which keeps full relative precision
// when exp(x) is tiny (a plain log(1 + y) would lose it to the rounding of 1 + y).
#ifndef DVK_SOFTPLUS_GLSL
#define DVK_SOFTPLUS_GLSL

float softplus(float x)
{
    if (x > 20.0)
        return x;
    const float y = exp(x);
    const float w = 1.0 + y;
    return w == 1.0 ? y : log(w) * (y / (w - 1.0));
}

#endif
