/* Every public header, compiled as strict C11 (-std=c11 -pedantic -Wall -Wextra -Werror), and
 * one function of each library called, so that the declarations also link. */
#include "deltavk.h"
#include "deltavk_models.h"
#include "deltavk_nn.h"
#include "deltavk_nn_reference.h"
#include "deltavk_reference.h"

#include <stdio.h>
#include <string.h>

int main(void)
{
    const double a[2] = {1.0, 2.0};
    const float b[2] = {1.0f, 2.0f};
    dvk_rwkv7_destroy(NULL); /* NULL is a no-op */
    const int ok = strcmp(dvk_status_string(DVK_SUCCESS), "success") == 0 &&
                   strcmp(dvk_act_name(DVK_ACT_SILU), "silu") == 0 &&
                   dvk_ref_rel_rms_error(a, b, 2) == 0.0 &&
                   dvk_ref_act(DVK_ACT_RELU, -1.0) == 0.0;
    printf("C11: the headers compile and link: %s\n", ok ? "yes" : "no");
    return ok ? 0 : 1;
}
