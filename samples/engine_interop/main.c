// engine_interop: deltavk inside a program that owns its Vulkan objects, as a game engine does.
//
// The program loads Vulkan itself (dlopen of the system loader), creates its instance (with
// the validation layer and synchronization validation when asked), device, queue, buffers,
// command buffer and one compute pipeline of its own. It hands the device and queue to deltavk
// (dvk_context_desc.adopt), wraps regions of its own buffer as tensors, builds deltavk's
// pipelines at load with a dry run, and records each frame into ITS command buffer:
//
//   engine   the frame's inputs copied in from staging; the first frame zeroes the state
//   engine   beta = sigmoid(gate logits)                          (its own kernel)
//   deltavk  the delta rule over the frame's tokens, state in place (chunked: 3+ kernels)
//   engine   y = v + o                                            (its own kernel again)
//   engine   y and the state copied back to staging
//
// with the barriers deltavk.h (IN A GAME ENGINE) asks for before and after deltavk's work,
// and submits it once. Frames continue one stream: each brings T new tokens, and the state
// stays in the engine's buffer from frame to frame. After the last, it checks every frame's y
// and the final state against the C reference over the whole stream, and that no frame built
// a pipeline; with --validate it fails if the validation layer (synchronization validation
// on) reported anything.
//
//   engine_interop [--validate] [--tokens T] [--frames N]
#define VK_NO_PROTOTYPES // the engine loads Vulkan's functions itself
#include <dlfcn.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deltavk.h"
#include "deltavk_reference.h"

enum { H = 4, K = 64, V = 64, GROUP = 64 }; // heads, key and value sizes; the kernel's workgroup

// The engine's kernel (engine.comp), compiled at build time by glslc -mfmt=c.
static const uint32_t engine_spirv[] =
#include "engine.spv.h"
    ;

typedef struct engine_push {
    uint32_t n;
    uint32_t op; // 0: dst = sigmoid(a); 1: dst = a + b
} engine_push;

// ---- the engine's own Vulkan function table -----------------------------------------------

#define GLOBAL_FUNCTIONS(X)                                                                     \
    X(vkCreateInstance)                                                                         \
    X(vkEnumerateInstanceVersion)                                                               \
    X(vkEnumerateInstanceLayerProperties)                                                       \
    X(vkEnumerateInstanceExtensionProperties)
#define INSTANCE_FUNCTIONS(X)                                                                   \
    X(vkDestroyInstance)                                                                        \
    X(vkEnumeratePhysicalDevices)                                                               \
    X(vkGetPhysicalDeviceProperties)                                                            \
    X(vkGetPhysicalDeviceQueueFamilyProperties)                                                 \
    X(vkGetPhysicalDeviceMemoryProperties)                                                      \
    X(vkCreateDevice)                                                                           \
    X(vkGetDeviceProcAddr)
#define DEBUG_FUNCTIONS(X)                                                                      \
    X(vkCreateDebugUtilsMessengerEXT)                                                           \
    X(vkDestroyDebugUtilsMessengerEXT)
#define DEVICE_FUNCTIONS(X)                                                                     \
    X(vkDestroyDevice)                                                                          \
    X(vkGetDeviceQueue)                                                                         \
    X(vkDeviceWaitIdle)                                                                         \
    X(vkCreateBuffer)                                                                           \
    X(vkDestroyBuffer)                                                                          \
    X(vkGetBufferMemoryRequirements)                                                            \
    X(vkAllocateMemory)                                                                         \
    X(vkFreeMemory)                                                                             \
    X(vkBindBufferMemory)                                                                       \
    X(vkMapMemory)                                                                              \
    X(vkCreateShaderModule)                                                                     \
    X(vkDestroyShaderModule)                                                                    \
    X(vkCreateDescriptorSetLayout)                                                              \
    X(vkDestroyDescriptorSetLayout)                                                             \
    X(vkCreatePipelineLayout)                                                                   \
    X(vkDestroyPipelineLayout)                                                                  \
    X(vkCreateComputePipelines)                                                                 \
    X(vkDestroyPipeline)                                                                        \
    X(vkCreateDescriptorPool)                                                                   \
    X(vkDestroyDescriptorPool)                                                                  \
    X(vkAllocateDescriptorSets)                                                                 \
    X(vkUpdateDescriptorSets)                                                                   \
    X(vkCreateCommandPool)                                                                      \
    X(vkDestroyCommandPool)                                                                     \
    X(vkResetCommandPool)                                                                       \
    X(vkAllocateCommandBuffers)                                                                 \
    X(vkBeginCommandBuffer)                                                                     \
    X(vkEndCommandBuffer)                                                                       \
    X(vkCmdCopyBuffer)                                                                          \
    X(vkCmdFillBuffer)                                                                          \
    X(vkCmdPipelineBarrier)                                                                     \
    X(vkCmdBindPipeline)                                                                        \
    X(vkCmdBindDescriptorSets)                                                                  \
    X(vkCmdPushConstants)                                                                       \
    X(vkCmdDispatch)                                                                            \
    X(vkCreateFence)                                                                            \
    X(vkDestroyFence)                                                                           \
    X(vkResetFences)                                                                            \
    X(vkQueueSubmit)                                                                            \
    X(vkWaitForFences)

