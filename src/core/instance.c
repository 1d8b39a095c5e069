/* Loading Vulkan (volk opens the loader), per-context function tables, instance creation,
 * and what each physical device can do. */
#include "core/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Opening the loader (src/core/volk_private.c: volk, under private names) gives one
 * vkGetInstanceProcAddr for the whole process, so it is opened once. We copy that pointer into
 * each context's own table; volk's other globals are never used. */
static dvk_once loader_once = DVK_ONCE_INIT;
static PFN_vkGetInstanceProcAddr loader_gipa;

static void open_loader_once(void) { loader_gipa = dvk__vulkan_open(); }

dvk_status dvk__load_loader(PFN_vkGetInstanceProcAddr gipa, dvk_loader_fns *out)
{
    memset(out, 0, sizeof *out);
    if (!gipa) {
        dvk__call_once(&loader_once, open_loader_once);
        if (!loader_gipa)
            return dvk__fail(DVK_ERROR_NO_DEVICE,
                             "the Vulkan loader (libvulkan.so.1) could not be opened; install "
                             "libvulkan1 and a Vulkan driver (mesa-vulkan-drivers for lavapipe)");
        gipa = loader_gipa;
    }
    out->vkGetInstanceProcAddr = gipa;
#define DVK_LOAD_(name)                                                                          \
    out->name = (PFN_##name)gipa(VK_NULL_HANDLE, #name);                                         \
    if (!out->name)                                                                              \
        return dvk__fail(DVK_ERROR_NO_DEVICE, "the Vulkan loader does not provide " #name);
#define DVK_LOAD_OPT_(name) out->name = (PFN_##name)gipa(VK_NULL_HANDLE, #name);
    DVK_VK_LOADER_FUNCTIONS(DVK_LOAD_, DVK_LOAD_OPT_)
#undef DVK_LOAD_
#undef DVK_LOAD_OPT_
    return DVK_SUCCESS;
}

dvk_status dvk__load_instance_fns(const dvk_loader_fns *l, VkInstance instance,
                                  dvk_instance_fns *out)
{
    memset(out, 0, sizeof *out);
#define DVK_LOAD_(name)                                                                          \
    out->name = (PFN_##name)l->vkGetInstanceProcAddr(instance, #name);                           \
    if (!out->name)                                                                              \
        return dvk__fail(DVK_ERROR_VULKAN, "vkGetInstanceProcAddr returned NULL for " #name);
#define DVK_LOAD_OPT_(name) out->name = (PFN_##name)l->vkGetInstanceProcAddr(instance, #name);
    DVK_VK_INSTANCE_FUNCTIONS(DVK_LOAD_, DVK_LOAD_OPT_)
#undef DVK_LOAD_
#undef DVK_LOAD_OPT_
    return DVK_SUCCESS;
}

dvk_status dvk__load_device_fns(const dvk_instance_fns *i, VkDevice device, dvk_device_fns *out)
{
    memset(out, 0, sizeof *out);
#define DVK_LOAD_(name)                                                                          \
    out->name = (PFN_##name)i->vkGetDeviceProcAddr(device, #name);                               \
    if (!out->name)                                                                              \
        return dvk__fail(DVK_ERROR_VULKAN, "vkGetDeviceProcAddr returned NULL for " #name);
#define DVK_LOAD_OPT_(name) out->name = (PFN_##name)i->vkGetDeviceProcAddr(device, #name);
    DVK_VK_DEVICE_FUNCTIONS(DVK_LOAD_, DVK_LOAD_OPT_)
#undef DVK_LOAD_
#undef DVK_LOAD_OPT_
    return DVK_SUCCESS;
}

dvk_status dvk__create_instance(const dvk_loader_fns *l, const dvk_instance_setup *setup,
                                VkInstance *out_instance, uint32_t *out_api_version,
                                dvk_instance_fns *out_fns, VkDebugUtilsMessengerEXT *out_messenger)
{
    *out_instance = VK_NULL_HANDLE;
    *out_messenger = VK_NULL_HANDLE;

    uint32_t loader_version = VK_API_VERSION_1_0;
    if (l->vkEnumerateInstanceVersion)
        l->vkEnumerateInstanceVersion(&loader_version);
    if (loader_version < VK_API_VERSION_1_2)
        return dvk__fail(DVK_ERROR_NO_DEVICE,
                         "the Vulkan loader supports version %u.%u; deltavk needs 1.2",
                         VK_API_VERSION_MAJOR(loader_version), VK_API_VERSION_MINOR(loader_version));
    const uint32_t api = loader_version >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3
                                                             : VK_API_VERSION_1_2;

    /* Instance extensions: debug utils for validation, portability enumeration so MoltenVK
     * devices are listed. (Lists go on the heap: they can be large for a thread's stack.) */
    const dvk_allocator alloc = dvk__allocator_or_default(&setup->alloc);
    uint32_t ext_count = 0;
    l->vkEnumerateInstanceExtensionProperties(NULL, &ext_count, NULL);
    VkExtensionProperties *exts = dvk__alloc(&alloc, sizeof *exts * (ext_count + 1));
    if (!exts)
        return dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
    if (l->vkEnumerateInstanceExtensionProperties(NULL, &ext_count, exts) < 0)
        ext_count = 0;
    const char *enabled[4];
    uint32_t n_enabled = 0;
    bool portability = false, debug_utils = false;
    for (uint32_t i = 0; i < ext_count; ++i) {
        if (strcmp(exts[i].extensionName, VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME) == 0)
            portability = true;
        if (strcmp(exts[i].extensionName, VK_EXT_DEBUG_UTILS_EXTENSION_NAME) == 0)
            debug_utils = true;
    }
    dvk__free(&alloc, exts);
    if (portability)
        enabled[n_enabled++] = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;

    const char *layers[1];
    uint32_t n_layers = 0;
    if (setup->validation) {
        uint32_t layer_count = 0;
        l->vkEnumerateInstanceLayerProperties(&layer_count, NULL);
        VkLayerProperties *props = dvk__alloc(&alloc, sizeof *props * (layer_count + 1));
        if (!props)
            return dvk__fail(DVK_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        if (l->vkEnumerateInstanceLayerProperties(&layer_count, props) < 0)
            layer_count = 0;
        bool found = false;
        for (uint32_t i = 0; i < layer_count; ++i)
            if (strcmp(props[i].layerName, "VK_LAYER_KHRONOS_validation") == 0) {
                found = true;
                if (setup->validation_layer_version)
                    *setup->validation_layer_version = props[i].specVersion;
            }
        dvk__free(&alloc, props);
        if (!found)
            return dvk__fail(DVK_ERROR_UNSUPPORTED,
                             "validation requested but VK_LAYER_KHRONOS_validation is not "
                             "installed (Debian: vulkan-validationlayers)");
        if (!debug_utils)
            return dvk__fail(DVK_ERROR_UNSUPPORTED,
                             "validation requested but VK_EXT_debug_utils is not available");
        layers[n_layers++] = "VK_LAYER_KHRONOS_validation";
        enabled[n_enabled++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
    }

    const VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pEngineName = "deltavk",
        .engineVersion = VK_MAKE_API_VERSION(0, DVK_VERSION_MAJOR, DVK_VERSION_MINOR,
                                             DVK_VERSION_PATCH),
        .apiVersion = api,
    };
    /* The messenger is also chained into instance creation so that messages from
     * vkCreateInstance itself are counted. */
    VkDebugUtilsMessengerCreateInfoEXT messenger_info = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = setup->messenger_callback,
        .pUserData = setup->messenger_user,
    };
    /* Synchronization validation catches missing barriers between our dispatches. */
    const VkValidationFeatureEnableEXT sync_validation =
        VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT;
    VkValidationFeaturesEXT validation_features = {
        .sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
        .pNext = &messenger_info,
        .enabledValidationFeatureCount = 1,
        .pEnabledValidationFeatures = &sync_validation,
    };
    const VkInstanceCreateInfo info = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = setup->validation ? &validation_features : NULL,
        .flags = portability ? VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR : 0,
        .pApplicationInfo = &app,
        .enabledLayerCount = n_layers,
        .ppEnabledLayerNames = layers,
        .enabledExtensionCount = n_enabled,
        .ppEnabledExtensionNames = enabled,
    };
    VkInstance instance = VK_NULL_HANDLE;
    DVK_VK_TRY(l->vkCreateInstance(&info, setup->vk_allocator, &instance));

    dvk_status st = dvk__load_instance_fns(l, instance, out_fns);
    if (st == DVK_SUCCESS && setup->validation) {
        if (!out_fns->vkCreateDebugUtilsMessengerEXT) {
            st = dvk__fail(DVK_ERROR_UNSUPPORTED, "vkCreateDebugUtilsMessengerEXT is missing");
        } else {
            VkResult r = out_fns->vkCreateDebugUtilsMessengerEXT(instance, &messenger_info,
                                                                 setup->vk_allocator,
                                                                 out_messenger);
            if (r != VK_SUCCESS)
                st = dvk__fail_vk(r, "vkCreateDebugUtilsMessengerEXT");
        }
    }
    if (st != DVK_SUCCESS) {
        if (out_fns->vkDestroyInstance)
            out_fns->vkDestroyInstance(instance, setup->vk_allocator);
        return st;
    }
    *out_instance = instance;
    *out_api_version = api;
    return DVK_SUCCESS;
}

static dvk_device_type map_type(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU:
        return DVK_DEVICE_TYPE_INTEGRATED_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU:
        return DVK_DEVICE_TYPE_DISCRETE_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU:
        return DVK_DEVICE_TYPE_VIRTUAL_GPU;
    case VK_PHYSICAL_DEVICE_TYPE_CPU:
        return DVK_DEVICE_TYPE_CPU;
    default:
        return DVK_DEVICE_TYPE_OTHER;
    }
}

/* Appends a shape to info's list (while there is room). */
static void add_shape(dvk_device_info *info, dvk_coopmat_path ext, uint32_t m, uint32_t n,
                      uint32_t k, uint32_t a, uint32_t b, uint32_t c, uint32_t d, uint32_t scope,
                      bool saturating)
{
    if (info->cooperative_matrix_shape_count < DVK_MAX_COOPMAT_SHAPES)
        info->cooperative_matrix_shapes[info->cooperative_matrix_shape_count++] =
            (dvk_coopmat_shape){.extension = ext, .m = m, .n = n, .k = k, .a_type = a,
                                .b_type = b, .c_type = c, .result_type = d, .scope = scope,
                                .saturating = saturating};
}

/* The shapes VK_KHR_cooperative_matrix lists, into caps->info; notes the one the kernels use
 * (fp16 A, B and fp32 C, D, 16x16x16, per subgroup). */
static void list_coopmat_shapes_khr(const dvk_instance_fns *vki, VkPhysicalDevice phys,
                                    dvk_device_caps *caps)
{
    VkCooperativeMatrixPropertiesKHR shapes[DVK_MAX_COOPMAT_SHAPES];
    uint32_t np = DVK_MAX_COOPMAT_SHAPES;
    for (uint32_t i = 0; i < np; ++i)
        shapes[i] = (VkCooperativeMatrixPropertiesKHR){
            .sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_KHR};
    if (!vki->vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR ||
        vki->vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR(phys, &np, shapes) < 0)
        return; /* VK_INCOMPLETE keeps the first DVK_MAX_COOPMAT_SHAPES */
    for (uint32_t i = 0; i < np; ++i) {
        const VkCooperativeMatrixPropertiesKHR *p = &shapes[i];
        add_shape(&caps->info, DVK_COOPMAT_KHR, p->MSize, p->NSize, p->KSize, p->AType,
                  p->BType, p->CType, p->ResultType, p->scope, p->saturatingAccumulation);
        if (p->MSize == 16 && p->NSize == 16 && p->KSize == 16 &&
            p->AType == VK_COMPONENT_TYPE_FLOAT16_KHR &&
            p->BType == VK_COMPONENT_TYPE_FLOAT16_KHR &&
            p->CType == VK_COMPONENT_TYPE_FLOAT32_KHR &&
            p->ResultType == VK_COMPONENT_TYPE_FLOAT32_KHR && p->scope == VK_SCOPE_SUBGROUP_KHR &&
            !p->saturatingAccumulation)
            caps->coopmat_khr_f16_16x16x16 = true;
    }
}

/* The same for VK_NV_cooperative_matrix. */
static void list_coopmat_shapes_nv(const dvk_instance_fns *vki, VkPhysicalDevice phys,
                                   dvk_device_caps *caps)
{
    VkCooperativeMatrixPropertiesNV shapes[DVK_MAX_COOPMAT_SHAPES];
    uint32_t np = DVK_MAX_COOPMAT_SHAPES;
    for (uint32_t i = 0; i < np; ++i)
        shapes[i] = (VkCooperativeMatrixPropertiesNV){
            .sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV};
    if (!vki->vkGetPhysicalDeviceCooperativeMatrixPropertiesNV ||
        vki->vkGetPhysicalDeviceCooperativeMatrixPropertiesNV(phys, &np, shapes) < 0)
        return;
    for (uint32_t i = 0; i < np; ++i) {
        const VkCooperativeMatrixPropertiesNV *p = &shapes[i];
        add_shape(&caps->info, DVK_COOPMAT_NV, p->MSize, p->NSize, p->KSize, p->AType,
                  p->BType, p->CType, p->DType, p->scope, false);
        if (p->MSize == 16 && p->NSize == 16 && p->KSize == 16 &&
            p->AType == VK_COMPONENT_TYPE_FLOAT16_NV && p->BType == VK_COMPONENT_TYPE_FLOAT16_NV &&
            p->CType == VK_COMPONENT_TYPE_FLOAT32_NV && p->DType == VK_COMPONENT_TYPE_FLOAT32_NV &&
            p->scope == VK_SCOPE_SUBGROUP_NV)
            caps->coopmat_nv_f16_16x16x16 = true;
    }
}

void dvk__query_device_caps(const dvk_allocator *alloc, const dvk_instance_fns *vki,
                            VkPhysicalDevice phys, uint32_t instance_api_version, uint32_t index,
                            dvk_device_caps *caps)
{
    memset(caps, 0, sizeof *caps);
    dvk_device_info *info = &caps->info;
    info->index = index;

    VkPhysicalDeviceProperties base;
    vki->vkGetPhysicalDeviceProperties(phys, &base);
    const uint32_t api = base.apiVersion < instance_api_version ? base.apiVersion
                                                                : instance_api_version;

    /* Extensions we care about (the list goes on the heap: it can be large for a stack). */
    uint32_t ext_count = 0;
    vki->vkEnumerateDeviceExtensionProperties(phys, NULL, &ext_count, NULL);
    VkExtensionProperties *exts = dvk__alloc(alloc, sizeof *exts * (ext_count + 1));
    if (!exts || vki->vkEnumerateDeviceExtensionProperties(phys, NULL, &ext_count, exts) < 0)
        ext_count = 0; /* out of memory: the device is reported without optional extensions */
    for (uint32_t i = 0; i < ext_count; ++i) {
        const char *n = exts[i].extensionName;
        if (strcmp(n, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME) == 0)
            caps->ext_subgroup_size_control = true;
        else if (strcmp(n, VK_KHR_COOPERATIVE_MATRIX_EXTENSION_NAME) == 0)
            caps->ext_coopmat_khr = true;
        else if (strcmp(n, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME) == 0)
            caps->ext_coopmat_nv = true;
        else if (strcmp(n, "VK_KHR_portability_subset") == 0)
            caps->ext_portability_subset = true;
        else if (strcmp(n, VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME) == 0)
            caps->ext_pipeline_executable_properties = true;
    }
    dvk__free(alloc, exts);
    const bool size_control_ok = api >= VK_API_VERSION_1_3 || caps->ext_subgroup_size_control;

    /* Properties. */
    VkPhysicalDeviceCooperativeMatrixPropertiesNV coop_props = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_PROPERTIES_NV,
    };
    /* (VK_KHR_cooperative_matrix's properties are not asked for: its only one,
     * cooperativeMatrixSupportedStages, has the compute bit wherever a queue computes.) */
    VkPhysicalDeviceSubgroupSizeControlProperties size_props = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES,
        .pNext = caps->ext_coopmat_nv ? &coop_props : NULL,
    };
    VkPhysicalDeviceVulkan12Properties p12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_PROPERTIES,
        .pNext = size_control_ok ? (void *)&size_props : size_props.pNext,
    };
    VkPhysicalDeviceVulkan11Properties p11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_PROPERTIES,
        .pNext = &p12,
    };
    VkPhysicalDeviceProperties2 props = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
        .pNext = &p11,
    };
    if (api >= VK_API_VERSION_1_2)
        vki->vkGetPhysicalDeviceProperties2(phys, &props);
    else
        props.properties = base;
    const VkPhysicalDeviceLimits *lim = &props.properties.limits;

    snprintf(info->name, sizeof info->name, "%s", props.properties.deviceName);
    info->vendor_id = props.properties.vendorID;
    info->device_id = props.properties.deviceID;
    info->type = map_type(props.properties.deviceType);
    info->api_version = api;
    snprintf(info->driver_name, sizeof info->driver_name, "%s", p12.driverName);
    snprintf(info->driver_info, sizeof info->driver_info, "%s", p12.driverInfo);
    info->subgroup_size = p11.subgroupSize;
    info->min_subgroup_size = size_control_ok && size_props.minSubgroupSize
                                  ? size_props.minSubgroupSize
                                  : p11.subgroupSize;
    info->max_subgroup_size = size_control_ok && size_props.maxSubgroupSize
                                  ? size_props.maxSubgroupSize
                                  : p11.subgroupSize;
    caps->required_subgroup_stages = size_control_ok ? size_props.requiredSubgroupSizeStages : 0;
    const bool compute_subgroups = (p11.subgroupSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT) != 0;
    info->subgroup_arithmetic =
        compute_subgroups &&
        (p11.subgroupSupportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
        (p11.subgroupSupportedOperations & VK_SUBGROUP_FEATURE_CLUSTERED_BIT);
    info->subgroup_shuffle = compute_subgroups &&
                             (p11.subgroupSupportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
    caps->subgroup_add_shuffle =
        info->subgroup_shuffle &&
        (p11.subgroupSupportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
    info->max_shared_memory = lim->maxComputeSharedMemorySize;
    info->max_workgroup_invocations = lim->maxComputeWorkGroupInvocations;
    for (int i = 0; i < 3; ++i) {
        info->max_workgroup_size[i] = lim->maxComputeWorkGroupSize[i];
        info->max_workgroup_count[i] = lim->maxComputeWorkGroupCount[i];
    }
    info->max_storage_buffer_range = lim->maxStorageBufferRange;
    info->timestamp_period_ns = lim->timestampPeriod;
    caps->min_storage_offset_alignment = lim->minStorageBufferOffsetAlignment;
    /* Storage binding alignment, and at least 16 so vectorised loads stay aligned. */
    info->tensor_alignment = lim->minStorageBufferOffsetAlignment > 16
                                 ? lim->minStorageBufferOffsetAlignment
                                 : 16;
    caps->max_memory_allocation_size = p11.maxMemoryAllocationSize;
    caps->max_push_constants_size = lim->maxPushConstantsSize;
    memcpy(caps->pipeline_cache_uuid, props.properties.pipelineCacheUUID, VK_UUID_SIZE);

    vki->vkGetPhysicalDeviceMemoryProperties(phys, &caps->memory);
    for (uint32_t h = 0; h < caps->memory.memoryHeapCount; ++h)
        if ((caps->memory.memoryHeaps[h].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
            caps->memory.memoryHeaps[h].size > info->device_local_bytes)
            info->device_local_bytes = caps->memory.memoryHeaps[h].size;
    info->unified_memory = info->type == DVK_DEVICE_TYPE_INTEGRATED_GPU ||
                           info->type == DVK_DEVICE_TYPE_CPU;

    /* A queue family with compute; prefer one that can write timestamps. */
    uint32_t qf_count = 0;
    vki->vkGetPhysicalDeviceQueueFamilyProperties(phys, &qf_count, NULL);
    VkQueueFamilyProperties qfs[32];
    if (qf_count > 32)
        qf_count = 32;
    vki->vkGetPhysicalDeviceQueueFamilyProperties(phys, &qf_count, qfs);
    caps->compute_queue_family = UINT32_MAX;
    for (uint32_t i = 0; i < qf_count; ++i) {
        if (!(qfs[i].queueFlags & VK_QUEUE_COMPUTE_BIT) || qfs[i].queueCount == 0)
            continue;
        if (caps->compute_queue_family == UINT32_MAX ||
            (qfs[i].timestampValidBits > 0 && !info->timestamps)) {
            caps->compute_queue_family = i;
            caps->timestamp_valid_bits = qfs[i].timestampValidBits;
            info->timestamps = qfs[i].timestampValidBits > 0 && lim->timestampPeriod > 0.0f;
        }
    }

    /* Features. */
    VkPhysicalDeviceCooperativeMatrixFeaturesNV coop_nv = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV,
    };
    void *coop_chain = caps->ext_coopmat_nv ? &coop_nv : NULL;
    VkPhysicalDeviceCooperativeMatrixFeaturesKHR coop_khr = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_KHR,
        .pNext = coop_chain,
    };
    if (caps->ext_coopmat_khr)
        coop_chain = &coop_khr;
    VkPhysicalDeviceSubgroupSizeControlFeatures size_feat = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_FEATURES,
        .pNext = coop_chain,
    };
    VkPhysicalDeviceVulkan12Features f12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
        .pNext = size_control_ok ? (void *)&size_feat : size_feat.pNext,
    };
    VkPhysicalDeviceVulkan11Features f11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
        .pNext = &f12,
    };
    VkPhysicalDeviceFeatures2 feats = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
        .pNext = &f11,
    };
    if (api >= VK_API_VERSION_1_2)
        vki->vkGetPhysicalDeviceFeatures2(phys, &feats);
    caps->feat_storage16 = f11.storageBuffer16BitAccess;
    caps->feat_float16 = f12.shaderFloat16;
    caps->feat_memory_model = f12.vulkanMemoryModel;
    caps->feat_subgroup_size_control = size_control_ok && size_feat.subgroupSizeControl;
    caps->feat_full_subgroups = size_control_ok && size_feat.computeFullSubgroups;
    caps->feat_coopmat_khr = caps->ext_coopmat_khr && coop_khr.cooperativeMatrix;
    caps->feat_coopmat_nv = caps->ext_coopmat_nv && coop_nv.cooperativeMatrix;

    if (caps->feat_coopmat_khr)
        list_coopmat_shapes_khr(vki, phys, caps);
    if (caps->feat_coopmat_nv &&
        (coop_props.cooperativeMatrixSupportedStages & VK_SHADER_STAGE_COMPUTE_BIT))
        list_coopmat_shapes_nv(vki, phys, caps);
    info->fp16_storage = caps->feat_storage16;
    info->fp16_arithmetic = caps->feat_float16;
    info->cooperative_matrix_khr = caps->feat_coopmat_khr;
    info->cooperative_matrix_nv = caps->feat_coopmat_nv;
    info->vulkan_memory_model = caps->feat_memory_model;
    info->cooperative_matrix_nv_f16 =
        caps->feat_coopmat_nv && caps->coopmat_nv_f16_16x16x16 && caps->feat_memory_model;
    info->cooperative_matrix_khr_f16 =
        caps->feat_coopmat_khr && caps->coopmat_khr_f16_16x16x16 && caps->feat_memory_model;
    dvk__choose_coopmat_path(caps, info, NULL, false);
}

