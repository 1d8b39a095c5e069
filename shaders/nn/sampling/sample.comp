#version 450
// Sampling one token per row (dvk_sample), one workgroup per row, no sorting:
//   1. m = max(z/T); every later pass recomputes e_j = exp(z_j/T - m), in [0, 1], the
//      probabilities times the row's sum (which cancels: cuts compare masses in ratio).
//   2. top-k: the largest threshold t (a float bit pattern: non-negative floats order as their
//      bits) with count(e >= t) >= k. top-p: then the largest t at or above that one with
//      mass(e >= t) >= top_p * mass(e >= the top-k threshold). Each is searched on an
//      interval of bit patterns where the condition holds at the low end and fails at the
//      high end: a pass over the row splits it into SAMPLE_PROBES buckets (count, mass,
//      smallest and largest pattern of the elements in each), keeps the bucket where the
//      condition turns false, narrowed to the patterns of its elements, and stops when one
//      value is left. Keeping e >= t keeps every token tied with the cut-off.
//   3. The draw: u = dvk_sample_hash(seed, row) / 2^24, target = u * (kept mass); the token is
//      the first index, in vocabulary order, whose running kept mass exceeds the target. Each
//      invocation sums a contiguous chunk of the row, one invocation scans the chunk sums, and
//      the invocation whose chunk holds the crossing walks it again with the same additions
//      (so the crossing is always found there).
// Every reduction is in a fixed order: the same logits, seed and device give the same token.
#extension GL_GOOGLE_include_directive : require
#include "row_common.glsl"

DVK_TENSOR_OUT(SAMPLING_BIND_Y, y)

const uint NP = SAMPLE_PROBES, COLS = SAMPLE_COLS;
const uint ONE_BITS = 0x3f800000u; // e <= 1 = exp(0)

// Per bucket of the current interval: count, mass, smallest and largest bit pattern, folded
// over COLS columns, then summed into bk_*.
shared uint part_cnt[NP][COLS];
shared float part_mass[NP][COLS];
shared uint part_min[NP][COLS];
shared uint part_max[NP][COLS];
shared uint bk_cnt[NP], bk_min[NP], bk_max[NP];
shared float bk_mass[NP];
shared uint sel_chunk, sel_last;
shared float sel_target;

float max_m;

// e_j as above; NaN (a NaN logit, or +inf ones) counts as 0, never drawn.
float row_e(uint base, uint j)
{
    const float e = exp(row_load(base, j) - max_m);
    return is_nan(e) ? 0.0 : e;
}

// Probe s of the interval [lo, lo + d): lo + floor(s d / NP) without overflow. Probe 0 is lo;
// for d < NP the probes are every value of the interval. Bucket s is [probe s, probe s + 1),
// the last one ending at lo + d.
uint probe(uint lo, uint d, uint s) { return lo + s * (d / NP) + (s * (d % NP)) / NP; }

// The buckets' counts, masses and extreme bit patterns over the row's elements in [lo, lo + d).
void count_buckets(uint base, uint lo, uint d)
{
    const uint lid = gl_LocalInvocationID.x, hi = lo + d;
    uint t[NP], cnt[NP], mn[NP], mx[NP];
    float mass[NP];
    for (uint s = 0; s < NP; ++s) {
        t[s] = probe(lo, d, s);
        cnt[s] = 0;
        mass[s] = 0.0;
        mn[s] = 0xffffffffu;
        mx[s] = 0;
    }
    for (uint j = lid; j < pc.n; j += LOCAL) {
        const float e = row_e(base, j);
        const uint b = floatBitsToUint(e);
        if (b < lo || b >= hi)
            continue;
        uint q = 0;
        for (uint s = 1; s < NP; ++s)
            q += b >= t[s] ? 1 : 0;
        for (uint s = 0; s < NP; ++s) {
            if (s == q) {
                cnt[s] += 1;
                mass[s] += e;
                mn[s] = min(mn[s], b);
                mx[s] = max(mx[s], b);
            }
        }
    }
    // Fold the invocations onto COLS columns, one block of COLS invocations at a time (a fixed
    // order: the sums are the same on every run).
    const uint col = lid % COLS;
    for (uint blk = 0; blk < LOCAL / COLS; ++blk) {
        if (lid / COLS == blk) {
            for (uint s = 0; s < NP; ++s) {
                if (blk == 0) {
                    part_cnt[s][col] = cnt[s];
                    part_mass[s][col] = mass[s];
                    part_min[s][col] = mn[s];
                    part_max[s][col] = mx[s];
                } else {
                    part_cnt[s][col] += cnt[s];
                    part_mass[s][col] += mass[s];
                    part_min[s][col] = min(part_min[s][col], mn[s]);
                    part_max[s][col] = max(part_max[s][col], mx[s]);
                }
            }
        }
        barrier();
    }
    const uint s = lid % NP, what = lid / NP;
    if (what == 0) {
        uint c = 0;
        for (uint k = 0; k < COLS; ++k)
            c += part_cnt[s][k];
        bk_cnt[s] = c;
    } else if (what == 1) {
        float ms = 0.0;
        for (uint k = 0; k < COLS; ++k)
            ms += part_mass[s][k];
        bk_mass[s] = ms;
    } else if (what == 2) {
        uint v = 0xffffffffu;
        for (uint k = 0; k < COLS; ++k)
            v = min(v, part_min[s][k]);
        bk_min[s] = v;
    } else if (what == 3) {
        uint v = 0;
        for (uint k = 0; k < COLS; ++k)
            v = max(v, part_max[s][k]);
        bk_max[s] = v;
    }
    barrier();
}

