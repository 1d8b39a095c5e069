// Vectors spread over the lanes of one subgroup, for the kernels laid out for CPU devices
// (`*_cpu.comp`; docs/design.md, "recurrent, CPU layout", says why llvmpipe wants this).
//
// A row of N entries (a key, a query, a gate, a value row) is loaded once per subgroup, W entries
// per lane per load (W = 4: one vec4 per lane, when N % 4 == 0; else W = 1): load c gives lane l
// the entries (c * LANES + l) * W .. + W - 1, kept in the lane's slots [c * W .. c * W + W - 1].
// Entry i is then handed to every lane by a shuffle from the lane holding it; with i constant
// after unrolling, that is a register permute.
//
// Before including: the subgroup size LANES (a specialization constant) and the shuffle
// extension; the including kernel names its lane `lane` (gl_SubgroupInvocationID).
#ifndef DVK_CPU_LANES_GLSL
#define DVK_CPU_LANES_GLSL

// Entries per lane per load, loads, and slots per lane for a row of N entries.
#define CPU_W(N) ((N) % 4 == 0 ? 4 : 1)
#define CPU_LOADS(N) (((N) + CPU_W(N) * LANES - 1) / (CPU_W(N) * LANES))
#define CPU_SLOTS(N) (CPU_LOADS(N) * CPU_W(N))

// Entry i of a row of N entries held in slots.
#define CPU_ENTRY(slots, i, N)                                                             \
    subgroupShuffle(slots[((i) / (CPU_W(N) * LANES)) * CPU_W(N) + (i) % CPU_W(N)],         \
                    ((i) / CPU_W(N)) % LANES)

// The entry a slot x of this lane holds (may be >= N in the last load).
#define CPU_SLOT_ENTRY(x, N) ((((x) / CPU_W(N)) * LANES + lane) * CPU_W(N) + (x) % CPU_W(N))

// Loads this lane's slots of a row of N entries starting at element `base` (a multiple of 4
// when N is) of `buf`, also bound as `buf4` (vec4s, or f16vec4s), each entry through `conv`.
// Whether a load's entries exist is a constant when N fills whole loads: a load under a
// condition costs llvmpipe more.
#define CPU_LOAD_ROW(slots, buf, buf4, base, N, conv)                                      \
    [[unroll]] for (uint c_ = 0; c_ < CPU_LOADS(N); ++c_) {                                 \
        const uint e_ = (c_ * LANES + lane) * CPU_W(N);                                     \
        const bool ok_ = (N) % (CPU_W(N) * LANES) == 0 || e_ < (N);                         \
        if (CPU_W(N) == 4) {                                                                \
            const vec4 x_ = ok_ ? vec4(buf4[((base) + e_) / 4]) : vec4(0.0);               \
            [[unroll]] for (uint w_ = 0; w_ < 4; ++w_)                                      \
                slots[c_ * CPU_W(N) + w_] = ok_ ? conv(x_[w_]) : 0.0;                       \
        } else {                                                                            \
            slots[c_] = ok_ ? conv(float(buf[(base) + e_])) : 0.0;                          \
        }                                                                                   \
    }

float cpu_same(float x) { return x; }

#endif
