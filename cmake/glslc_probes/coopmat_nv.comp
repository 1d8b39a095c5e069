#version 450
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
layout(local_size_x = 32) in;
layout(std430, binding = 0) buffer A { float16_t a[]; };
layout(std430, binding = 1) buffer B { float b[]; };
void main()
{
    fcoopmatNV<16, gl_ScopeSubgroup, 16, 16> x;
    coopMatLoadNV(x, a, 0, 16, false);
    fcoopmatNV<32, gl_ScopeSubgroup, 16, 16> c = fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>(0.0);
    c = coopMatMulAddNV(x, x, c);
    coopMatStoreNV(c, b, 0, 16, false);
}