/* ---- which cooperative-matrix extension the kernels use ---------------------------------- */

/* Whether the tensor-core kernels can run on `ext`: its fp16 16x16x16 shape (with the memory
 * model, in info), fp16 storage and arithmetic, kernels built for it, and subgroups of 32 (the
 * default, or required through subgroup size control with full subgroups). Sets *sg to the
 * size pipelines must require (0: none). */
static bool coopmat_path_ok(const dvk_device_caps *caps, const dvk_device_info *info,
                            dvk_coopmat_path ext, uint32_t *sg)
{
    const dvk_ops_kernel probe = DVK_OPS_K_DELTA_RULE_CHUNK_STATE_CM_F16;
    const bool shape = ext == DVK_COOPMAT_KHR ? info->cooperative_matrix_khr_f16
                                              : info->cooperative_matrix_nv_f16;
    const bool built = ext == DVK_COOPMAT_KHR ? dvk_ops_kernel_table[probe].code_khr != NULL
                                              : dvk_ops_kernel_table[probe].code != NULL;
    if (!shape || !built || !info->fp16_storage || !info->fp16_arithmetic)
        return false;
    /* Subgroups of 32 by request where the device can be asked: always on KHR (AMD runs 64-wide
     * waves unless told otherwise; on devices fixed at 32 the request is honoured anyway). */
    const bool can_require = caps->feat_subgroup_size_control && caps->feat_full_subgroups &&
                             (caps->required_subgroup_stages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                             info->min_subgroup_size <= 32 && info->max_subgroup_size >= 32;
    if (can_require && (ext == DVK_COOPMAT_KHR || info->subgroup_size != 32)) {
        *sg = 32;
        return true;
    }
    *sg = 0;
    return info->subgroup_size == 32 && info->min_subgroup_size == 32 &&
           info->max_subgroup_size == 32;
}

void dvk__choose_coopmat_path(const dvk_device_caps *caps, dvk_device_info *info,
                              const dvk_context *log_ctx, bool avoid_khr)
{
    uint32_t sg_nv = 0, sg_khr = 0;
    const bool nv = coopmat_path_ok(caps, info, DVK_COOPMAT_NV, &sg_nv);
    const bool khr = coopmat_path_ok(caps, info, DVK_COOPMAT_KHR, &sg_khr);
    /* KHR first: on the H200 its kernels ran as fast as NV's or faster (docs/performance.md). */
    dvk_coopmat_path path = khr && !(avoid_khr && nv) ? DVK_COOPMAT_KHR
                            : nv                      ? DVK_COOPMAT_NV
                                                      : DVK_COOPMAT_NONE;
    const char *e = getenv("DVK_COOPMAT");
    if (e && *e && strcmp(e, "auto") != 0) {
        const bool want_nv = strcmp(e, "nv") == 0, want_khr = strcmp(e, "khr") == 0;
        if (strcmp(e, "none") == 0) {
            path = DVK_COOPMAT_NONE;
        } else if (want_nv || want_khr) {
            path = want_nv ? (nv ? DVK_COOPMAT_NV : DVK_COOPMAT_NONE)
                           : (khr ? DVK_COOPMAT_KHR : DVK_COOPMAT_NONE);
            if (path == DVK_COOPMAT_NONE && log_ctx)
                dvk__log(log_ctx, DVK_LOG_WARNING,
                         "DVK_COOPMAT=%s: %s cannot run the tensor-core kernels on %s (it needs "
                         "the extension's 16x16x16 fp16 shape, fp16, subgroups of 32, and this "
                         "build's %s kernels); FMA kernels used",
                         e, info->name, want_nv ? "VK_NV_cooperative_matrix"
                                                : "VK_KHR_cooperative_matrix",
                         want_nv ? "NV" : "KHR");
        } else if (log_ctx) {
            dvk__log(log_ctx, DVK_LOG_WARNING,
                     "DVK_COOPMAT=\"%s\" is none of auto, khr, nv, none; ignored", e);
        }
    }
    info->cooperative_matrix_path = path;
    info->cooperative_matrix_subgroup_size = path == DVK_COOPMAT_NV    ? sg_nv
                                             : path == DVK_COOPMAT_KHR ? sg_khr
                                                                       : 0;
}

/* ---- dvk_enumerate_devices ---------------------------------------------------------------- */

dvk_status dvk_enumerate_devices(dvk_device_info *infos, uint32_t *count)
{
    if (!count)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "count is NULL");
    if (*count > 0 && !infos)
        return dvk__fail(DVK_ERROR_INVALID_ARGUMENT, "infos is NULL but *count is %u", *count);
    dvk_loader_fns l;
    DVK_TRY(dvk__load_loader(NULL, &l));
    VkInstance instance;
    uint32_t api;
    dvk_instance_fns vki;
    VkDebugUtilsMessengerEXT messenger;
    const dvk_instance_setup setup = {0};
    DVK_TRY(dvk__create_instance(&l, &setup, &instance, &api, &vki, &messenger));

    uint32_t n = 0;
    VkResult r = vki.vkEnumeratePhysicalDevices(instance, &n, NULL);
    VkPhysicalDevice phys[32];
    if (n > 32)
        n = 32;
    if (r == VK_SUCCESS)
        r = vki.vkEnumeratePhysicalDevices(instance, &n, phys);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        vki.vkDestroyInstance(instance, NULL);
        return dvk__fail_vk(r, "vkEnumeratePhysicalDevices");
    }
    const uint32_t capacity = *count;
    const dvk_allocator alloc = dvk__allocator_or_default(NULL);
    for (uint32_t i = 0; i < n && i < capacity; ++i) {
        dvk_device_caps caps;
        dvk__query_device_caps(&alloc, &vki, phys[i], api, i, &caps);
        infos[i] = caps.info;
    }
    *count = n;
    vki.vkDestroyInstance(instance, NULL);
    return DVK_SUCCESS;
}
