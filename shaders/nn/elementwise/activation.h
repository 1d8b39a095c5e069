/* Interface of activation.comp (dvk_activation): y = act(x), one element per invocation. */
#ifndef DVK_NN_ACTIVATION_H
#define DVK_NN_ACTIVATION_H

#include "../../common/interface.h"

#define ACTIVATION_LOCAL 128 /* Vulkan's guaranteed minimum of maxComputeWorkGroupInvocations */

#define ACTIVATION_SPEC_ACT 0  /* DVK_ACT_CODE_* of act.h */
#define ACTIVATION_SPEC_X_DT 1 /* DVK_DT_* */
#define ACTIVATION_SPEC_Y_DT 2
#define ACTIVATION_SPECS 3

#define ACTIVATION_BIND_X 0
#define ACTIVATION_BIND_Y 1
#define ACTIVATION_BINDINGS 2

DVK_PUSH_BEGIN(activation_push)
    uint32_t n; /* elements */
DVK_PUSH_END(activation_push)

#endif
