# Elementwise kernels of deltavk_nn: each in two variants, `_f32` for devices without 16-bit
# storage (every tensor fp32) and `_any` (dtypes chosen by specialization constants).
foreach(kernel activation arith glu)
  dvk_shader(elementwise/${kernel}_f32 nn/elementwise/${kernel}.comp LIBRARY deltavk_nn
             DEFINES DVK_F32_ONLY=1)
  dvk_shader(elementwise/${kernel}_any nn/elementwise/${kernel}.comp LIBRARY deltavk_nn
             REQUIRES FLOAT16_STORAGE)
endforeach()
