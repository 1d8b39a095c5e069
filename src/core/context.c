/* dvk_context: creating or adopting a Vulkan device, choosing it, reporting what it can do. */
#include "core/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- logging ------------------------------------------------------------------------------ */

static void default_log(void *user, dvk_log_level level, dvk_log_source source, const char *msg)
{
    (void)user;
    if (level < DVK_LOG_WARNING)
        return;
    fprintf(stderr, "deltavk%s: %s\n", source == DVK_LOG_SOURCE_VALIDATION ? " [validation]" : "",
            msg);
}

void dvk__log(const dvk_context *ctx, dvk_log_level level, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    ctx->log(ctx->log_user, level, DVK_LOG_SOURCE_LIBRARY, buf);
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_debug_message(
    VkDebugUtilsMessageSeverityFlagBitsEXT severity, VkDebugUtilsMessageTypeFlagsEXT types,
    const VkDebugUtilsMessengerCallbackDataEXT *data, void *user)
{
    (void)types;
    dvk_context *ctx = user;
    atomic_fetch_add(&ctx->validation_messages, 1);
    const dvk_log_level level =
        severity >= VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT ? DVK_LOG_ERROR : DVK_LOG_WARNING;
    ctx->log(ctx->log_user, level, DVK_LOG_SOURCE_VALIDATION,
             data && data->pMessage ? data->pMessage : "(no message)");
    return VK_FALSE;
}

/* ---- device choice ------------------------------------------------------------------------ */

static int type_rank(dvk_device_type t)
{
    switch (t) {
    case DVK_DEVICE_TYPE_DISCRETE_GPU:
        return 4;
    case DVK_DEVICE_TYPE_INTEGRATED_GPU:
        return 3;
    case DVK_DEVICE_TYPE_VIRTUAL_GPU:
        return 2;
    case DVK_DEVICE_TYPE_CPU:
        return 1;
    default:
        return 0;
    }
}

static bool contains_nocase(const char *hay, const char *needle)
{
    const size_t n = strlen(needle);
    for (const char *h = hay; *h; ++h) {
        size_t i = 0;
        while (i < n && h[i] && tolower((unsigned char)h[i]) == tolower((unsigned char)needle[i]))
            ++i;
        if (i == n)
            return true;
    }
    return n == 0;
}

static bool usable(const dvk_device_caps *c)
{
    return c->info.api_version >= VK_API_VERSION_1_2 && c->compute_queue_family != UINT32_MAX;
}

/* Chooses among `caps` by `want` (index, name substring, or NULL/"" for the best). */
static dvk_status choose_device(const dvk_device_caps *caps, uint32_t n, const char *want,
                                uint32_t *out)
{
    char names[1024] = "";
    for (uint32_t i = 0; i < n; ++i) {
        char one[300];
        snprintf(one, sizeof one, "%s%u: %s", i ? ", " : "", i, caps[i].info.name);
        strncat(names, one, sizeof names - strlen(names) - 1);
    }
    if (n == 0)
        return dvk__fail(DVK_ERROR_NO_DEVICE,
                         "no Vulkan device found (install a driver, e.g. mesa-vulkan-drivers)");

    if (want && *want) {
        bool digits = true;
        for (const char *p = want; *p; ++p)
            digits = digits && isdigit((unsigned char)*p);
        uint32_t pick = UINT32_MAX;
        if (digits) {
            unsigned long idx = strtoul(want, NULL, 10);
            if (idx >= n)
                return dvk__fail(DVK_ERROR_NO_DEVICE, "device index %s out of range (devices: %s)",
                                 want, names);
            pick = (uint32_t)idx;
        } else {
            for (uint32_t i = 0; i < n && pick == UINT32_MAX; ++i)
                if (contains_nocase(caps[i].info.name, want))
                    pick = i;
            if (pick == UINT32_MAX)
                return dvk__fail(DVK_ERROR_NO_DEVICE, "no device name contains \"%s\" (devices: %s)",
                                 want, names);
        }
        if (!usable(&caps[pick]))
            return dvk__fail(DVK_ERROR_NO_DEVICE,
                             "device %u (%s) lacks Vulkan 1.2 or a compute queue", pick,
                             caps[pick].info.name);
        *out = pick;
        return DVK_SUCCESS;
    }

    int best_rank = -1;
    for (uint32_t i = 0; i < n; ++i) {
        if (!usable(&caps[i]))
            continue;
        const int r = type_rank(caps[i].info.type);
        if (r > best_rank) {
            best_rank = r;
            *out = i;
        }
    }
    if (best_rank < 0)
        return dvk__fail(DVK_ERROR_NO_DEVICE,
                         "no device supports Vulkan 1.2 with a compute queue (devices: %s)", names);
    return DVK_SUCCESS;
}

/* ---- creating our own device -------------------------------------------------------------- */

static dvk_status create_own_device(dvk_context *ctx, const dvk_context_desc *desc)
{
    uint32_t layer_version = 0;
    const dvk_instance_setup setup = {
        .alloc = ctx->alloc,
        .validation = desc->enable_validation,
        .vk_allocator = ctx->vk_alloc,
        .messenger_callback = on_debug_message,
        .messenger_user = ctx,
        .validation_layer_version = &layer_version,
    };
    DVK_TRY(dvk__load_loader(NULL, &ctx->vkl));
    DVK_TRY(dvk__create_instance(&ctx->vkl, &setup, &ctx->instance, &ctx->api_version, &ctx->vki,
                                 &ctx->messenger));
    ctx->owns_instance = true;
    ctx->avoid_khr_coopmat =
        desc->enable_validation && layer_version < VK_MAKE_API_VERSION(0, 1, 3, 255);

    uint32_t n = 0;
    VkResult r = ctx->vki.vkEnumeratePhysicalDevices(ctx->instance, &n, NULL);
    if (r != VK_SUCCESS)
        return dvk__fail_vk(r, "vkEnumeratePhysicalDevices");
    VkPhysicalDevice phys[32];
    if (n > 32)
        n = 32;
    r = ctx->vki.vkEnumeratePhysicalDevices(ctx->instance, &n, phys);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE)
        return dvk__fail_vk(r, "vkEnumeratePhysicalDevices");

    dvk_device_caps *caps = dvk__alloc(&ctx->alloc, sizeof *caps * (n ? n : 1));
    if (!caps)
        return dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    for (uint32_t i = 0; i < n; ++i)
        dvk__query_device_caps(&ctx->alloc, &ctx->vki, phys[i], ctx->api_version, i, &caps[i]);
    const char *want = desc->device ? desc->device : getenv("DVK_DEVICE");
    uint32_t pick = 0;
    dvk_status st = choose_device(caps, n, want, &pick);
    if (st == DVK_SUCCESS) {
        ctx->physical_device = phys[pick];
        ctx->caps = caps[pick];
    }
    dvk__free(&ctx->alloc, caps);
    DVK_TRY(st);
    const dvk_device_caps *c = &ctx->caps;
    ctx->api_version = c->info.api_version;

    /* Enable only what kernels may use, and only what the device has. */
    const char *exts[5];
    uint32_t n_ext = 0;
    if (c->ext_portability_subset)
        exts[n_ext++] = "VK_KHR_portability_subset";
    if (ctx->api_version < VK_API_VERSION_1_3 && c->feat_subgroup_size_control)
        exts[n_ext++] = VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME;
    /* VK_KHR_cooperative_matrix only where the kernels will use it (the path chosen from the
     * hardware and DVK_COOPMAT): validation layers older than 1.3.255 report every use of it,
     * and nothing else needs it. */
    dvk__choose_coopmat_path(&ctx->caps, &ctx->caps.info, NULL, ctx->avoid_khr_coopmat);
    const bool enable_khr = c->feat_coopmat_khr &&
                            c->info.cooperative_matrix_path == DVK_COOPMAT_KHR;
    if (enable_khr)
        exts[n_ext++] = VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME;
    if (c->feat_coopmat_nv)
        exts[n_ext++] = VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME;
    /* A developer's switch: the compiler's statistics (registers, spills) of every pipeline. */
    const char *stats_env = getenv("DVK_PIPELINE_STATS");
    ctx->pipeline_times = stats_env && stats_env[0] == '1';
    ctx->pipeline_stats = ctx->pipeline_times && c->ext_pipeline_executable_properties;
    if (ctx->pipeline_times && !ctx->pipeline_stats)
        dvk__log(ctx, DVK_LOG_WARNING, "DVK_PIPELINE_STATS: %s lacks "
                 "VK_KHR_pipeline_executable_properties (build times only)", c->info.name);
    if (ctx->pipeline_stats)
        exts[n_ext++] = VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME;
    VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR exec_props = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR,
        .pipelineExecutableInfo = VK_TRUE,
    };

    VkPhysicalDeviceCooperativeMatrixFeaturesNV coop_nv = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV,
        .cooperativeMatrix = VK_TRUE,
    };
    VkPhysicalDeviceCooperativeMatrixFeaturesKHR coop_khr = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR,
        .cooperativeMatrix = VK_TRUE,
    };
    VkPhysicalDeviceSubgroupSizeControlFeatures size_feat = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES,
        .subgroupSizeControl = c->feat_subgroup_size_control,
        .computeFullSubgroups = c->feat_full_subgroups,
    };
    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
        .shaderFloat16 = c->feat_float16,
        .vulkanMemoryModel = c->feat_memory_model,
    };
    VkPhysicalDeviceVulkan11Features f11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
        .pNext = &f12,
        .storageBuffer16BitAccess = c->feat_storage16,
    };
    void **tail = &f12.pNext;
    if (c->feat_subgroup_size_control) {
        *tail = &size_feat;
        tail = &size_feat.pNext;
    }
    if (enable_khr) {
        *tail = &coop_khr;
        tail = &coop_khr.pNext;
    }
    if (c->feat_coopmat_nv) {
        *tail = &coop_nv;
        tail = &coop_nv.pNext;
    }
    if (ctx->pipeline_stats) {
        *tail = &exec_props;
        tail = &exec_props.pNext;
    }
    const VkPhysicalDeviceFeatures2 features = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
        .pNext = &f11,
    };
    const float priority = 1.0f;
    const VkDeviceQueueCreateInfo queue_info = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = c->compute_queue_family,
        .queueCount = 1,
        .pQueuePriorities = &priority,
    };
    const VkDeviceCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .pNext = &features,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &queue_info,
        .enabledExtensionCount = n_ext,
        .ppEnabledExtensionNames = exts,
    };
    DVK_VK_TRY(ctx->vki.vkCreateDevice(ctx->physical_device, &info, ctx->vk_alloc, &ctx->device));
    ctx->owns_device = true;
    DVK_TRY(dvk__load_device_fns(&ctx->vki, ctx->device, &ctx->vk));
    ctx->queue_family = c->compute_queue_family;
    ctx->vk.vkGetDeviceQueue(ctx->device, ctx->queue_family, 0, &ctx->queue);
    ctx->enabled_storage16 = c->feat_storage16;
    ctx->enabled_float16 = c->feat_float16;
    ctx->enabled_subgroup_size_control = c->feat_subgroup_size_control;
    if (!enable_khr) { /* what the context may use is what it enabled */
        ctx->caps.feat_coopmat_khr = false;
        ctx->caps.info.cooperative_matrix_khr = false;
        ctx->caps.info.cooperative_matrix_khr_f16 = false;
    }
    return DVK_SUCCESS;
}

