# dvk_linear's kernels (src/nn/linear/linear.c): the decode-shaped product (gemv) and the sum of
# its K slices, and the tiled product, each in two variants (`_f32`: every tensor fp32, for
# devices without 16-bit storage; `_any`: dtypes by specialization constant); and the tiled
# product on tensor cores (VK_NV_cooperative_matrix; built without glslc's optimiser, which
# crashes on cooperative-matrix arithmetic).
foreach(kernel gemv splitk_sum tiled)
  dvk_shader(linear/${kernel}_f32 nn/linear/${kernel}.comp LIBRARY deltavk_nn
             DEFINES DVK_F32_ONLY=1)
  dvk_shader(linear/${kernel}_any nn/linear/${kernel}.comp LIBRARY deltavk_nn
             REQUIRES FLOAT16_STORAGE)
endforeach()
# Laid out for CPU devices (lavapipe): lanes along the output columns with x handed out by
# subgroup shuffles (cpu_gemm), lanes along K for few rows of x (cpu_gemv).
foreach(kernel cpu_gemm cpu_gemv)
  dvk_shader(linear/${kernel}_f32 nn/linear/${kernel}.comp LIBRARY deltavk_nn
             REQUIRES SUBGROUP_SHUFFLE DEFINES DVK_F32_ONLY=1)
  dvk_shader(linear/${kernel}_any nn/linear/${kernel}.comp LIBRARY deltavk_nn
             REQUIRES FLOAT16_STORAGE SUBGROUP_SHUFFLE)
endforeach()
dvk_shader(linear/tiled_cm nn/linear/tiled_cm.comp LIBRARY deltavk_nn COOPMAT
           REQUIRES FLOAT16_STORAGE)
# The same tiling with the matrix operations emulated by plain code, so that the tests run it
# on devices without cooperative matrices (DVK_LINEAR_CM_EMULATE).
dvk_shader(linear/tiled_cm_emu nn/linear/tiled_cm.comp LIBRARY deltavk_nn
           REQUIRES FLOAT16_STORAGE DEFINES DVK_CM_EMULATE=1)
