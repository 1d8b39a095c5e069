# RWKV-7's kernels of the models level (library deltavk_models; ids DVK_MODELS_K_RWKV7_*). Every
# tensor they touch is fp32, so one variant each, with no 16-bit types.
dvk_shader(rwkv7/prepare_f32 models/rwkv7/prepare.comp LIBRARY deltavk_models)
dvk_shader(rwkv7/output_f32 models/rwkv7/output.comp LIBRARY deltavk_models)