/* ---- adopting the caller's device --------------------------------------------------------- */

static bool list_has(const char *const *names, uint32_t count, const char *name)
{
    for (uint32_t i = 0; names && i < count; ++i)
        if (names[i] && strcmp(names[i], name) == 0)
            return true;
    return false;
}

static dvk_status adopt_device(dvk_context *ctx, const dvk_vulkan_handles *h)
{
    if (!h->instance || !h->physical_device || !h->device || !h->queue)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                         "adopt: instance, physical_device, device and queue are all required");
    const uint32_t api = h->api_version ? h->api_version : VK_API_VERSION_1_2;
    if (api < VK_API_VERSION_1_2)
        return dvk__fail(DVK_ERROR_UNSUPPORTED, "adopt: the instance must be Vulkan 1.2 or newer");
    DVK_TRY(dvk__load_loader(h->get_instance_proc_addr, &ctx->vkl));
    ctx->instance = h->instance;
    ctx->physical_device = h->physical_device;
    ctx->device = h->device;
    ctx->queue = h->queue;
    ctx->queue_family = h->queue_family_index;
    DVK_TRY(dvk__load_instance_fns(&ctx->vkl, h->instance, &ctx->vki));
    dvk__query_device_caps(&ctx->alloc, &ctx->vki, h->physical_device, api, 0, &ctx->caps);
    ctx->api_version = ctx->caps.info.api_version;
    if (ctx->api_version < VK_API_VERSION_1_2)
        return dvk__fail(DVK_ERROR_UNSUPPORTED, "adopt: the device must support Vulkan 1.2");

    uint32_t qf_count = 0;
    ctx->vki.vkGetPhysicalDeviceQueueFamilyProperties(h->physical_device, &qf_count, NULL);
    VkQueueFamilyProperties qfs[32];
    if (qf_count > 32)
        qf_count = 32;
    ctx->vki.vkGetPhysicalDeviceQueueFamilyProperties(h->physical_device, &qf_count, qfs);
    if (h->queue_family_index >= qf_count ||
        !(qfs[h->queue_family_index].queueFlags & VK_QUEUE_COMPUTE_BIT))
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                         "adopt: queue family %u does not support compute", h->queue_family_index);
    ctx->caps.timestamp_valid_bits = qfs[h->queue_family_index].timestampValidBits;
    ctx->caps.info.timestamps = qfs[h->queue_family_index].timestampValidBits > 0 &&
                                ctx->caps.info.timestamp_period_ns > 0.0;
    DVK_TRY(dvk__load_device_fns(&ctx->vki, h->device, &ctx->vk));

    /* Only what the caller enabled may be used. */
    bool storage16 = false, float16 = false, size_control = false, full = false;
    bool coop_khr = false, coop_nv = false, memory_model = false;
    for (const VkBaseInStructure *s = h->enabled_features ? h->enabled_features->pNext : NULL; s;
         s = s->pNext) {
        switch ((uint32_t)s->sType) { /* uint32_t: a KHR value our headers may predate */
        case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES:
            storage16 |= ((const VkPhysicalDeviceVulkan11Features *)s)->storageBuffer16BitAccess;
            break;
        case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES:
            storage16 |= ((const VkPhysicalDevice16BitStorageFeatures *)s)->storageBuffer16BitAccess;
            break;
        case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES:
            float16 |= ((const VkPhysicalDeviceVulkan12Features *)s)->shaderFloat16;
            memory_model |= ((const VkPhysicalDeviceVulkan12Features *)s)->vulkanMemoryModel;
            break;
        case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES:
            memory_model |=
                ((const VkPhysicalDeviceVulkanMemoryModelFeatures *)s)->vulkanMemoryModel;
            break;
        case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES:
            float16 |= ((const VkPhysicalDeviceShaderFloat16Int8Features *)s)->shaderFloat16;
            break;
        case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_3_FEATURES:
            size_control |= ((const VkPhysicalDeviceVulkan13Features *)s)->subgroupSizeControl;
            full |= ((const VkPhysicalDeviceVulkan13Features *)s)->computeFullSubgroups;
            break;
        case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES:
            size_control |=
                ((const VkPhysicalDeviceSubgroupSizeControlFeatures *)s)->subgroupSizeControl;
            full |= ((const VkPhysicalDeviceSubgroupSizeControlFeatures *)s)->computeFullSubgroups;
            break;
        case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR:
            coop_khr |= ((const VkPhysicalDeviceCooperativeMatrixFeaturesKHR *)s)->cooperativeMatrix;
            break;
        case VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV:
            coop_nv |= ((const VkPhysicalDeviceCooperativeMatrixFeaturesNV *)s)->cooperativeMatrix;
            break;
        default:
            break;
        }
    }
    coop_khr = coop_khr && list_has(h->enabled_extensions, h->enabled_extension_count,
                                    VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME);
    coop_nv = coop_nv && list_has(h->enabled_extensions, h->enabled_extension_count,
                                  VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME);
    dvk_device_caps *c = &ctx->caps;
    c->feat_storage16 = c->feat_storage16 && storage16;
    c->feat_float16 = c->feat_float16 && float16;
    c->feat_subgroup_size_control = c->feat_subgroup_size_control && size_control;
    c->feat_full_subgroups = c->feat_full_subgroups && full;
    c->feat_coopmat_khr = c->feat_coopmat_khr && coop_khr;
    c->feat_coopmat_nv = c->feat_coopmat_nv && coop_nv;
    c->feat_memory_model = c->feat_memory_model && memory_model;
    c->info.fp16_storage = c->feat_storage16;
    c->info.fp16_arithmetic = c->feat_float16;
    c->info.cooperative_matrix_khr = c->feat_coopmat_khr;
    c->info.cooperative_matrix_nv = c->feat_coopmat_nv;
    c->info.vulkan_memory_model = c->feat_memory_model;
    c->info.cooperative_matrix_nv_f16 = c->feat_coopmat_nv && c->coopmat_nv_f16_16x16x16 &&
                                        c->feat_memory_model;
    c->info.cooperative_matrix_khr_f16 = c->feat_coopmat_khr && c->coopmat_khr_f16_16x16x16 &&
                                         c->feat_memory_model;
    ctx->enabled_storage16 = c->feat_storage16;
    ctx->enabled_float16 = c->feat_float16;
    ctx->enabled_subgroup_size_control = c->feat_subgroup_size_control;
    return DVK_SUCCESS;
}

