/* Context: creation, device choice, capabilities, the small-device profile, host allocator,
 * pipeline cache on disk, status strings, and adopting a caller's Vulkan device and command
 * buffer (as a game engine would). */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <volk.h>

#include "core/internal.h" /* dvk__choose_coopmat_path, on made-up devices */

static void test_status_strings(void **state)
{
    (void)state;
#define CHECK_STRING_(name, value, text) assert_string_equal(dvk_status_string(name), text);
    DVK_STATUS_LIST(CHECK_STRING_)
#undef CHECK_STRING_
    assert_string_equal(dvk_status_string((dvk_status)9999), "unknown status");
    assert_int_equal(DVK_SUCCESS, 0);
}

static void test_device_info(void **state)
{
    (void)state;
    const dvk_device_info *i = dvk_context_device_info(harness_ctx);
    assert_non_null(i);
    assert_true(strlen(i->name) > 0);
    assert_true(i->api_version >= VK_API_VERSION_1_2);
    assert_true(i->subgroup_size >= 1);
    assert_true(i->min_subgroup_size <= i->subgroup_size && i->subgroup_size <= i->max_subgroup_size);
    assert_true(i->max_shared_memory >= 16384);
    assert_true(i->max_workgroup_invocations >= 128);
    assert_true(i->max_storage_buffer_range >= (1u << 27) || i->max_storage_buffer_range >= 65536);
    if (harness_small_profile()) {
        assert_true(i->max_shared_memory <= 16384);
        assert_true(i->max_workgroup_invocations <= 128);
        assert_false(i->subgroup_arithmetic);
        assert_false(i->subgroup_shuffle);
        assert_false(i->fp16_arithmetic);
        assert_false(i->cooperative_matrix_khr);
        assert_false(i->cooperative_matrix_nv);
    }
    assert_null(dvk_context_device_info(NULL));
    assert_int_equal(dvk_context_validation_message_count(NULL), 0);

    uint32_t n = 0;
    CHECK_OK(dvk_enumerate_devices(NULL, &n));
    assert_true(n >= 1);
    dvk_device_info *all = calloc(n, sizeof *all);
    uint32_t cap = n;
    CHECK_OK(dvk_enumerate_devices(all, &cap));
    assert_int_equal(cap, n);
    bool found = false;
    for (uint32_t d = 0; d < n; ++d)
        found = found || strcmp(all[d].name, i->name) == 0;
    assert_true(found);
    free(all);
    CHECK_STATUS(dvk_enumerate_devices(NULL, NULL), DVK_ERROR_INVALID_ARGUMENT);
    cap = 1;
    CHECK_STATUS(dvk_enumerate_devices(NULL, &cap), DVK_ERROR_INVALID_ARGUMENT);
}

/* A caller's allocator receives every host allocation deltavk makes, and gets all of it back. */
typedef struct counting_alloc {
    long allocs, frees;
} counting_alloc;
static void *count_alloc(void *user, size_t size, size_t align)
{
    (void)align;
    ((counting_alloc *)user)->allocs++;
    return malloc(size);
}
static void count_free(void *user, void *p)
{
    ((counting_alloc *)user)->frees++;
    free(p);
}

