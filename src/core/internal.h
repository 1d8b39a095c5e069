/* Private declarations shared by the library's source files. Nothing here is public API. */
#ifndef DVK_INTERNAL_H
#define DVK_INTERNAL_H

#include "deltavk.h"
#include "core/vk_khr_coopmat.h" /* before the function lists, which name its function */
#include "core/vk_functions.h"
#include "deltavk_kernels.h" /* generated: the kernel ids of shaders/shaders.cmake */


#include <stdarg.h>
#include <stdatomic.h>
#include "core/thread.h"

/* ---- errors (status.c) -------------------------------------------------------------------- */

/* Records a message for dvk_last_error() (printf format) and returns `status`. */
dvk_status dvk__fail(dvk_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Records a failed Vulkan call: maps the VkResult to a status, keeps it for
 * dvk_last_vk_result(), and names the call ("vkAllocateMemory: VK_ERROR_OUT_OF_DEVICE_MEMORY"). */
dvk_status dvk__fail_vk(VkResult result, const char *what);
/* Puts `prefix` in front of this thread's last message, keeping its VkResult, and returns
 * `status` (to say which object a failure deep inside concerned). */
dvk_status dvk__fail_prefix(dvk_status status, const char *prefix);
const char *dvk__vk_result_name(VkResult result);

/* Propagates a failure: `DVK_TRY(expr);` returns expr's status from the caller if not success. */
#define DVK_TRY(expr)                                                                            \
    do {                                                                                         \
        dvk_status dvk_try_status_ = (expr);                                                     \
        if (dvk_try_status_ != DVK_SUCCESS)                                                      \
            return dvk_try_status_;                                                              \
    } while (0)

/* Checks a VkResult: on failure records it and returns the mapped status from the caller. */
#define DVK_VK_TRY(call)                                                                         \
    do {                                                                                         \
        VkResult dvk_vk_result_ = (call);                                                        \
        if (dvk_vk_result_ != VK_SUCCESS)                                                        \
            return dvk__fail_vk(dvk_vk_result_, #call);                                          \
    } while (0)

/* ---- host allocation (alloc.c) ------------------------------------------------------------ */

/* Allocator with defaults filled in (malloc/free when the caller gave none). */
dvk_allocator dvk__allocator_or_default(const dvk_allocator *a);
void *dvk__alloc(const dvk_allocator *a, size_t size);   /* zero-filled, 16-byte aligned */
void dvk__free(const dvk_allocator *a, void *p);
/* Grows *array (of *cap elements of elem_size) to hold at least `need`; keeps contents. */
dvk_status dvk__grow(const dvk_allocator *a, void **array, uint32_t *cap, uint32_t need,
                     size_t elem_size);

/* ---- function tables (instance.c) --------------------------------------------------------- */

#define DVK_FN_MEMBER_(name) PFN_##name name;
typedef struct dvk_loader_fns {
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
    DVK_VK_LOADER_FUNCTIONS(DVK_FN_MEMBER_, DVK_FN_MEMBER_)
} dvk_loader_fns;
typedef struct dvk_instance_fns {
    DVK_VK_INSTANCE_FUNCTIONS(DVK_FN_MEMBER_, DVK_FN_MEMBER_)
} dvk_instance_fns;
typedef struct dvk_device_fns {
    DVK_VK_DEVICE_FUNCTIONS(DVK_FN_MEMBER_, DVK_FN_MEMBER_)
} dvk_device_fns;
#undef DVK_FN_MEMBER_

/* Opens the system Vulkan loader through volk (src/core/volk_private.c); returns its
 * vkGetInstanceProcAddr, or NULL when the loader is missing. Every call opens it again: call it
 * once (dvk__load_loader does). */
PFN_vkGetInstanceProcAddr dvk__vulkan_open(void);
/* Opens the system Vulkan loader (once per process, through volk) and loads the loader-level
 * functions, or uses the caller's vkGetInstanceProcAddr when `gipa` is not NULL. */
dvk_status dvk__load_loader(PFN_vkGetInstanceProcAddr gipa, dvk_loader_fns *out);
dvk_status dvk__load_instance_fns(const dvk_loader_fns *l, VkInstance instance,
                                  dvk_instance_fns *out);
dvk_status dvk__load_device_fns(const dvk_instance_fns *i, VkDevice device, dvk_device_fns *out);

/* What a physical device supports (hardware truth, before any profile). */
typedef struct dvk_device_caps {
    dvk_device_info info;
    VkPhysicalDeviceMemoryProperties memory;
    VkDeviceSize min_storage_offset_alignment;
    VkDeviceSize max_memory_allocation_size;
    uint32_t max_push_constants_size;
    uint8_t pipeline_cache_uuid[VK_UUID_SIZE];
    uint32_t compute_queue_family;     /* UINT32_MAX if none */
    uint32_t timestamp_valid_bits;     /* of the chosen queue family */
    bool ext_subgroup_size_control;    /* the EXT is present (needed below Vulkan 1.3) */
    bool ext_coopmat_khr;
    bool ext_coopmat_nv;
    bool ext_portability_subset;
    bool ext_pipeline_executable_properties;
    bool feat_storage16;               /* storageBuffer16BitAccess */
    bool feat_float16;                 /* shaderFloat16 */
    bool feat_memory_model;            /* vulkanMemoryModel (cooperative-matrix shaders use it) */
    bool feat_subgroup_size_control;
    bool feat_full_subgroups;          /* computeFullSubgroups */
    bool feat_coopmat_khr;
    bool feat_coopmat_nv;
    bool coopmat_nv_f16_16x16x16; /* the NV extension offers fp16 x fp16 + fp32, 16x16x16 */
    bool coopmat_khr_f16_16x16x16; /* the same on the KHR extension */
    VkShaderStageFlags required_subgroup_stages; /* requiredSubgroupSizeStages */
    /* subgroupAdd and subgroupShuffle in compute shaders (without the clustered reductions
     * that dvk_device_info.subgroup_arithmetic also needs): the CPU kernels' requirements */
    bool subgroup_add_shuffle;
} dvk_device_caps;

/* Sets info->cooperative_matrix_path (and _subgroup_size) from what caps and info allow and
 * DVK_COOPMAT asks (a refused or unknown request is logged on log_ctx when not NULL). By
 * itself ("auto") it takes KHR, else NV; NV first when avoid_khr (a validation layer too old
 * to know VK_KHR_cooperative_matrix is on). */
void dvk__choose_coopmat_path(const dvk_device_caps *caps, dvk_device_info *info,
                              const dvk_context *log_ctx, bool avoid_khr);
/* Fills `caps` for one physical device. `device_api_version` is clamped by the instance's. */
void dvk__query_device_caps(const dvk_allocator *alloc, const dvk_instance_fns *vki,
                            VkPhysicalDevice phys, uint32_t instance_api_version, uint32_t index,
                            dvk_device_caps *caps);

/* Creates a bare instance (optionally with the validation layer and debug messenger). */
typedef struct dvk_instance_setup {
    dvk_allocator alloc; /* for temporary arrays (zero = malloc) */
    bool validation;
    const VkAllocationCallbacks *vk_allocator;
    PFN_vkDebugUtilsMessengerCallbackEXT messenger_callback;
    void *messenger_user;
    uint32_t *validation_layer_version; /* out (may be NULL): the layer's specVersion */
} dvk_instance_setup;
dvk_status dvk__create_instance(const dvk_loader_fns *l, const dvk_instance_setup *setup,
                                VkInstance *out_instance, uint32_t *out_api_version,
                                dvk_instance_fns *out_fns, VkDebugUtilsMessengerEXT *out_messenger);

/* ---- memory (memory.c) -------------------------------------------------------------------- */

typedef enum dvk_mem_kind {
    DVK_MEM_DEVICE = 0,  /* tensors: device-local (host-visible too on unified memory) */
    DVK_MEM_STAGING = 1, /* host-visible, coherent, cached if possible: uploads and readback */
    DVK_MEM_KIND_COUNT
} dvk_mem_kind;

typedef struct dvk_mem_block dvk_mem_block;

/* One suballocation: a byte range of a block's VkBuffer. */
typedef struct dvk_mem {
    dvk_mem_block *block;
    VkBuffer buffer;
    VkDeviceSize offset;
    VkDeviceSize size;
    void *mapped; /* host pointer to the range, or NULL when not host-visible */
} dvk_mem;

typedef struct dvk_mem_pool {
    dvk_mem_block *blocks[DVK_MEM_KIND_COUNT];
} dvk_mem_pool;

/* Suballocates `size` bytes aligned for storage-buffer binding. Caller holds no lock. */
dvk_status dvk__mem_alloc(dvk_context *ctx, VkDeviceSize size, dvk_mem_kind kind, dvk_mem *out);
/* Returns a range to its block; empty blocks beyond the first are released. NULL-safe. */
void dvk__mem_free(dvk_context *ctx, dvk_mem *mem);
void dvk__mem_pool_destroy(dvk_context *ctx);

/* ---- pipelines (pipeline.c) --------------------------------------------------------------- */

#define DVK_MAX_BINDINGS DVK_MAX_KERNEL_BINDINGS
#define DVK_MAX_SPEC DVK_MAX_KERNEL_SPEC
#define DVK_MAX_PUSH DVK_MAX_KERNEL_PUSH

/* A built compute pipeline: the public dvk_kernel. */
typedef struct dvk_kernel {
    const char *name; /* the kernel's name (a library kernel's "<family>/<kernel>_<variant>") */
    VkPipeline pipeline;
    VkPipelineLayout layout;
    VkDescriptorSetLayout set_layout;
    uint32_t binding_count;
    uint32_t push_size;
} dvk_pipeline;

/* What to build: one of the library's kernels (`kernel`, an id of deltavk_kernels.h) or, with
 * kernel = DVK_OPS_K_NONE, the SPIR-V at `code`; with its specialization constants
 * (constant_id i = spec[i]). */
typedef struct dvk_pipeline_key {
    dvk_ops_kernel kernel;
    const uint32_t *code;     /* when kernel is DVK_OPS_K_NONE */
    size_t code_size;         /* bytes */
    const char *name;         /* when kernel is DVK_OPS_K_NONE (NULL = "kernel") */
    uint32_t binding_count;   /* storage buffers at bindings 0..binding_count-1 */
    uint32_t push_size;       /* bytes of push constants */
    uint32_t spec_count;
    uint32_t spec[DVK_MAX_SPEC];
    uint32_t subgroup_size;   /* required subgroup size (0: the device's choice) */
} dvk_pipeline_key;

/* Returns the pipeline for `key`, building it on first use. Thread-safe. A library kernel this
 * build has no SPIR-V for (its glslc lacked an extension) is DVK_ERROR_UNSUPPORTED. */
dvk_status dvk__pipeline_get(dvk_context *ctx, const dvk_pipeline_key *key,
                             const dvk_pipeline **out);
/* True when the build has the SPIR-V of this library kernel. */
bool dvk__kernel_available(dvk_ops_kernel kernel);
dvk_status dvk__pipeline_cache_init(dvk_context *ctx, const char *path);
void dvk__pipelines_destroy(dvk_context *ctx);

/* ---- context ------------------------------------------------------------------------------ */

typedef struct dvk_pipeline_entry dvk_pipeline_entry;
typedef struct dvk_layout_entry dvk_layout_entry;

struct dvk_context {
    dvk_allocator alloc;
    const VkAllocationCallbacks *vk_alloc;
    dvk_log_fn log;
    void *log_user;

    bool owns_instance;
    bool owns_device;
    VkInstance instance;
    VkPhysicalDevice physical_device;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    uint32_t api_version;
    dvk_loader_fns vkl;
    dvk_instance_fns vki;
    dvk_device_fns vk;
    VkDebugUtilsMessengerEXT messenger;
    atomic_uint_fast64_t validation_messages;

    dvk_device_caps caps;  /* hardware truth */
    dvk_device_info info;  /* what kernels may use: caps.info with the profile's limits applied */
    bool small_profile;
    bool enabled_storage16;
    bool enabled_float16;
    bool enabled_subgroup_size_control;
    /* The validation layer is on and older than 1.3.255: it reports every use of
     * VK_KHR_cooperative_matrix, so the automatic choice prefers NV. */
    bool avoid_khr_coopmat;
    bool pipeline_stats; /* DVK_PIPELINE_STATS=1 and the driver can: compiler statistics */
    bool pipeline_times; /* DVK_PIPELINE_STATS=1: log each pipeline built, with its time */

    dvk_mutex lock; /* memory pool, pipeline cache, queue submission */
    dvk_mem_pool pool;

    VkPipelineCache pipeline_cache;
    char *pipeline_cache_path;
    dvk_pipeline_entry **pipelines; /* each entry allocated alone: pointers stay valid */
    uint32_t pipeline_count, pipeline_cap;
    dvk_layout_entry *layouts;
    uint32_t layout_count, layout_cap;

    dvk_mem dummy; /* bound to the unused bindings of a kernel */
};

void dvk__log(const dvk_context *ctx, dvk_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Submits one command buffer on the context queue under the context lock. */
dvk_status dvk__queue_submit(dvk_context *ctx, VkCommandBuffer cb, VkFence fence);

/* ---- tensors ------------------------------------------------------------------------------ */

struct dvk_tensor {
    dvk_context *ctx;
    dvk_dtype dtype;
    uint32_t ndim;
    uint64_t shape[DVK_MAX_DIMS];
    uint64_t numel;
    uint64_t bytes;
    VkBuffer buffer;
    VkDeviceSize offset;
    bool wrapped;  /* the memory is not ours to free: a caller's buffer, a view, scratch */
    bool view;     /* made by dvk_tensor_view / dvk_tensor_reshape */
    bool scratch;  /* made by dvk_cmd_scratch_tensor: owned by the dvk_cmd */
    bool released; /* a scratch tensor whose region was released: no longer usable */
    void *mapped;  /* host pointer to the tensor's bytes on unified memory, else NULL */
    dvk_mem mem;   /* when owned */
};

/* Checks a tensor description and fills t's shape, dtype, numel and bytes (nothing else). */
dvk_status dvk__tensor_describe(dvk_context *ctx, const dvk_tensor_desc *desc, dvk_tensor *t);
/* DVK_ERROR_INVALID_STATE for a scratch tensor whose region was released (name in the
 * message), else success. */
dvk_status dvk__check_live(const char *name, const dvk_tensor *t);

/* ---- commands (command.c) ----------------------------------------------------------------- */

/* One storage buffer a dispatch binds, and whether the dispatch writes it. */
typedef struct dvk_binding {
    VkBuffer buffer;
    VkDeviceSize offset;
    VkDeviceSize range;
    bool write;
} dvk_binding;

dvk_binding dvk__bind_read(const dvk_tensor *t);
dvk_binding dvk__bind_write(const dvk_tensor *t);
/* The context's dummy buffer, for a binding the variant does not use. */
dvk_binding dvk__bind_dummy(const dvk_cmd *cmd);
/* The same for an unused binding the shader declares writable: synchronization validation
 * counts such a binding as written whatever the kernel does, so it is tracked as a write,
 * and later dispatches that bind the dummy are ordered after it. */
dvk_binding dvk__bind_dummy_write(const dvk_cmd *cmd);

/* Records one dispatch, with a barrier first if it touches memory an earlier dispatch or
 * transfer of this recording wrote (or writes memory one read). */
dvk_status dvk__cmd_dispatch(dvk_cmd *cmd, const dvk_pipeline *p, const dvk_binding *bindings,
                             const void *push, uint32_t gx, uint32_t gy, uint32_t gz);
/* Scratch device memory from the recording's arena: it lives until the recording is reset or
 * destroyed, or until the region it was taken in is released (dvk_cmd_scratch_release). */
dvk_status dvk__cmd_scratch(dvk_cmd *cmd, VkDeviceSize bytes, dvk_binding *out);
/* Copies host data into fresh scratch memory (recorded; visible to later dispatches). The
 * returned binding is marked read-only, for binding as an input. */
dvk_status dvk__cmd_upload_scratch(dvk_cmd *cmd, const void *data, size_t bytes,
                                  dvk_binding *out);
/* Records a copy into the whole of `t` from fresh staging memory and returns that memory's
 * host pointer: the caller writes the tensor's bytes there before submitting (dvk_cmd_upload
 * without a copy from a source buffer: dvk_weights converts straight into it). */
dvk_status dvk__cmd_upload_map(dvk_cmd *cmd, dvk_tensor *t, void **out);
dvk_context *dvk__cmd_context(const dvk_cmd *cmd);
/* DVK_ERROR_INVALID_STATE unless the recording accepts new commands. */
dvk_status dvk__cmd_check_recording(const dvk_cmd *cmd);

/* ---- helpers for operator argument checks (tensor.c) -------------------------------------- */

/* Formats a tensor's shape as "[2,7,3,64]" into buf. */
const char *dvk__shape_str(const dvk_tensor *t, char *buf, size_t len);
/* Checks that `t` (named `name`) is non-NULL, live, on `ctx`, has `ndim` dims equal to `shape`
 * (entries of UINT64_MAX match anything) and dtype `dtype` (DVK_DTYPE_DEFAULT = either of the
 * operators' storage dtypes, f32 or f16). */
dvk_status dvk__check_tensor(const dvk_context *ctx, const char *name, const dvk_tensor *t,
                             uint32_t ndim, const uint64_t *shape, dvk_dtype dtype);

static inline uint32_t dvk__min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }
static inline uint32_t dvk__max_u32(uint32_t a, uint32_t b) { return a > b ? a : b; }
static inline uint64_t dvk__ceil_div(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
static inline uint32_t dvk__next_pow2(uint32_t x)
{
    uint32_t p = 1;
    while (p < x)
        p <<= 1;
    return p;
}
/* The largest power of two <= x (1 for x = 0). */
static inline uint32_t dvk__floor_pow2(uint32_t x)
{
    uint32_t p = 1;
    while (p <= x / 2)
        p *= 2;
    return p;
}

#endif
