// Element type of token tensors (q, k, v, beta, g, o): float, or float16_t when the variant is
// built with -DDVK_IO_F16 (needs storageBuffer16BitAccess; arithmetic stays fp32, so no
// shaderFloat16 is needed: 16-bit storage allows conversions to and from float).
#ifndef DVK_IO_GLSL
#define DVK_IO_GLSL

#ifdef DVK_IO_F16
#extension GL_EXT_shader_16bit_storage : require
#define IO_T float16_t
#else
#define IO_T float
#endif

#endif
