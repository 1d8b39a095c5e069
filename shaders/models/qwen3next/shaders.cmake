# Qwen3-Next's Gated DeltaNet kernel of the models level (library deltavk_models; id
# DVK_MODELS_K_QWEN3NEXT_PREPARE_F32). Its tensors are the layer's fp32 activations: one variant.
dvk_shader(qwen3next/prepare_f32 models/qwen3next/prepare.comp LIBRARY deltavk_models)