// The largest bit pattern t with count(e >= t) >= k (by_mass false), or with
// mass(e >= t) >= p * mass(e >= lo) (by_mass true), for t >= lo, where the condition holds.
// The interval [lo, hi) always has the condition true at lo and false at hi; each pass keeps
// the bucket where it turns false, narrowed to the bit patterns of the elements inside it (so
// a bucket holding one distinct value ends the search at once). Elements at or above hi are
// summed in above_*.
uint search(uint base, uint lo, bool by_mass, uint k, float p)
{
    uint hi = ONE_BITS + 1, above_cnt = 0;
    float above_mass = 0.0, target = 0.0;
    bool first = true;
    while (hi - lo > 1) {
        const uint d = hi - lo;
        count_buckets(base, lo, d);
        if (first && by_mass) {
            // Summed top-down as the scan below sums, so that the lowest non-empty bucket
            // meets p * total exactly as it should (p < 1).
            float total = 0.0;
            for (uint s = NP; s-- > 0;)
                total += bk_mass[s];
            target = p * total;
        }
        first = false;
        // From the top bucket down: the first whose lower end satisfies the condition.
        uint c = above_cnt, best = 0;
        float m = above_mass;
        for (uint s = NP; s-- > 0;) {
            const uint c2 = c + bk_cnt[s];
            const float m2 = m + bk_mass[s];
            if (bk_cnt[s] != 0 && (by_mass ? m2 >= target : c2 >= k)) {
                best = s;
                break;
            }
            c = c2;
            m = m2;
        }
        above_cnt = c;   // everything above the chosen bucket
        above_mass = m;
        lo = bk_min[best];
        hi = bk_max[best] + 1;
        barrier(); // bk_* are rewritten by the next pass
    }
    return lo;
}

void main()
{
    const uint row = row_index();
    if (row >= pc.rows)
        return;
    const uint lid = gl_LocalInvocationID.x, base = row * pc.n;

    float m = NEG_INF;
    for (uint j = lid; j < pc.n; j += LOCAL) {
        const float v = row_load(base, j);
        if (v > m)
            m = v;
    }
    max_m = wg_max(m);

    // top-k (mode 0), then top-p (mode 1) from where top-k left off. One call site in a loop
    // with run-time bounds, so the search's code is not duplicated.
    uint th = 0; // keep e >= uintBitsToFloat(th)
    const uint first_mode = pc.top_k != 0 && pc.top_k < pc.n ? 0 : 1;
    const uint end_mode = pc.top_p > 0.0 && pc.top_p < 1.0 ? 2 : 1;
    for (uint mode = first_mode; mode < end_mode; ++mode)
        th = search(base, th, mode == 1, pc.top_k, pc.top_p);

    // The draw: contiguous chunks, their kept masses scanned in order by one invocation.
    const uint chunk = (pc.n + LOCAL - 1) / LOCAL;
    const uint j0 = min(lid * chunk, pc.n), j1 = min(j0 + chunk, pc.n);
    float sum = 0.0;
    uint last = 0xffffffffu;
    for (uint j = j0; j < j1; ++j) {
        const float e = row_e(base, j);
        if (floatBitsToUint(e) >= th) {
            sum += e;
            last = j;
        }
    }
    red_f[lid] = sum;
    red_u[lid] = last;
    barrier();
    if (lid == 0) {
        float total = 0.0;
        uint last_kept = 0;
        for (uint i = 0; i < LOCAL; ++i) {
            red_g[i] = total; // exclusive prefix
            total += red_f[i];
            if (red_u[i] != 0xffffffffu)
                last_kept = red_u[i];
        }
        const float u = float(dvk_sample_hash(pc.seed_lo, pc.seed_hi, row) >> 8) *
                        float(DVK_SAMPLE_U_SCALE);
        const float target = u * total;
        uint c = LOCAL; // none: rounding left no crossing (or nothing has mass)
        for (uint i = 0; i < LOCAL; ++i) {
            if (red_g[i] + red_f[i] > target) {
                c = i;
                break;
            }
        }
        sel_chunk = c;
        sel_target = target;
        sel_last = last_kept;
    }
    barrier();
    if (lid == 0 && sel_chunk == LOCAL)
        y_i32[row] = int(sel_last);
    if (lid == sel_chunk) {
        const float before = red_g[lid];
        float run = 0.0;
        uint tok = sel_last;
        for (uint j = j0; j < j1; ++j) {
            const float e = row_e(base, j);
            if (floatBitsToUint(e) >= th) {
                run += e;
                if (before + run > sel_target) {
                    tok = j;
                    break;
                }
            }
        }
        y_i32[row] = int(tok);
    }
}
