/* Interface of sum_tiles.comp: o[e] = the sum over value tiles of part[tile][e], after the key
 * read-out of recurrent.comp over several value tiles (host side:
 * src/ops/common/recurrent.c). */
#ifndef DVK_SHADERS_OPS_DELTA_RULE_SUM_TILES_H
#define DVK_SHADERS_OPS_DELTA_RULE_SUM_TILES_H

#include "../../common/interface.h"

#define DELTA_RULE_SUM_TILES_LOCAL 256 /* invocations per workgroup, one element each */

#define DELTA_RULE_SUM_TILES_SPEC_TILES 0 /* value tiles (parts) to add */
#define DELTA_RULE_SUM_TILES_SPECS 1

#define DELTA_RULE_SUM_TILES_BIND_PART 0 /* fp32 [TILES, count] */
#define DELTA_RULE_SUM_TILES_BIND_O 1
#define DELTA_RULE_SUM_TILES_BINDINGS 2

DVK_PUSH_BEGIN(delta_rule_sum_tiles_push)
    uint32_t count; /* elements of o */
DVK_PUSH_END(delta_rule_sum_tiles_push)

#endif
