/* IEEE 754 binary16 and bfloat16 <-> binary32 conversions, exact and portable (no F16C
 * needed), and the sizes and names of dtypes. */
#include "deltavk.h"

#include <string.h>

uint16_t dvk_f32_to_f16(float value)
{
    uint32_t x;
    memcpy(&x, &value, sizeof x);
    const uint32_t sign = (x >> 16) & 0x8000u;
    const uint32_t exp = (x >> 23) & 0xffu;
    uint32_t mant = x & 0x7fffffu;

    if (exp == 0xffu) /* inf or NaN (keep NaN quiet and non-zero) */
        return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0u));

    int e = (int)exp - 127 + 15;
    if (e >= 31) /* overflow to infinity */
        return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) { /* subnormal half, or zero */
        if (e < -10)
            return (uint16_t)sign;
        mant |= 0x800000u;
        const uint32_t shift = (uint32_t)(14 - e);
        uint32_t half = mant >> shift;
        const uint32_t rem = mant & ((1u << shift) - 1u);
        const uint32_t mid = 1u << (shift - 1u);
        if (rem > mid || (rem == mid && (half & 1u)))
            ++half; /* round to nearest even; may carry into the smallest normal: correct */
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)e << 10) | (mant >> 13);
    const uint32_t rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1u)))
        ++half; /* a carry out of the mantissa bumps the exponent, up to infinity: correct */
    return (uint16_t)(sign | half);
}

float dvk_f16_to_f32(uint16_t h)
{
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t x;
    if (exp == 0) {
        if (mant == 0) {
            x = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                ++e;
                mant <<= 1;
            } while (!(mant & 0x400u));
            x = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
        }
    } else if (exp == 0x1fu) {
        x = sign | 0x7f800000u | (mant << 13);
    } else {
        x = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

uint16_t dvk_f32_to_bf16(float value)
{
    uint32_t x;
    memcpy(&x, &value, sizeof x);
    if ((x & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it NaN (quiet) */
        return (uint16_t)((x >> 16) | 0x40u);
    x += 0x7fffu + ((x >> 16) & 1u); /* round to nearest even; overflows to infinity */
    return (uint16_t)(x >> 16);
}

float dvk_bf16_to_f32(uint16_t value)
{
    const uint32_t x = (uint32_t)value << 16;
    float f;
    memcpy(&f, &x, sizeof f);
    return f;
}

size_t dvk_dtype_size(dvk_dtype dtype)
{
    switch (dtype) {
    case DVK_DTYPE_DEFAULT:
    case DVK_DTYPE_F32:
    case DVK_DTYPE_I32:
        return 4;
    case DVK_DTYPE_F16:
    case DVK_DTYPE_BF16:
        return 2;
    }
    return 0;
}

const char *dvk_dtype_name(dvk_dtype dtype)
{
    switch (dtype) {
    case DVK_DTYPE_DEFAULT:
    case DVK_DTYPE_F32:
        return "f32";
    case DVK_DTYPE_F16:
        return "f16";
    case DVK_DTYPE_BF16:
        return "bf16";
    case DVK_DTYPE_I32:
        return "i32";
    }
    return "invalid";
}
