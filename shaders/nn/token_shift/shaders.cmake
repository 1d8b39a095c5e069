# dvk_token_shift's kernel: `_f32` for devices without 16-bit storage (every tensor fp32) and
# `_any` (each tensor's dtype a specialization constant).
dvk_shader(token_shift/token_shift_f32 nn/token_shift/token_shift.comp LIBRARY deltavk_nn
           DEFINES DVK_F32_ONLY=1)
dvk_shader(token_shift/token_shift_any nn/token_shift/token_shift.comp LIBRARY deltavk_nn
           REQUIRES FLOAT16_STORAGE)
