#version 450
#extension GL_KHR_shader_subgroup_shuffle : require
layout(local_size_x = 32) in;
layout(std430, binding = 0) buffer B { float b[]; };
void main() { b[gl_LocalInvocationIndex] = subgroupShuffleXor(b[gl_LocalInvocationIndex], 1u); }
