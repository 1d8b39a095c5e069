#version 450
#extension GL_EXT_shader_16bit_storage : require
layout(local_size_x = 32) in;
layout(std430, binding = 0) buffer A { float16_t a[]; };
layout(std430, binding = 1) buffer B { float b[]; };
void main() { b[gl_LocalInvocationIndex] = float(a[gl_LocalInvocationIndex]); }
