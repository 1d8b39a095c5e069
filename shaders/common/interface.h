/* The host <-> shader contract, in a form both GLSL and C read. Each kernel's interface file
 * (shaders/<level>/<family>/<kernel>.h) includes this and names, in one place:
 *   - its specialization constants:  #define <KERNEL>_SPEC_<NAME> <constant_id>
 *   - its bindings:                  #define <KERNEL>_BIND_<NAME> <binding>, <KERNEL>_BINDINGS
 *   - its push constants:            DVK_PUSH_BEGIN(<kernel>_push) ... DVK_PUSH_END(<kernel>_push)
 *     with fields of uint32_t, int32_t and float (4 bytes each, no vectors, so the C struct
 *     and GLSL's std430 push-constant block agree byte for byte);
 *   - its workgroup size and any other constant both sides need.
 * The shader includes the interface file; the host code includes it to fill the spec array,
 * the bindings and the push struct, so a constant that changes on one side changes on both. */
#ifndef DVK_INTERFACE_H
#define DVK_INTERFACE_H

#if defined(__STDC__) || defined(__cplusplus)
/* ---- C ---- */
#include <stdint.h>
#define DVK_PUSH_BEGIN(name) typedef struct name {
#define DVK_PUSH_END(name) } name;
#else
/* ---- GLSL ---- */
#define uint32_t uint
#define int32_t int
#define DVK_PUSH_BEGIN(name) layout(push_constant) uniform name {
#define DVK_PUSH_END(name) } pc;
#endif

/* dtype codes of the kernels that take their tensors' element types as specialization
 * constants (shaders/common/dtype.glsl). */
#define DVK_DT_F32 0u
#define DVK_DT_F16 1u
#define DVK_DT_BF16 2u
#define DVK_DT_I32 3u

#endif