/* ---- the profile ---------------------------------------------------------------------------- */

/* The limits kernels plan with: the hardware's, or the mobile-class profile's. */
static void apply_profile(dvk_context *ctx)
{
    ctx->info = ctx->caps.info;
    if (!ctx->small_profile)
        return;
    dvk_device_info *i = &ctx->info;
    i->max_shared_memory = dvk__min_u32(i->max_shared_memory, 16384);
    i->max_workgroup_invocations = dvk__min_u32(i->max_workgroup_invocations, 128);
    for (int d = 0; d < 3; ++d)
        i->max_workgroup_size[d] = dvk__min_u32(i->max_workgroup_size[d], 128);
    i->fp16_arithmetic = false;
    i->subgroup_arithmetic = false;
    i->subgroup_shuffle = false;
    i->cooperative_matrix_khr = false;
    i->cooperative_matrix_nv = false;
    i->cooperative_matrix_nv_f16 = false;
    i->cooperative_matrix_khr_f16 = false;
}

/* DVK_DISABLE=fp16,coopmat: the device as if it lacked 16-bit storage and arithmetic (16-bit
 * tensors then refused by the operators and functions, weights loaded as fp32) or cooperative
 * matrices. A workaround for a driver whose support of them misbehaves; like the profile, it
 * changes what kernels plan with, not the Vulkan features enabled. */
