# dvk_conv1d's kernels (see conv1d.h): the depthwise kernel, the grouped implicit-GEMM kernel
# and the carried-state move, each `_f32` (every tensor fp32) and `_any` (dtypes by
# specialization constant; needs 16-bit storage).
foreach(kernel conv1d_dw conv1d_gemm conv1d_state)
  dvk_shader(conv1d/${kernel}_f32 nn/conv1d/${kernel}.comp LIBRARY deltavk_nn
             DEFINES DVK_F32_ONLY=1)
  dvk_shader(conv1d/${kernel}_any nn/conv1d/${kernel}.comp LIBRARY deltavk_nn
             REQUIRES FLOAT16_STORAGE)
endforeach()