/* Device choice by index, name substring, and DVK_DEVICE; wrong choices are errors. */
static void test_device_choice(void **state)
{
    (void)state;
    const char *name = dvk_context_device_info(harness_ctx)->name;
    char sub[8];
    snprintf(sub, sizeof sub, "%.4s", name);
    for (char *c = sub; *c; ++c) /* the match ignores case */
        *c = (char)((*c >= 'a' && *c <= 'z') ? *c - 32 : *c);
    dvk_context *ctx = NULL;
    CHECK_OK(dvk_context_create(&(dvk_context_desc){.device = sub}, &ctx));
    assert_string_equal(dvk_context_device_info(ctx)->name, name);
    dvk_context_destroy(ctx);

    char idx[16];
    snprintf(idx, sizeof idx, "%u", dvk_context_device_info(harness_ctx)->index);
    CHECK_OK(dvk_context_create(&(dvk_context_desc){.device = idx}, &ctx));
    assert_string_equal(dvk_context_device_info(ctx)->name, name);
    dvk_context_destroy(ctx);

    ctx = (dvk_context *)1;
    CHECK_STATUS(dvk_context_create(&(dvk_context_desc){.device = "no such gpu, surely"}, &ctx),
                 DVK_ERROR_NO_DEVICE);
    assert_null(ctx);
    CHECK_STATUS(dvk_context_create(&(dvk_context_desc){.device = "99"}, &ctx), DVK_ERROR_NO_DEVICE);

    setenv("DVK_DEVICE", "no such gpu, surely", 1);
    CHECK_STATUS(dvk_context_create(NULL, &ctx), DVK_ERROR_NO_DEVICE);
    setenv("DVK_DEVICE", sub, 1);
    CHECK_OK(dvk_context_create(NULL, &ctx));
    dvk_context_destroy(ctx);
    unsetenv("DVK_DEVICE");

    CHECK_STATUS(dvk_context_create(NULL, NULL), DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_context_create(&(dvk_context_desc){.allocator = {.alloc = NULL, .free = count_free}},
                                    &ctx),
                 DVK_ERROR_INVALID_ARGUMENT);
    dvk_vulkan_handles h = {0};
    CHECK_STATUS(dvk_context_create(&(dvk_context_desc){.adopt = &h, .enable_validation = true}, &ctx),
                 DVK_ERROR_INVALID_ARGUMENT);
    CHECK_STATUS(dvk_context_create(&(dvk_context_desc){.adopt = &h}, &ctx),
                 DVK_ERROR_INVALID_ARGUMENT);
    dvk_context_destroy(NULL);
}

static void test_allocator(void **state)
{
    (void)state;
    counting_alloc c = {0};
    dvk_context_desc d = harness_context_desc();
    d.allocator = (dvk_allocator){count_alloc, count_free, &c};
    dvk_context *ctx = NULL;
    CHECK_OK(dvk_context_create(&d, &ctx));
    dvk_tensor *t = NULL;
    CHECK_OK(dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 1, .shape = {100}}, &t));
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(ctx, NULL, &cmd));
    CHECK_OK(dvk_cmd_fill_zero(cmd, t));
    CHECK_OK(dvk_cmd_submit(cmd));
    CHECK_OK(dvk_cmd_wait(cmd, 0));
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(t);
    assert_int_equal(dvk_context_validation_message_count(ctx), 0);
    dvk_context_destroy(ctx);
    assert_true(c.allocs > 3);
    assert_int_equal(c.allocs, c.frees);
}

static int tiny_delta_rule(dvk_context *ctx)
{
    dvk_tensor *x = NULL, *b = NULL, *o = NULL;
    int ok = dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {1, 3, 1, 8}}, &x) ==
                 DVK_SUCCESS &&
             dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 3, .shape = {1, 3, 1}}, &b) ==
                 DVK_SUCCESS &&
             dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {1, 3, 1, 8}}, &o) ==
                 DVK_SUCCESS;
    dvk_cmd *cmd = NULL;
    ok = ok && dvk_cmd_create(ctx, NULL, &cmd) == DVK_SUCCESS &&
         dvk_cmd_fill_zero(cmd, x) == DVK_SUCCESS && dvk_cmd_fill_zero(cmd, b) == DVK_SUCCESS &&
         dvk_delta_rule(cmd, &(dvk_delta_rule_desc){.q = x, .k = x, .v = x, .beta = b, .o = o}) ==
             DVK_SUCCESS &&
         dvk_cmd_submit(cmd) == DVK_SUCCESS && dvk_cmd_wait(cmd, 0) == DVK_SUCCESS;
    dvk_cmd_destroy(cmd);
    dvk_tensor_destroy(x), dvk_tensor_destroy(b), dvk_tensor_destroy(o);
    return ok;
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fclose(f);
    return n;
}

