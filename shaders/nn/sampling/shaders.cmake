# The row kernels along the last dimension (see sampling.h): softmax, argmax and sample, each
# `_f32` (every float tensor fp32) and `_any` (dtypes by specialization constant; needs 16-bit
# storage).
foreach(kernel softmax argmax sample)
  dvk_shader(sampling/${kernel}_f32 nn/sampling/${kernel}.comp LIBRARY deltavk_nn
             DEFINES DVK_F32_ONLY=1)
  dvk_shader(sampling/${kernel}_any nn/sampling/${kernel}.comp LIBRARY deltavk_nn
             REQUIRES FLOAT16_STORAGE)
endforeach()