#define MEMBER(name) PFN_##name name;
static struct {
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
    GLOBAL_FUNCTIONS(MEMBER)
    INSTANCE_FUNCTIONS(MEMBER)
    DEBUG_FUNCTIONS(MEMBER)
    DEVICE_FUNCTIONS(MEMBER)
} vk;
#undef MEMBER

static bool load_global(void)
{
    void *lib = dlopen("libvulkan.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return false;
    // POSIX's way to turn dlsym's object pointer into a function pointer.
    *(void **)&vk.vkGetInstanceProcAddr = dlsym(lib, "vkGetInstanceProcAddr");
    if (!vk.vkGetInstanceProcAddr)
        return false;
#define LOAD(name) vk.name = (PFN_##name)vk.vkGetInstanceProcAddr(VK_NULL_HANDLE, #name);
    GLOBAL_FUNCTIONS(LOAD)
#undef LOAD
    return vk.vkCreateInstance && vk.vkEnumerateInstanceLayerProperties;
}

static bool load_instance(VkInstance instance)
{
    bool ok = true;
#define LOAD(name) ok &= (vk.name = (PFN_##name)vk.vkGetInstanceProcAddr(instance, #name)) != NULL;
    INSTANCE_FUNCTIONS(LOAD)
#undef LOAD
#define LOAD_OPTIONAL(name) vk.name = (PFN_##name)vk.vkGetInstanceProcAddr(instance, #name);
    DEBUG_FUNCTIONS(LOAD_OPTIONAL)
#undef LOAD_OPTIONAL
    return ok;
}

static bool load_device(VkDevice device)
{
    bool ok = true;
#define LOAD(name) ok &= (vk.name = (PFN_##name)vk.vkGetDeviceProcAddr(device, #name)) != NULL;
    DEVICE_FUNCTIONS(LOAD)
#undef LOAD
    return ok;
}

// ---- validation messages --------------------------------------------------------------------

static unsigned validation_messages;

static VKAPI_ATTR VkBool32 VKAPI_CALL on_message(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                 VkDebugUtilsMessageTypeFlagsEXT type,
                                                 const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                 void *user)
{
    (void)severity, (void)type, (void)user;
    ++validation_messages;
    fprintf(stderr, "[validation] %s\n", data->pMessage);
    return VK_FALSE;
}

static bool instance_has_layer(const char *name)
{
    uint32_t n = 0;
    vk.vkEnumerateInstanceLayerProperties(&n, NULL);
    VkLayerProperties *props = calloc(n + 1, sizeof *props);
    bool found = false;
    if (props && vk.vkEnumerateInstanceLayerProperties(&n, props) >= 0)
        for (uint32_t i = 0; i < n; ++i)
            found |= strcmp(props[i].layerName, name) == 0;
    free(props);
    return found;
}

static bool layer_has_extension(const char *layer, const char *name)
{
    uint32_t n = 0;
    vk.vkEnumerateInstanceExtensionProperties(layer, &n, NULL);
    VkExtensionProperties *props = calloc(n + 1, sizeof *props);
    bool found = false;
    if (props && vk.vkEnumerateInstanceExtensionProperties(layer, &n, props) >= 0)
        for (uint32_t i = 0; i < n; ++i)
            found |= strcmp(props[i].extensionName, name) == 0;
    free(props);
    return found;
}

// ---- small helpers ----------------------------------------------------------------------------

static uint32_t memory_type(VkPhysicalDevice pd, uint32_t allowed, VkMemoryPropertyFlags want)
{
    VkPhysicalDeviceMemoryProperties mp;
    vk.vkGetPhysicalDeviceMemoryProperties(pd, &mp);
    for (uint32_t i = 0; i < mp.memoryTypeCount; ++i)
        if ((allowed >> i & 1u) && (mp.memoryTypes[i].propertyFlags & want) == want)
            return i;
    return UINT32_MAX;
}

// A buffer with memory of its own, bound (and mapped when host-visible).
static VkResult make_buffer(VkPhysicalDevice pd, VkDevice device, VkDeviceSize size,
                            VkBufferUsageFlags usage, VkMemoryPropertyFlags want,
                            VkMemoryPropertyFlags fallback, VkBuffer *buffer,
                            VkDeviceMemory *memory, void **mapped)
{
    const VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                                   .size = size,
                                   .usage = usage,
                                   .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = vk.vkCreateBuffer(device, &bi, NULL, buffer);
    if (r != VK_SUCCESS)
        return r;
    VkMemoryRequirements req;
    vk.vkGetBufferMemoryRequirements(device, *buffer, &req);
    uint32_t type = memory_type(pd, req.memoryTypeBits, want);
    if (type == UINT32_MAX)
        type = memory_type(pd, req.memoryTypeBits, fallback);
    if (type == UINT32_MAX)
        return VK_ERROR_FEATURE_NOT_PRESENT;
    const VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                                     .allocationSize = req.size,
                                     .memoryTypeIndex = type};
    r = vk.vkAllocateMemory(device, &ai, NULL, memory);
    if (r == VK_SUCCESS)
        r = vk.vkBindBufferMemory(device, *buffer, *memory, 0);
    if (r == VK_SUCCESS && mapped)
        r = vk.vkMapMemory(device, *memory, 0, VK_WHOLE_SIZE, 0, mapped);
    return r;
}

