/* Interface of glu.comp (dvk_glu): y = value ⊙ act(gate), one element of y per invocation. */
#ifndef DVK_NN_GLU_H
#define DVK_NN_GLU_H

#include "../../common/interface.h"

#define GLU_SPEC_WG 0         /* local_size_x */
#define GLU_SPEC_ACT 1        /* DVK_ACT_CODE_* of act.h */
#define GLU_SPEC_SPLIT 2      /* 1: x holds both halves [rows, 2N]; 0: value x, gate g */
#define GLU_SPEC_GATE_FIRST 3 /* with SPLIT: the gate is the first half */
#define GLU_SPEC_X_DT 4       /* DVK_DT_* of each tensor */
#define GLU_SPEC_G_DT 5
#define GLU_SPEC_Y_DT 6
#define GLU_SPECS 7

#define GLU_BIND_X 0
#define GLU_BIND_G 1
#define GLU_BIND_Y 2
#define GLU_BINDINGS 3

DVK_PUSH_BEGIN(glu_push)
    uint32_t n;    /* elements of y */
    uint32_t cols; /* N, y's last dimension */
DVK_PUSH_END(glu_push)

#endif
