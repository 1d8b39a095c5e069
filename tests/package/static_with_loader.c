/* A host that links the system Vulkan loader (libvulkan) and calls it directly, and links
 * deltavk's static library too. Before volk's globals became private, libdeltavk.a defined
 * vkCreateInstance (a data pointer of volk's) and the host's first vkCreateInstance jumped into
 * it. Here the host makes its own instance and counts the devices through the loader, then runs
 * the delta rule on a deltavk context of its own (checked against the C reference), then uses
 * the loader again. Exit 0 when all of that works. */
#include <stdio.h>

#include <vulkan/vulkan.h> /* with prototypes: the loader's functions, linked */

#include "deltavk.h"
#include "deltavk_reference.h"

enum { B = 1, T = 11, H = 2, K = 16, V = 8 };

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

static float q[B * T * H * K], k[B * T * H * K], v[B * T * H * V], beta[B * T * H];
static float o[B * T * H * V];
static double o_ref[B * T * H * V];

int main(void)
{
    if (host_counts_devices("host, before deltavk") <= 0)
        return 1;

    unsigned x = 12345u; /* a small LCG: inputs in [-1, 1) */
    for (int i = 0; i < B * T * H * K; ++i) {
        x = x * 1664525u + 1013904223u;
        q[i] = (float)(x >> 8) / 8388608.0f - 1.0f;
        x = x * 1664525u + 1013904223u;
        k[i] = (float)(x >> 8) / 8388608.0f - 1.0f;
    }
    for (int i = 0; i < B * T * H * V; ++i) {
        x = x * 1664525u + 1013904223u;
        v[i] = (float)(x >> 8) / 8388608.0f - 1.0f;
    }
    for (int i = 0; i < B * T * H; ++i)
        beta[i] = 0.5f;

    int ok = 0;
    dvk_context *ctx = NULL;
    dvk_tensor *tq = NULL, *tk = NULL, *tv = NULL, *tbeta = NULL, *to = NULL;
    dvk_cmd *cmd = NULL;
    dvk_status st = dvk_context_create(NULL, &ctx);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {B, T, H, K}}, &tq);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {B, T, H, K}}, &tk);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {B, T, H, V}}, &tv);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 3, .shape = {B, T, H}}, &tbeta);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {B, T, H, V}}, &to);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_upload(tq, q, sizeof q);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_upload(tk, k, sizeof k);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_upload(tv, v, sizeof v);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_upload(tbeta, beta, sizeof beta);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_create(ctx, NULL, &cmd);
    if (st == DVK_SUCCESS)
        st = dvk_delta_rule(cmd, &(dvk_delta_rule_desc){.q = tq, .k = tk, .v = tv, .beta = tbeta,
                                                        .o = to, .l2norm_qk = true});
    if (st == DVK_SUCCESS)
        st = dvk_cmd_submit(cmd);
    if (st == DVK_SUCCESS)
        st = dvk_cmd_wait(cmd, 0);
    if (st == DVK_SUCCESS)
        st = dvk_tensor_download(to, o, sizeof o);
    if (st != DVK_SUCCESS) {
        fprintf(stderr, "deltavk: %s: %s\n", dvk_status_string(st), dvk_last_error());
        goto done;
    }
    if (dvk_ref_delta_rule(&(dvk_ref_delta_rule_args){.B = B, .T = T, .H = H, .K = K, .V = V,
                                                      .q = q, .k = k, .v = v, .beta = beta,
                                                      .l2norm_qk = 1, .o = o_ref}) != 0)
        goto done;
    const double err = dvk_ref_rel_rms_error(o_ref, o, B * T * H * V);
    printf("deltavk: the delta rule on %s, relative RMS error %.1e\n",
           dvk_context_device_info(ctx)->name, err);
    ok = err <= 1e-5 && host_counts_devices("host, beside a deltavk context") > 0;

done:
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(tq);
    dvk_tensor_destroy(tk);
    dvk_tensor_destroy(tv);
    dvk_tensor_destroy(tbeta);
    dvk_tensor_destroy(to);
    dvk_context_destroy(ctx);
    return ok ? 0 : 1;
}