/* The pipeline cache is written at destruction, read at the next start; a damaged file is
 * ignored with a warning, never an error. */
static void test_pipeline_cache_file(void **state)
{
    (void)state;
    char path[512];
    const char *dir = getenv("DVK_TEST_TMPDIR") ? getenv("DVK_TEST_TMPDIR") : "/tmp";
    snprintf(path, sizeof path, "%s/dvk_pipeline_cache_%d.bin", dir, (int)getpid());
    remove(path);
    dvk_context_desc d = harness_context_desc();
    d.pipeline_cache_path = path;
    dvk_context *ctx = NULL;
    CHECK_OK(dvk_context_create(&d, &ctx));
    assert_int_equal(dvk_context_pipeline_count(ctx), 0);
    assert_true(tiny_delta_rule(ctx));
    assert_int_equal(dvk_context_pipeline_count(ctx), 1);
    assert_true(tiny_delta_rule(ctx)); /* the same variant again: no new pipeline */
    assert_int_equal(dvk_context_pipeline_count(ctx), 1);
    CHECK_OK(dvk_context_save_pipeline_cache(ctx));
    assert_int_equal(dvk_context_validation_message_count(ctx), 0);
    dvk_context_destroy(ctx);
    assert_true(file_size(path) >= 32);

    CHECK_OK(dvk_context_create(&d, &ctx)); /* second start, from the file */
    assert_true(tiny_delta_rule(ctx));
    assert_int_equal(dvk_context_validation_message_count(ctx), 0);
    dvk_context_destroy(ctx);

    FILE *f = fopen(path, "wb"); /* damage it */
    assert_non_null(f);
    fputs("this is not a pipeline cache, but it is at least 32 bytes long", f);
    fclose(f);
    CHECK_OK(dvk_context_create(&d, &ctx));
    assert_true(tiny_delta_rule(ctx));
    assert_int_equal(dvk_context_validation_message_count(ctx), 0);
    dvk_context_destroy(ctx);
    remove(path);

    /* A FIFO is no cache: passed over at once (opening it waited for a writer, forever); the
     * alarm turns a hang into a failure. */
    assert_int_equal(mkfifo(path, 0600), 0);
    alarm(20);
    CHECK_OK(dvk_context_create(&d, &ctx));
    alarm(0);
    dvk_context_destroy(ctx);
    remove(path);

    CHECK_STATUS(dvk_context_save_pipeline_cache(harness_ctx), DVK_ERROR_INVALID_STATE);
    CHECK_STATUS(dvk_context_save_pipeline_cache(NULL), DVK_ERROR_INVALID_ARGUMENT);
}

/* DVK_PIPELINE_CACHE stands in for an unset desc.pipeline_cache_path; DVK_DISABLE hides 16-bit
 * storage and arithmetic, or cooperative matrices, from what kernels plan with; DVK_COOPMAT
 * chooses the cooperative-matrix extension. */