static void apply_disable(dvk_context *ctx)
{
    const char *e = getenv("DVK_DISABLE");
    dvk_device_info *i = &ctx->info;
    for (const char *p = e; p && *p;) {
        const size_t n = strcspn(p, ",");
        /* Said once per context, so that "the device lacks fp16" is not taken at its word. */
        if (n == 4 && strncmp(p, "fp16", 4) == 0) {
            i->fp16_storage = false;
            i->fp16_arithmetic = false;
            i->cooperative_matrix_nv_f16 = false; /* fp16 blocks */
            i->cooperative_matrix_khr_f16 = false;
            dvk__log(ctx, DVK_LOG_WARNING, "DVK_DISABLE: 16-bit storage and arithmetic unused");
        } else if (n == 7 && strncmp(p, "coopmat", 7) == 0) {
            i->cooperative_matrix_khr = false;
            i->cooperative_matrix_nv = false;
            i->cooperative_matrix_nv_f16 = false;
            i->cooperative_matrix_khr_f16 = false;
            dvk__log(ctx, DVK_LOG_WARNING, "DVK_DISABLE: cooperative matrices unused");
        } else if (n > 0) {
            dvk__log(ctx, DVK_LOG_WARNING,
                     "DVK_DISABLE: \"%.*s\" is none of fp16, coopmat; ignored", (int)n, p);
        }
        p += n + (p[n] == ',');
    }
}