// One global memory barrier (an engine would narrow it to buffer ranges where it pays).
static void barrier(VkCommandBuffer cb, VkPipelineStageFlags src_stages, VkAccessFlags src_access,
                    VkPipelineStageFlags dst_stages, VkAccessFlags dst_access)
{
    const VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                                .srcAccessMask = src_access,
                                .dstAccessMask = dst_access};
    vk.vkCmdPipelineBarrier(cb, src_stages, dst_stages, 0, 1, &mb, 0, NULL, 0, NULL);
}

static float uniform(float lo, float hi)
{
    return lo + (hi - lo) * (float)rand() / (float)RAND_MAX;
}

#define VK_CHECK(call)                                                                          \
    do {                                                                                        \
        VkResult r_ = (call);                                                                   \
        if (r_ != VK_SUCCESS) {                                                                 \
            fprintf(stderr, "%s failed: VkResult %d\n", #call, (int)r_);                        \
            goto done;                                                                          \
        }                                                                                       \
    } while (0)
#define DVK_CHECK(call)                                                                         \
    do {                                                                                        \
        dvk_status st_ = (call);                                                                \
        if (st_ != DVK_SUCCESS) {                                                               \
            fprintf(stderr, "%s: %s: %s\n", #call, dvk_status_string(st_), dvk_last_error());   \
            goto done;                                                                          \
        }                                                                                       \
    } while (0)

// The regions of the engine's buffer, in floats' order; each starts at a multiple of `align`.
enum { R_Q, R_K, R_V, R_LOGIT, R_BETA, R_O, R_STATE, R_Y, R_COUNT };

int main(int argc, char **argv)
{
    bool validate = false;
    int T = 300, frames = 3;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--validate") == 0) {
            validate = true;
        } else if (strcmp(argv[i], "--tokens") == 0 && i + 1 < argc) {
            T = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--frames") == 0 && i + 1 < argc) {
            frames = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--validate] [--tokens T] [--frames N]\n", argv[0]);
            return EXIT_FAILURE;
        }
    }
    if (T < 1 || T > 100000 || frames < 1 || frames > 1000) {
        fprintf(stderr, "--tokens: 1 to 100000; --frames: 1 to 1000\n");
        return EXIT_FAILURE;
    }
    if (!load_global()) {
        fprintf(stderr, "cannot load the Vulkan loader (libvulkan.so.1)\n");
        return EXIT_FAILURE;
    }

    bool ok = false;
    VkInstance instance = VK_NULL_HANDLE;
    VkDebugUtilsMessengerEXT messenger = VK_NULL_HANDLE;
    VkDevice device = VK_NULL_HANDLE;
    VkBuffer gpu = VK_NULL_HANDLE, staging = VK_NULL_HANDLE;
    VkDeviceMemory gpu_memory = VK_NULL_HANDLE, staging_memory = VK_NULL_HANDLE;
    VkShaderModule module = VK_NULL_HANDLE;
    VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
    VkPipelineLayout layout = VK_NULL_HANDLE;
    VkPipeline pipeline = VK_NULL_HANDLE;
    VkDescriptorPool descriptor_pool = VK_NULL_HANDLE;
    VkCommandPool command_pool = VK_NULL_HANDLE;
    VkFence fence = VK_NULL_HANDLE;
    dvk_context *ctx = NULL;
    dvk_cmd *dry = NULL, *cmd = NULL;
    dvk_tensor *t[R_COUNT] = {0};
    float *stream[R_COUNT] = {0}; // the whole stream's inputs and outputs, for the reference
    double *o_ref = NULL, *state_ref = NULL;

    // ---- the engine's instance: validation with synchronization validation when asked -----
    uint32_t loader_version = VK_API_VERSION_1_0;
    if (vk.vkEnumerateInstanceVersion)
        vk.vkEnumerateInstanceVersion(&loader_version);
    if (loader_version < VK_API_VERSION_1_2) {
        fprintf(stderr, "the Vulkan loader is older than 1.2\n");
        return EXIT_FAILURE;
    }
    const char *layer = "VK_LAYER_KHRONOS_validation";
    if (validate && !instance_has_layer(layer)) {
        fprintf(stderr, "--validate: %s is not installed\n", layer);
        return EXIT_FAILURE;
    }
    const char *extensions[2] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
    uint32_t extension_count = validate ? 1 : 0;
    if (validate && layer_has_extension(layer, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME))
        extensions[extension_count++] = VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME;
    VkDebugUtilsMessengerCreateInfoEXT messenger_info = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_message,
    };
    const VkValidationFeatureEnableEXT sync =
        VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT;
    const VkValidationFeaturesEXT features = {
        .sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
        .pNext = &messenger_info, // also counts the messages of vkCreateInstance itself
        .enabledValidationFeatureCount = 1,
        .pEnabledValidationFeatures = &sync,
    };
    const VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                                   .pApplicationName = "engine_interop",
                                   .apiVersion = VK_API_VERSION_1_2};
    const VkInstanceCreateInfo ii = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                                     .pNext = validate ? &features : NULL,
                                     .pApplicationInfo = &app,
                                     .enabledLayerCount = validate ? 1 : 0,
                                     .ppEnabledLayerNames = &layer,
                                     .enabledExtensionCount = extension_count,
                                     .ppEnabledExtensionNames = extensions};
    VK_CHECK(vk.vkCreateInstance(&ii, NULL, &instance));
    if (!load_instance(instance)) {
        fprintf(stderr, "instance functions missing\n");
        goto done;
    }
    if (validate) {
        if (!vk.vkCreateDebugUtilsMessengerEXT) {
            fprintf(stderr, "vkCreateDebugUtilsMessengerEXT missing\n");
            goto done;
        }
        VK_CHECK(vk.vkCreateDebugUtilsMessengerEXT(instance, &messenger_info, NULL, &messenger));
    }

    // ---- its device: the first of Vulkan 1.2 with a compute queue ---------------------------
    VkPhysicalDevice pd = VK_NULL_HANDLE, devices[16];
    uint32_t device_count = 16, family = UINT32_MAX;
    if (vk.vkEnumeratePhysicalDevices(instance, &device_count, devices) < 0)
        device_count = 0; // VK_INCOMPLETE (more than 16) still lists 16
    VkPhysicalDeviceProperties props;
    for (uint32_t i = 0; i < device_count && pd == VK_NULL_HANDLE; ++i) {
        vk.vkGetPhysicalDeviceProperties(devices[i], &props);
        if (props.apiVersion < VK_API_VERSION_1_2)
            continue;
        VkQueueFamilyProperties families[16];
        uint32_t n = 16;
        vk.vkGetPhysicalDeviceQueueFamilyProperties(devices[i], &n, families);
        for (uint32_t f = 0; f < n && family == UINT32_MAX; ++f)
            if (families[f].queueFlags & VK_QUEUE_COMPUTE_BIT)
                family = f;
        if (family != UINT32_MAX)
            pd = devices[i];
    }
    if (pd == VK_NULL_HANDLE) {
        fprintf(stderr, "no Vulkan 1.2 device with a compute queue\n");
        goto done;
    }
    const float priority = 1.0f;
    const VkDeviceQueueCreateInfo qi = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                        .queueFamilyIndex = family,
                                        .queueCount = 1,
                                        .pQueuePriorities = &priority};
    // The features the engine enables (none beyond Vulkan 1.2's core: the sample is fp32);
    // deltavk is told, so it uses nothing the device was not created with.
    const VkPhysicalDeviceFeatures2 enabled = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    const VkDeviceCreateInfo di = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                                   .pNext = &enabled,
                                   .queueCreateInfoCount = 1,
                                   .pQueueCreateInfos = &qi};
    VK_CHECK(vk.vkCreateDevice(pd, &di, NULL, &device));
    if (!load_device(device)) {
        fprintf(stderr, "device functions missing\n");
        goto done;
    }
    VkQueue queue;
    vk.vkGetDeviceQueue(device, family, 0, &queue);

    // ---- deltavk adopts the device and queue ----------------------------------------------
    const dvk_vulkan_handles handles = {
        .instance = instance,
        .physical_device = pd,
        .device = device,
        .queue = queue,
        .queue_family_index = family,
        .api_version = VK_API_VERSION_1_2,
        .get_instance_proc_addr = vk.vkGetInstanceProcAddr, // the engine's loader, not another
        .enabled_features = &enabled,
    };
    DVK_CHECK(dvk_context_create(&(dvk_context_desc){.adopt = &handles}, &ctx));
    const VkDeviceSize align = dvk_context_device_info(ctx)->tensor_alignment;

    // ---- the engine's buffers: one device buffer of regions, one host staging buffer -------
    const uint64_t floats[R_COUNT] = {
        [R_Q] = (uint64_t)T * H * K, [R_K] = (uint64_t)T * H * K, [R_V] = (uint64_t)T * H * V,
        [R_LOGIT] = (uint64_t)T * H, [R_BETA] = (uint64_t)T * H, [R_O] = (uint64_t)T * H * V,
        [R_STATE] = (uint64_t)H * K * V, [R_Y] = (uint64_t)T * H * V,
    };
    VkDeviceSize offset[R_COUNT + 1] = {0};
    for (int r = 0; r < R_COUNT; ++r)
        offset[r + 1] = (offset[r] + floats[r] * sizeof(float) + align - 1) / align * align;
    const VkDeviceSize total = offset[R_COUNT];
    VK_CHECK(make_buffer(pd, device, total,
                         VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                             VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                         VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0, &gpu, &gpu_memory, NULL));
    void *staging_ptr = NULL;
    const VkMemoryPropertyFlags host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT |
                                       VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    VK_CHECK(make_buffer(pd, device, total,
                         VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                         host | VK_MEMORY_PROPERTY_HOST_CACHED_BIT, host, &staging,
                         &staging_memory, &staging_ptr));
    // The staging buffer mirrors the device buffer's layout.
    float *in[R_COUNT];
    for (int r = 0; r < R_COUNT; ++r)
        in[r] = (float *)((char *)staging_ptr + offset[r]);
    // The regions kept over the stream for the reference: the inputs (the first four, copied
    // in each frame) and y.
    const int kept[5] = {R_Q, R_K, R_V, R_LOGIT, R_Y};
    for (int i = 0; i < 5; ++i) {
        stream[kept[i]] = malloc(sizeof(float) * floats[kept[i]] * (size_t)frames);
        if (!stream[kept[i]])
            goto done;
    }

    // deltavk's view of the engine's memory: tensors wrapping regions of its buffer.
    const uint64_t shapes[R_COUNT][4] = {
        [R_Q] = {1, T, H, K}, [R_K] = {1, T, H, K}, [R_V] = {1, T, H, V}, [R_LOGIT] = {1, T, H},
        [R_BETA] = {1, T, H}, [R_O] = {1, T, H, V}, [R_STATE] = {1, H, K, V}, [R_Y] = {1, T, H, V},
    };
    for (int r = 0; r < R_COUNT; ++r) {
        const uint32_t ndim = r == R_LOGIT || r == R_BETA ? 3 : 4;
        dvk_tensor_desc td = {.ndim = ndim, .buffer = gpu, .offset = offset[r]};
        memcpy(td.shape, shapes[r], sizeof td.shape);
        DVK_CHECK(dvk_tensor_create(ctx, &td, &t[r]));
    }
    const dvk_delta_rule_desc delta = {
        .q = t[R_Q], .k = t[R_K], .v = t[R_V], .beta = t[R_BETA], .o = t[R_O],
        .initial_state = t[R_STATE], .final_state = t[R_STATE],
        .mode = DVK_MODE_CHUNK, // prefill's form: several kernels, scratch memory, barriers
        .l2norm_qk = true,
    };

    // ---- at load: the engine's pipeline, and deltavk's through a dry run --------------------
    const VkShaderModuleCreateInfo smi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                          .codeSize = sizeof engine_spirv,
                                          .pCode = engine_spirv};
    VK_CHECK(vk.vkCreateShaderModule(device, &smi, NULL, &module));
    VkDescriptorSetLayoutBinding bindings[3];
    for (uint32_t i = 0; i < 3; ++i)
        bindings[i] = (VkDescriptorSetLayoutBinding){
            .binding = i,
            .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
        };
    const VkDescriptorSetLayoutCreateInfo dsl = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
        .bindingCount = 3,
        .pBindings = bindings};
    VK_CHECK(vk.vkCreateDescriptorSetLayout(device, &dsl, NULL, &set_layout));
    const VkPushConstantRange push_range = {VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(engine_push)};
    const VkPipelineLayoutCreateInfo pli = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                            .setLayoutCount = 1,
                                            .pSetLayouts = &set_layout,
                                            .pushConstantRangeCount = 1,
                                            .pPushConstantRanges = &push_range};
    VK_CHECK(vk.vkCreatePipelineLayout(device, &pli, NULL, &layout));
    const VkComputePipelineCreateInfo cpi = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = module,
                  .pName = "main"},
        .layout = layout};
    VK_CHECK(vk.vkCreateComputePipelines(device, VK_NULL_HANDLE, 1, &cpi, NULL, &pipeline));

    // Two descriptor sets: (logits, logits, beta) for the gate, (v, o, y) for the residual.
    const VkDescriptorPoolSize pool_size = {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 6};
    const VkDescriptorPoolCreateInfo dpi = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                            .maxSets = 2,
                                            .poolSizeCount = 1,
                                            .pPoolSizes = &pool_size};
    VK_CHECK(vk.vkCreateDescriptorPool(device, &dpi, NULL, &descriptor_pool));
    const VkDescriptorSetLayout set_layouts[2] = {set_layout, set_layout};
    const VkDescriptorSetAllocateInfo dsa = {
        .sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
        .descriptorPool = descriptor_pool,
        .descriptorSetCount = 2,
        .pSetLayouts = set_layouts};
    VkDescriptorSet sets[2];
    VK_CHECK(vk.vkAllocateDescriptorSets(device, &dsa, sets));
    const VkDescriptorSet gate_set = sets[0], residual_set = sets[1];
    const int regions[2][3] = {{R_LOGIT, R_LOGIT, R_BETA}, {R_V, R_O, R_Y}};
    VkDescriptorBufferInfo infos[6];
    VkWriteDescriptorSet writes[6];
    for (int s = 0; s < 2; ++s)
        for (int b = 0; b < 3; ++b) {
            const int r = regions[s][b];
            infos[s * 3 + b] = (VkDescriptorBufferInfo){gpu, offset[r], floats[r] * sizeof(float)};
            writes[s * 3 + b] = (VkWriteDescriptorSet){
                .sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                .dstSet = sets[s],
                .dstBinding = (uint32_t)b,
                .descriptorCount = 1,
                .descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER,
                .pBufferInfo = &infos[s * 3 + b]};
        }
    vk.vkUpdateDescriptorSets(device, 6, writes, 0, NULL);

    // deltavk's pipelines for exactly the call the frame makes, built now rather than in it.
    DVK_CHECK(dvk_cmd_create(ctx, &(dvk_cmd_desc){.dry_run = true}, &dry));
    DVK_CHECK(dvk_delta_rule(dry, &delta));
    const uint32_t pipelines = dvk_context_pipeline_count(ctx);

    // ---- the frames, each in the engine's command buffer -----------------------------------
    const VkCommandPoolCreateInfo cpci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                          .queueFamilyIndex = family};
    VK_CHECK(vk.vkCreateCommandPool(device, &cpci, NULL, &command_pool));
    const VkCommandBufferAllocateInfo cbi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = command_pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = 1};
    VkCommandBuffer cb;
    VK_CHECK(vk.vkAllocateCommandBuffers(device, &cbi, &cb));
    const VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    VK_CHECK(vk.vkCreateFence(device, &fci, NULL, &fence));
    const uint32_t n_gate = (uint32_t)floats[R_BETA], n_y = (uint32_t)floats[R_Y];
    srand(1);
    for (int frame = 0; frame < frames; ++frame) {
        // This frame's inputs, written into staging (the previous frame is done with it).
        for (uint64_t i = 0; i < floats[R_Q]; ++i) { // any q and k: l2norm_qk normalises them
            in[R_Q][i] = uniform(-1, 1);
            in[R_K][i] = uniform(-1, 1);
        }
        for (uint64_t i = 0; i < floats[R_V]; ++i)
            in[R_V][i] = uniform(-1, 1);
        for (uint64_t i = 0; i < floats[R_LOGIT]; ++i)
            in[R_LOGIT][i] = uniform(-3, 3);
        for (int i = 0; i < 4; ++i)
            memcpy(stream[kept[i]] + floats[kept[i]] * (size_t)frame, in[kept[i]],
                   sizeof(float) * floats[kept[i]]);

        VK_CHECK(vk.vkResetCommandPool(device, command_pool, 0));
        const VkCommandBufferBeginInfo begin = {
            .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
            .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
        VK_CHECK(vk.vkBeginCommandBuffer(cb, &begin));

        // Engine: inputs in from staging; the state zeroed when the stream starts (later
        // frames continue from the state the last one left in the engine's buffer).
        VkBufferCopy in_copies[4];
        for (int i = 0; i < 4; ++i)
            in_copies[i] = (VkBufferCopy){offset[kept[i]], offset[kept[i]],
                                          floats[kept[i]] * sizeof(float)};
        vk.vkCmdCopyBuffer(cb, staging, gpu, 4, in_copies);
        if (frame == 0)
            vk.vkCmdFillBuffer(cb, gpu, offset[R_STATE], floats[R_STATE] * sizeof(float), 0);
        barrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT);

        // Engine: its own kernel, beta = sigmoid(logits).
        vk.vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
        vk.vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, layout, 0, 1, &gate_set,
                                   0, NULL);
        vk.vkCmdPushConstants(cb, layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(engine_push),
                              &(engine_push){n_gate, 0});
        vk.vkCmdDispatch(cb, (n_gate + GROUP - 1) / GROUP, 1, 1);

        // Before deltavk: the engine's writes (the copies, the fill, the gate kernel) made
        // visible to deltavk's compute and transfer work.
        barrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_SHADER_WRITE_BIT,
                VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                    VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);

        // deltavk: recorded into the engine's command buffer, which is recording by now (the
        // recording is created once, and reset each later frame: its fence has signalled).
        if (!cmd)
            DVK_CHECK(dvk_cmd_create(ctx, &(dvk_cmd_desc){.command_buffer = cb}, &cmd));
        else
            DVK_CHECK(dvk_cmd_reset(cmd));
        DVK_CHECK(dvk_delta_rule(cmd, &delta));

        // After deltavk: its writes (o, the state) made visible to the engine's kernel and
        // copy.
        barrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT);

        // Engine: y = v + o. deltavk bound its own pipelines, descriptor sets and push
        // constants, so the engine binds all three again.
        vk.vkCmdBindPipeline(cb, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
        vk.vkCmdBindDescriptorSets(cb, VK_PIPELINE_BIND_POINT_COMPUTE, layout, 0, 1,
                                   &residual_set, 0, NULL);
        vk.vkCmdPushConstants(cb, layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(engine_push),
                              &(engine_push){n_y, 1});
        vk.vkCmdDispatch(cb, (n_y + GROUP - 1) / GROUP, 1, 1);
        barrier(cb, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT);

        // Engine: y and the state out to staging, and visible to the host.
        const VkBufferCopy out_copies[2] = {
            {offset[R_Y], offset[R_Y], floats[R_Y] * sizeof(float)},
            {offset[R_STATE], offset[R_STATE], floats[R_STATE] * sizeof(float)},
        };
        vk.vkCmdCopyBuffer(cb, gpu, staging, 2, out_copies);
        barrier(cb, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
        VK_CHECK(vk.vkEndCommandBuffer(cb));

        // One submission, the engine's fence.
        VK_CHECK(vk.vkResetFences(device, 1, &fence));
        const VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
                                 .commandBufferCount = 1,
                                 .pCommandBuffers = &cb};
        VK_CHECK(vk.vkQueueSubmit(queue, 1, &si, fence));
        VK_CHECK(vk.vkWaitForFences(device, 1, &fence, VK_TRUE, UINT64_MAX));
        memcpy(stream[R_Y] + floats[R_Y] * (size_t)frame, in[R_Y], sizeof(float) * floats[R_Y]);
    }

    // ---- the C reference, over the whole stream -------------------------------------------
    const uint64_t tokens = (uint64_t)T * (uint64_t)frames;
    stream[R_BETA] = malloc(sizeof(float) * floats[R_BETA] * (size_t)frames);
    o_ref = malloc(sizeof(double) * floats[R_O] * (size_t)frames);
    state_ref = malloc(sizeof(double) * floats[R_STATE]);
    if (!stream[R_BETA] || !o_ref || !state_ref)
        goto done;
    for (uint64_t i = 0; i < tokens * H; ++i)
        stream[R_BETA][i] = 1.0f / (1.0f + expf(-stream[R_LOGIT][i]));
    if (dvk_ref_delta_rule(&(dvk_ref_delta_rule_args){
            .B = 1, .T = (int)tokens, .H = H, .K = K, .V = V, .q = stream[R_Q],
            .k = stream[R_K], .v = stream[R_V], .beta = stream[R_BETA], .l2norm_qk = 1,
            .o = o_ref, .ht = state_ref}) != 0)
        goto done;
    for (uint64_t i = 0; i < tokens * H * V; ++i)
        o_ref[i] += stream[R_V][i]; // y = v + o
    const double err_y = dvk_ref_rel_rms_error(o_ref, stream[R_Y], tokens * H * V);
    const double err_state = dvk_ref_rel_rms_error(state_ref, in[R_STATE], floats[R_STATE]);
    const uint32_t built_in_frames = dvk_context_pipeline_count(ctx) - pipelines;
    printf("%s: %d frames of %d tokens; deltavk pipelines built at load %u, in the frames %u; "
           "relative RMS error against the C reference: y %.1e, state %.1e; validation %s, "
           "%u messages\n",
           props.deviceName, frames, T, pipelines, built_in_frames, err_y, err_state,
           validate ? "on (synchronization too)" : "off", validation_messages);
    ok = err_y <= 1e-5 && err_state <= 1e-5 && built_in_frames == 0;

