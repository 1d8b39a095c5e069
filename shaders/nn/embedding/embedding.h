/* Interface of embedding.comp (dvk_embedding): one invocation per element of y [rows, C]. */
#ifndef DVK_NN_EMBEDDING_H
#define DVK_NN_EMBEDDING_H

#include "../../common/interface.h"

#define EMBEDDING_LOCAL 128

#define EMBEDDING_SPEC_W_DT 0 /* DVK_DT_* */
#define EMBEDDING_SPEC_Y_DT 1
#define EMBEDDING_SPECS 2

#define EMBEDDING_BIND_INDICES 0
#define EMBEDDING_BIND_W 1
#define EMBEDDING_BIND_Y 2
#define EMBEDDING_BINDINGS 3

DVK_PUSH_BEGIN(embedding_push)
    uint32_t n; /* elements of y: rows·C */
    uint32_t c; /* C */
    uint32_t v; /* V: rows of the weight */
DVK_PUSH_END(embedding_push)

#endif