/* ---- public API ----------------------------------------------------------------------------- */

dvk_status dvk_context_create(const dvk_context_desc *desc_in, dvk_context **out)
{
    if (!out)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "out_context is NULL");
    *out = NULL;
    const dvk_context_desc desc = desc_in ? *desc_in : (dvk_context_desc){0};
    if ((desc.allocator.alloc != NULL) != (desc.allocator.free != NULL))
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                         "allocator: give both alloc and free, or neither");
    if (desc.adopt && desc.enable_validation)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT,
                         "enable_validation cannot be combined with adopt: enable the layer on "
                         "your own instance instead");

    const dvk_allocator alloc = dvk__allocator_or_default(&desc.allocator);
    dvk_context *ctx = dvk__alloc(&alloc, sizeof *ctx);
    if (!ctx)
        return dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    ctx->alloc = alloc;
    ctx->vk_alloc = desc.vk_allocator;
    ctx->log = desc.log ? desc.log : default_log;
    ctx->log_user = desc.log ? desc.log_user_data : NULL;
    ctx->small_profile = desc.small_device_profile;
    atomic_init(&ctx->validation_messages, 0);
    if (!dvk__mutex_init(&ctx->lock)) {
        dvk__free(&alloc, ctx);
        return dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "the context's mutex could not be made");
    }

    dvk_status st = desc.adopt ? adopt_device(ctx, desc.adopt) : create_own_device(ctx, &desc);
    if (st == DVK_SUCCESS) {
        apply_profile(ctx);
        apply_disable(ctx);
        dvk__choose_coopmat_path(&ctx->caps, &ctx->info, ctx, ctx->avoid_khr_coopmat);
        const char *cache_env = getenv("DVK_PIPELINE_CACHE");
        st = dvk__pipeline_cache_init(ctx, desc.pipeline_cache_path ? desc.pipeline_cache_path
                                           : cache_env && *cache_env ? cache_env
                                                                     : NULL);
    }
    if (st == DVK_SUCCESS)
        st = dvk__mem_alloc(ctx, 256, DVK_MEM_DEVICE, &ctx->dummy);
    if (st != DVK_SUCCESS) {
        /* Keep the failure's message: destroying must not overwrite it. */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", dvk_last_error());
        const VkResult vr = dvk_last_vk_result();
        dvk_context_destroy(ctx);
        if (vr != VK_SUCCESS)
            dvk__fail_vk(vr, "context creation");
        dvk__fail(st, "%s", msg);
        return st;
    }
    dvk__log(ctx, DVK_LOG_INFO, "device: %s (%s)", ctx->info.name, ctx->info.driver_name);
    *out = ctx;
    return DVK_SUCCESS;
}