done:
    if (!vk.vkDestroyDevice) // the device's functions were not loaded: nothing of it to destroy
        device = VK_NULL_HANDLE;
    if (device)
        vk.vkDeviceWaitIdle(device);
    // deltavk's objects first (the recording's descriptor sets and scratch, the tensors, the
    // context), then the engine's own: deltavk never destroys what it adopted.
    dvk_cmd_destroy(cmd);
    dvk_cmd_destroy(dry);
    for (int r = 0; r < R_COUNT; ++r)
        dvk_tensor_destroy(t[r]);
    dvk_context_destroy(ctx);
    if (device) {
        vk.vkDestroyFence(device, fence, NULL);
        vk.vkDestroyCommandPool(device, command_pool, NULL);
        vk.vkDestroyDescriptorPool(device, descriptor_pool, NULL);
        vk.vkDestroyPipeline(device, pipeline, NULL);
        vk.vkDestroyPipelineLayout(device, layout, NULL);
        vk.vkDestroyDescriptorSetLayout(device, set_layout, NULL);
        vk.vkDestroyShaderModule(device, module, NULL);
        vk.vkDestroyBuffer(device, staging, NULL);
        vk.vkFreeMemory(device, staging_memory, NULL);
        vk.vkDestroyBuffer(device, gpu, NULL);
        vk.vkFreeMemory(device, gpu_memory, NULL);
        vk.vkDestroyDevice(device, NULL);
    }
    if (messenger)
        vk.vkDestroyDebugUtilsMessengerEXT(instance, messenger, NULL);
    if (instance)
        vk.vkDestroyInstance(instance, NULL);
    for (int r = 0; r < R_COUNT; ++r)
        free(stream[r]);
    free(o_ref);
    free(state_ref);
    if (validation_messages)
        fprintf(stderr, "FAIL: %u validation messages\n", validation_messages);
    return ok && validation_messages == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
