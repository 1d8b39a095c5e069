// Every public header, compiled as strict C++ (-std=c++11 and -std=c++17, -pedantic -Wall
// -Wextra -Werror), and one function of each library called, so that the extern "C"
// declarations also link from C++.
#include "deltavk.h"
#include "deltavk_models.h"
#include "deltavk_nn.h"
#include "deltavk_nn_reference.h"
#include "deltavk_reference.h"

#include <cstdio>
#include <cstring>

int main()
{
    const double a[2] = {1.0, 2.0};
    const float b[2] = {1.0f, 2.0f};
    dvk_rwkv7_destroy(nullptr); // nullptr is a no-op
    const bool ok = std::strcmp(dvk_status_string(DVK_SUCCESS), "success") == 0 &&
                    std::strcmp(dvk_act_name(DVK_ACT_SILU), "silu") == 0 &&
                    dvk_ref_rel_rms_error(a, b, 2) == 0.0 &&
                    dvk_ref_act(DVK_ACT_RELU, -1.0) == 0.0;
    std::printf("C++%ld: the headers compile and link: %s\n", __cplusplus / 100 % 100,
                ok ? "yes" : "no");
    return ok ? 0 : 1;
}