static void test_environment(void **state)
{
    (void)state;
    char path[512];
    const char *dir = getenv("DVK_TEST_TMPDIR") ? getenv("DVK_TEST_TMPDIR") : "/tmp";
    snprintf(path, sizeof path, "%s/dvk_pipeline_cache_env_%d.bin", dir, (int)getpid());
    remove(path);
    const dvk_context_desc d = harness_context_desc();
    dvk_context *ctx = NULL;
    assert_int_equal(setenv("DVK_PIPELINE_CACHE", path, 1), 0);
    CHECK_OK(dvk_context_create(&d, &ctx));
    unsetenv("DVK_PIPELINE_CACHE");
    assert_true(tiny_delta_rule(ctx));
    CHECK_OK(dvk_context_save_pipeline_cache(ctx)); /* it has a path: the variable's */
    dvk_context_destroy(ctx);
    assert_true(file_size(path) >= 32);
    remove(path);

    const dvk_device_info *hw = dvk_context_device_info(harness_ctx);
    assert_int_equal(setenv("DVK_DISABLE", "fp16,coopmat", 1), 0);
    CHECK_OK(dvk_context_create(&d, &ctx));
    const dvk_device_info *i = dvk_context_device_info(ctx);
    assert_false(i->fp16_storage);
    assert_false(i->fp16_arithmetic);
    assert_false(i->cooperative_matrix_khr || i->cooperative_matrix_nv ||
                 i->cooperative_matrix_nv_f16);
    assert_true(tiny_delta_rule(ctx)); /* fp32 work is unaffected */
    dvk_context_destroy(ctx);

    assert_int_equal(setenv("DVK_DISABLE", "coopmat", 1), 0);
    CHECK_OK(dvk_context_create(&d, &ctx));
    i = dvk_context_device_info(ctx);
    assert_int_equal(i->fp16_storage, hw->fp16_storage);
    assert_false(i->cooperative_matrix_khr || i->cooperative_matrix_nv);
    dvk_context_destroy(ctx);

    assert_int_equal(setenv("DVK_DISABLE", "nonsense", 1), 0); /* a warning, not an error */
    CHECK_OK(dvk_context_create(&d, &ctx));
    assert_int_equal(dvk_context_device_info(ctx)->fp16_storage, hw->fp16_storage);
    dvk_context_destroy(ctx);
    unsetenv("DVK_DISABLE");

    /* DVK_COOPMAT chooses the cooperative-matrix extension: one the device (or this build)
     * cannot use gives none, with a warning; an unknown word is ignored. */
    char *saved = getenv("DVK_COOPMAT") ? strdup(getenv("DVK_COOPMAT")) : NULL;
    unsetenv("DVK_COOPMAT");
    CHECK_OK(dvk_context_create(&d, &ctx));
    const dvk_coopmat_path automatic = dvk_context_device_info(ctx)->cooperative_matrix_path;
    const bool any = dvk_context_device_info(ctx)->cooperative_matrix_khr_f16 ||
                     dvk_context_device_info(ctx)->cooperative_matrix_nv_f16;
    dvk_context_destroy(ctx);
    assert_true(automatic == DVK_COOPMAT_NONE || any);
    if (harness_small_profile())
        assert_int_equal(automatic, DVK_COOPMAT_NONE);
    const struct {
        const char *value;
        dvk_coopmat_path want;
    } cases[] = {{"none", DVK_COOPMAT_NONE}, {"khr", DVK_COOPMAT_KHR},
                 {"nv", DVK_COOPMAT_NV},     {"auto", automatic},
                 {"sideways", automatic}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
        assert_int_equal(setenv("DVK_COOPMAT", cases[c].value, 1), 0);
        CHECK_OK(dvk_context_create(&d, &ctx));
        i = dvk_context_device_info(ctx);
        const dvk_coopmat_path got = i->cooperative_matrix_path;
        if (got != cases[c].want) { /* only where the device or build lacks what was asked */
            assert_int_equal(got, DVK_COOPMAT_NONE);
            assert_false(cases[c].want == DVK_COOPMAT_KHR && i->cooperative_matrix_khr_f16 &&
                         i->fp16_arithmetic && i->min_subgroup_size == 32 &&
                         i->max_subgroup_size == 32 && DVK_TEST_HAVE_KHR_COOPMAT);
        }
        assert_true(got == DVK_COOPMAT_NONE || (got == DVK_COOPMAT_KHR
                                                    ? i->cooperative_matrix_khr_f16
                                                    : i->cooperative_matrix_nv_f16));
        assert_true(got == DVK_COOPMAT_NONE || i->cooperative_matrix_subgroup_size == 0 ||
                    i->cooperative_matrix_subgroup_size == 32);
        assert_true(tiny_delta_rule(ctx));
        dvk_context_destroy(ctx);
    }
    if (saved)
        setenv("DVK_COOPMAT", saved, 1);
    else
        unsetenv("DVK_COOPMAT");
    free(saved);
}

/* ---- adopting the caller's Vulkan objects ----------------------------------------------- */