void dvk_context_destroy(dvk_context *ctx)
{
    if (!ctx)
        return;
    if (ctx->device && ctx->vk.vkDeviceWaitIdle)
        ctx->vk.vkDeviceWaitIdle(ctx->device);
    if (ctx->vk.vkFreeMemory) {
        dvk__mem_free(ctx, &ctx->dummy);
        dvk__pipelines_destroy(ctx);
        dvk__mem_pool_destroy(ctx);
    }
    if (ctx->owns_device && ctx->device)
        ctx->vk.vkDestroyDevice(ctx->device, ctx->vk_alloc);
    if (ctx->messenger && ctx->vki.vkDestroyDebugUtilsMessengerEXT)
        ctx->vki.vkDestroyDebugUtilsMessengerEXT(ctx->instance, ctx->messenger, ctx->vk_alloc);
    if (ctx->owns_instance && ctx->instance)
        ctx->vki.vkDestroyInstance(ctx->instance, ctx->vk_alloc);
    dvk__mutex_destroy(&ctx->lock);
    const dvk_allocator alloc = ctx->alloc;
    dvk__free(&alloc, ctx);
}

const dvk_device_info *dvk_context_device_info(const dvk_context *ctx)
{
    return ctx ? &ctx->info : NULL;
}

uint64_t dvk_context_validation_message_count(const dvk_context *ctx)
{
    return ctx ? atomic_load(&((dvk_context *)ctx)->validation_messages) : 0;
}

dvk_status dvk__queue_submit(dvk_context *ctx, VkCommandBuffer cb, VkFence fence)
{
    const VkSubmitInfo submit = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .commandBufferCount = 1,
        .pCommandBuffers = &cb,
    };
    dvk__mutex_lock(&ctx->lock);
    const VkResult r = ctx->vk.vkQueueSubmit(ctx->queue, 1, &submit, fence);
    dvk__mutex_unlock(&ctx->lock);
    if (r != VK_SUCCESS)
        return dvk__fail_vk(r, "vkQueueSubmit");
    return DVK_SUCCESS;
}
