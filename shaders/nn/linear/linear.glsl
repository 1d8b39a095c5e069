// Shared by the kernels of dvk_linear: the specialization constants every one has (linear.h),
// the bias and the output epilogue. Include dtype.glsl and the kernel's interface file first.
#ifndef DVK_NN_LINEAR_GLSL
#define DVK_NN_LINEAR_GLSL

layout(constant_id = LINEAR_SPEC_X_DT) const uint X_DT = DVK_DT_F32;
layout(constant_id = LINEAR_SPEC_W_DT) const uint W_DT = DVK_DT_F32;
layout(constant_id = LINEAR_SPEC_B_DT) const uint B_DT = DVK_DT_F32;
layout(constant_id = LINEAR_SPEC_Y_DT) const uint Y_DT = DVK_DT_F32;
layout(constant_id = LINEAR_SPEC_HAS_BIAS) const uint HAS_BIAS = 0;
layout(constant_id = LINEAR_SPEC_ACCUM) const uint ACCUM = 0;
layout(constant_id = LINEAR_SPEC_WG) const uint WG = 256;
layout(local_size_x_id = LINEAR_SPEC_WG) in;

DVK_TENSOR_IN(LINEAR_BIND_BIAS, bias)

// sum + bias[g·bias_stride + n], the bias added before anything else (as F.linear does)
float linear_add_bias(float sum, uint g, uint bias_stride, uint n)
{
    return HAS_BIAS != 0 ? sum + DVK_LOAD(bias, B_DT, g * bias_stride + n) : sum;
}

#endif