static int caller_messages;
static VKAPI_ATTR VkBool32 VKAPI_CALL caller_messenger(VkDebugUtilsMessageSeverityFlagBitsEXT sev,
                                                       VkDebugUtilsMessageTypeFlagsEXT type,
                                                       const VkDebugUtilsMessengerCallbackDataEXT *d,
                                                       void *user)
{
    (void)sev, (void)type, (void)user;
    ++caller_messages;
    fprintf(stderr, "[VALIDATION, caller's instance] %s\n", d->pMessage);
    return VK_FALSE;
}

/* The engine's side, written with plain Vulkan through volk's global functions (the test is
 * the engine here; the library itself never uses volk's globals). */
static void test_adopt_device_and_command_buffer(void **state)
{
    (void)state;
    assert_int_equal(volkInitialize(), VK_SUCCESS);
    const VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                                   .apiVersion = VK_API_VERSION_1_2};
    const char *layer = "VK_LAYER_KHRONOS_validation";
    const char *ext = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    VkDebugUtilsMessengerCreateInfoEXT mi = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = caller_messenger,
    };
    const VkInstanceCreateInfo ii = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = &mi,
        .pApplicationInfo = &app,
        .enabledLayerCount = 1,
        .ppEnabledLayerNames = &layer,
        .enabledExtensionCount = 1,
        .ppEnabledExtensionNames = &ext,
    };
    VkInstance instance;
    assert_int_equal(vkCreateInstance(&ii, NULL, &instance), VK_SUCCESS);
    volkLoadInstanceOnly(instance);
    VkDebugUtilsMessengerEXT messenger;
    assert_int_equal(vkCreateDebugUtilsMessengerEXT(instance, &mi, NULL, &messenger), VK_SUCCESS);

    /* The same physical device the harness context uses. */
    uint32_t n = 0;
    vkEnumeratePhysicalDevices(instance, &n, NULL);
    VkPhysicalDevice phys[16];
    n = n > 16 ? 16 : n;
    vkEnumeratePhysicalDevices(instance, &n, phys);
    const uint32_t index = dvk_context_device_info(harness_ctx)->index;
    assert_true(index < n);
    VkPhysicalDevice pd = phys[index];
    uint32_t qn = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &qn, NULL);
    VkQueueFamilyProperties qf[16];
    qn = qn > 16 ? 16 : qn;
    vkGetPhysicalDeviceQueueFamilyProperties(pd, &qn, qf);
    uint32_t family = UINT32_MAX;
    for (uint32_t i = 0; i < qn && family == UINT32_MAX; ++i)
        if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT)
            family = i;
    assert_true(family != UINT32_MAX);
    const float prio = 1.0f;
    const VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                        .queueFamilyIndex = family,
                                        .queueCount = 1,
                                        .pQueuePriorities = &prio};
    VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
    VkPhysicalDeviceFeatures2 supported = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                           .pNext = &f11};
    vkGetPhysicalDeviceFeatures2(pd, &supported);
    VkPhysicalDeviceVulkan11Features want11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
        .storageBuffer16BitAccess = f11.storageBuffer16BitAccess,
    };
    const VkPhysicalDeviceFeatures2 enabled = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
                                               .pNext = &want11};
    const VkDeviceCreateInfo di = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                                   .pNext = &enabled,
                                   .queueCreateInfoCount = 1,
                                   .pQueueCreateInfos = &qi};
    VkDevice device;
    assert_int_equal(vkCreateDevice(pd, &di, NULL, &device), VK_SUCCESS);
    volkLoadDevice(device);
    VkQueue queue;
    vkGetDeviceQueue(device, family, 0, &queue);

    /* Adopt it. */
    const dvk_vulkan_handles handles = {
        .instance = instance, .physical_device = pd, .device = device, .queue = queue,
        .queue_family_index = family, .api_version = VK_API_VERSION_1_2,
        .get_instance_proc_addr = vkGetInstanceProcAddr, .enabled_features = &enabled,
    };
    dvk_context *ctx = NULL;
    CHECK_OK(dvk_context_create(&(dvk_context_desc){.adopt = &handles,
                                                    .small_device_profile = harness_small_profile()},
                                &ctx));
    assert_int_equal(dvk_context_device_info(ctx)->fp16_storage, f11.storageBuffer16BitAccess);

    /* Inputs, and the reference. */
    enum { T = 19, H = 2, K = 32, V = 24 };
    harness_rng rng = harness_rng_make(11);
    float q[T * H * K], k[T * H * K], v[T * H * V], beta[T * H];
    harness_fill_normal(&rng, q, T * H * K, 1.0f);
    harness_fill_normal(&rng, k, T * H * K, 1.0f);
    harness_l2_normalize_rows(k, T * H, K);
    harness_fill_normal(&rng, v, T * H * V, 1.0f);
    harness_fill_uniform(&rng, beta, T * H, 0.1f, 0.9f);
    double o_ref[T * H * V], ht_ref[H * K * V];
    dvk_ref_delta_rule(&(dvk_ref_delta_rule_args){.B = 1, .T = T, .H = H, .K = K, .V = V, .q = q,
                                                  .k = k, .v = v, .beta = beta, .o = o_ref,
                                                  .ht = ht_ref});
    dvk_tensor *tq, *tk, *tv, *tb, *to, *ts;
    CHECK_OK(dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {1, T, H, K}}, &tq));
    CHECK_OK(dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {1, T, H, K}}, &tk));
    CHECK_OK(dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {1, T, H, V}}, &tv));
    CHECK_OK(dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 3, .shape = {1, T, H}}, &tb));
    CHECK_OK(dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {1, T, H, V}}, &to));
    CHECK_OK(dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {1, H, K, V}}, &ts));
    CHECK_OK(dvk_tensor_upload(tq, q, sizeof q));
    CHECK_OK(dvk_tensor_upload(tk, k, sizeof k));
    CHECK_OK(dvk_tensor_upload(tv, v, sizeof v));
    CHECK_OK(dvk_tensor_upload(tb, beta, sizeof beta));

    /* Record into the engine's own command buffer, submit it with the engine's fence. */
    VkCommandPool pool;
    const VkCommandPoolCreateInfo pi = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                        .queueFamilyIndex = family};
    assert_int_equal(vkCreateCommandPool(device, &pi, NULL, &pool), VK_SUCCESS);
    VkCommandBuffer cb;
    const VkCommandBufferAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                            .commandPool = pool,
                                            .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                            .commandBufferCount = 1};
    assert_int_equal(vkAllocateCommandBuffers(device, &ai, &cb), VK_SUCCESS);
    const VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    assert_int_equal(vkBeginCommandBuffer(cb, &bi), VK_SUCCESS);
    dvk_cmd *cmd = NULL;
    CHECK_OK(dvk_cmd_create(ctx, &(dvk_cmd_desc){.command_buffer = cb}, &cmd));
    CHECK_OK(dvk_cmd_fill_zero(cmd, ts));
    CHECK_OK(dvk_delta_rule(cmd, &(dvk_delta_rule_desc){.q = tq, .k = tk, .v = tv, .beta = tb,
                                                        .o = to, .initial_state = ts,
                                                        .final_state = ts}));
    CHECK_OK(dvk_cmd_barrier(cmd)); /* before the engine's own work (and the host's read) */
    float sink[T * H * V];
    CHECK_STATUS(dvk_cmd_download(cmd, to, sink, sizeof sink), DVK_ERROR_INVALID_STATE);
    CHECK_STATUS(dvk_cmd_submit(cmd), DVK_ERROR_INVALID_STATE);
    CHECK_STATUS(dvk_cmd_wait(cmd, 0), DVK_ERROR_INVALID_STATE);
    assert_int_equal(vkEndCommandBuffer(cb), VK_SUCCESS);
    VkFence fence;
    const VkFenceCreateInfo fi = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    assert_int_equal(vkCreateFence(device, &fi, NULL, &fence), VK_SUCCESS);
    const VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                             .commandBufferCount = 1,
                             .pCommandBuffers = &cb};
    assert_int_equal(vkQueueSubmit(queue, 1, &si, fence), VK_SUCCESS);
    assert_int_equal(vkWaitForFences(device, 1, &fence, VK_TRUE, UINT64_MAX), VK_SUCCESS);
    dvk_cmd_destroy(cmd);

    float o[T * H * V], ht[H * K * V];
    CHECK_OK(dvk_tensor_download(to, o, sizeof o));
    CHECK_OK(dvk_tensor_download(ts, ht, sizeof ht));
    assert_true(harness_rel_err("adopted device: o", o_ref, o, T * H * V) <= 1e-5);
    assert_true(harness_rel_err("adopted device: ht", ht_ref, ht, H * K * V) <= 1e-5);

    dvk_tensor *all[] = {tq, tk, tv, tb, to, ts};
    for (int i = 0; i < 6; ++i)
        dvk_tensor_destroy(all[i]);
    dvk_context_destroy(ctx); /* leaves the engine's device alone */
    vkDestroyFence(device, fence, NULL);
    vkDestroyCommandPool(device, pool, NULL);
    vkDestroyDevice(device, NULL);
    vkDestroyDebugUtilsMessengerEXT(instance, messenger, NULL);
    vkDestroyInstance(instance, NULL);
    assert_int_equal(caller_messages, 0);
}

