/* A host that links the system Vulkan loader (libvulkan) and calls it directly, and links
 * deltavk's static libraries too. Before volk's globals became private, libdeltavk.a defined
 * vkCreateInstance (a data pointer of volk's) and the host's first vkCreateInstance jumped into
 * it. Here the host makes its own instance and counts the devices through the loader, then runs
 * a deltavk building block on its own context, then uses the loader again. Exit 0 when all
 * of that works. */
#include <stdio.h>

#include <vulkan/vulkan.h> /* with prototypes: the loader's functions, linked */

#include "deltavk.h"
#include "deltavk_nn.h"

static int host_counts_devices(const char *when)
{
    const VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                                   .apiVersion = VK_API_VERSION_1_1};
    const VkInstanceCreateInfo info = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                                       .pApplicationInfo = &app};
    VkInstance instance = VK_NULL_HANDLE;
    VkResult r = vkCreateInstance(&info, NULL, &instance);
    if (r != VK_SUCCESS) {
        fprintf(stderr, "%s: vkCreateInstance: %d\n", when, (int)r);
        return -1;
    }
    uint32_t count = 0;
    r = vkEnumeratePhysicalDevices(instance, &count, NULL);
    vkDestroyInstance(instance, NULL);
    if (r != VK_SUCCESS) {
        fprintf(stderr, "%s: vkEnumeratePhysicalDevices: %d\n", when, (int)r);
        return -1;
    }
    printf("%s: the loader's vkCreateInstance works; %u device(s)\n", when, count);
    return (int)count;
}

int main(void)
{
    if (host_counts_devices("host, before deltavk") <= 0)
        return 1;

    enum { N = 9 };
    float x[N], y[N];
    for (int i = 0; i < N; ++i)
        x[i] = (float)(i - N / 2);
    int ok = 0;
    dvk_context *ctx = NULL;
    dvk_tensor *tx = NULL, *ty = NULL;
    dvk_cmd *cmd = NULL;
    const dvk_tensor_desc desc = {.ndim = 1, .shape = {N}};
    dvk_status st = dvk_context_create(NULL, &ctx);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_create(ctx, &desc, &tx);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_create(ctx, &desc, &ty);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_upload(tx, x, sizeof x);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_create(ctx, NULL, &cmd);
    if (st == DVK_SUCCESS)
        st = dvk_activation(cmd, &(dvk_activation_desc){.x = tx, .y = ty, .act = DVK_ACT_RELU});
    if (st == DVK_SUCCESS)
        st = dvk_cmd_submit(cmd);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_wait(cmd, 0);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_download(ty, y, sizeof y);
    if (st != DVK_SUCCESS) {
        fprintf(stderr, "deltavk: %s: %s\n", dvk_status_string(st), dvk_last_error());
        goto done;
    }
    for (int i = 0; i < N; ++i) {
        if (y[i] != (x[i] > 0.0f ? x[i] : 0.0f)) { /* exact: relu only copies */
            fprintf(stderr, "deltavk: relu(%g) = %g\n", (double)x[i], (double)y[i]);
            goto done;
        }
    }
    printf("deltavk: relu on %s agrees\n", dvk_context_device_info(ctx)->name);
    ok = host_counts_devices("host, beside a deltavk context") > 0;

done:
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(tx);
    dvk_tensor_destroy(ty);
    dvk_context_destroy(ctx);
    return ok ? 0 : 1;
}
