# dvk_embedding's kernel: `_f32` (weight and y fp32) and `_any` (dtypes by specialization
# constant; needs 16-bit storage).
dvk_shader(embedding/embedding_f32 nn/embedding/embedding.comp LIBRARY deltavk_nn
           DEFINES DVK_F32_ONLY=1)
dvk_shader(embedding/embedding_any nn/embedding/embedding.comp LIBRARY deltavk_nn
           REQUIRES FLOAT16_STORAGE)