/* The choice of cooperative-matrix extension (dvk__choose_coopmat_path) on made-up devices:
 * the vendors' shapes and subgroup sizes this machine has no GPU for. */
typedef struct coopmat_case {
    const char *what;
    bool nv_f16, khr_f16, size_control, full, compute_stage;
    uint32_t sg, sg_min, sg_max;
    const char *env; /* DVK_COOPMAT, NULL = unset */
    bool avoid_khr;
    dvk_coopmat_path want; /* assuming this build has both kernel sets */
    uint32_t want_sg;
} coopmat_case;

static void test_coopmat_path_choice(void **state)
{
    (void)state;
    const bool nv_built = dvk_ops_kernel_table[DVK_OPS_K_DELTA_RULE_CHUNK_STATE_CM_F16].code;
    const bool khr_built =
        dvk_ops_kernel_table[DVK_OPS_K_DELTA_RULE_CHUNK_STATE_CM_F16].code_khr != NULL;
    assert_int_equal(khr_built, DVK_TEST_HAVE_KHR_COOPMAT);
    const coopmat_case cases[] = {
        {"NVIDIA: both, 32 fixed", true, true, true, true, true, 32, 32, 32, NULL, false,
         DVK_COOPMAT_KHR, 32},
        {"NVIDIA under an old validation layer", true, true, true, true, true, 32, 32, 32, NULL,
         true, DVK_COOPMAT_NV, 0},
        {"NVIDIA, DVK_COOPMAT=nv", true, true, true, true, true, 32, 32, 32, "nv", false,
         DVK_COOPMAT_NV, 0},
        {"NVIDIA, DVK_COOPMAT=none", true, true, true, true, true, 32, 32, 32, "none", false,
         DVK_COOPMAT_NONE, 0},
        {"NVIDIA, DVK_COOPMAT=khr under an old layer", true, true, true, true, true, 32, 32, 32,
         "khr", true, DVK_COOPMAT_KHR, 32},
        {"NVIDIA, no subgroup size control", true, true, false, false, false, 32, 32, 32, NULL,
         false, DVK_COOPMAT_KHR, 0},
        {"AMD RDNA3: KHR, waves of 64 by default, 32 on request", false, true, true, true, true,
         64, 32, 64, NULL, false, DVK_COOPMAT_KHR, 32},
        {"AMD without subgroup size control", false, true, false, false, false, 64, 32, 64,
         NULL, false, DVK_COOPMAT_NONE, 0},
        {"AMD without full subgroups", false, true, true, false, true, 64, 32, 64, NULL, false,
         DVK_COOPMAT_NONE, 0},
        {"AMD, DVK_COOPMAT=nv", false, true, true, true, true, 64, 32, 64, "nv", false,
         DVK_COOPMAT_NONE, 0},
        {"Intel Xe2: no 16x16x16 shape", false, false, true, true, true, 16, 16, 32, NULL, false,
         DVK_COOPMAT_NONE, 0},
        {"subgroups of 16 only", false, true, true, true, true, 16, 16, 16, NULL, false,
         DVK_COOPMAT_NONE, 0},
        {"an unknown word is ignored", true, true, true, true, true, 32, 32, 32, "sideways",
         false, DVK_COOPMAT_KHR, 32},
    };
    char *saved = getenv("DVK_COOPMAT") ? strdup(getenv("DVK_COOPMAT")) : NULL;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
        const coopmat_case *k = &cases[c];
        dvk_device_caps caps = {0};
        caps.feat_subgroup_size_control = k->size_control;
        caps.feat_full_subgroups = k->full;
        caps.required_subgroup_stages = k->compute_stage ? VK_SHADER_STAGE_COMPUTE_BIT : 0;
        dvk_device_info info = {0};
        snprintf(info.name, sizeof info.name, "%s", k->what);
        info.cooperative_matrix_nv_f16 = k->nv_f16;
        info.cooperative_matrix_khr_f16 = k->khr_f16;
        info.fp16_storage = info.fp16_arithmetic = true;
        info.subgroup_size = k->sg;
        info.min_subgroup_size = k->sg_min;
        info.max_subgroup_size = k->sg_max;
        if (k->env)
            setenv("DVK_COOPMAT", k->env, 1);
        else
            unsetenv("DVK_COOPMAT");
        dvk__choose_coopmat_path(&caps, &info, NULL, k->avoid_khr);
        dvk_coopmat_path want = k->want;
        uint32_t want_sg = k->want_sg;
        if ((want == DVK_COOPMAT_KHR && !khr_built) || (want == DVK_COOPMAT_NV && !nv_built)) {
            /* this build lacks that kernel set: the other extension, if asked for by auto */
            const bool asked = k->env && strcmp(k->env, "sideways") != 0;
            want = !asked && want == DVK_COOPMAT_KHR && k->nv_f16 && nv_built && k->sg_min == 32 &&
                           k->sg_max == 32
                       ? DVK_COOPMAT_NV
                       : DVK_COOPMAT_NONE;
            want_sg = 0;
        }
        if (info.cooperative_matrix_path != want ||
            info.cooperative_matrix_subgroup_size != want_sg)
            fail_msg("%s: path %d with subgroups %u, expected %d with %u", k->what,
                     (int)info.cooperative_matrix_path, info.cooperative_matrix_subgroup_size,
                     (int)want, want_sg);
        info.fp16_arithmetic = false; /* no fp16: no path, whatever is asked */
        dvk__choose_coopmat_path(&caps, &info, NULL, k->avoid_khr);
        assert_int_equal(info.cooperative_matrix_path, DVK_COOPMAT_NONE);
    }
    if (saved)
        setenv("DVK_COOPMAT", saved, 1);
    else
        unsetenv("DVK_COOPMAT");
    free(saved);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_status_strings, harness_test_teardown),
        cmocka_unit_test_teardown(test_device_info, harness_test_teardown),
        cmocka_unit_test_teardown(test_device_choice, harness_test_teardown),
        cmocka_unit_test_teardown(test_allocator, harness_test_teardown),
        cmocka_unit_test_teardown(test_pipeline_cache_file, harness_test_teardown),
        cmocka_unit_test_teardown(test_environment, harness_test_teardown),
        cmocka_unit_test(test_coopmat_path_choice),
        cmocka_unit_test_teardown(test_adopt_device_and_command_buffer, harness_test_teardown),
    };
    if (getenv("DVK_TEST_FILTER")) /* a glob of test names: only those run */
        cmocka_set_test_filter(getenv("DVK_TEST_FILTER"));
    return cmocka_run_group_tests(tests, harness_group_setup, harness_group_teardown);
}
