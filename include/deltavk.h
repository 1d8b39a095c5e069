/*
 * deltavk.h — delta-rule and linear-attention sequence mixers on any Vulkan GPU.
 *
 * OVERVIEW
 * ========
 * deltavk runs recurrent-state sequence mixers (DeltaNet's delta rule and its relatives) as
 * Vulkan compute shaders. It works on any Vulkan 1.2 device (AMD, Intel, NVIDIA, Qualcomm, ARM,
 * Apple through MoltenVK) and, with no GPU, on the CPU through Mesa's lavapipe driver. The
 * library loads Vulkan at run time (through volk); it does not link libvulkan. volk is compiled
 * in under private names and the libraries, static or shared, define no name but dvk_ ones, so a
 * program may link libvulkan or its own volk beside them. Linking (CMake's find_package(deltavk),
 * pkg-config's deltavk, add_subdirectory): README.md.
 *
 * The objects, from the outside in:
 *
 *   dvk_context   one Vulkan device and queue: either created by deltavk or adopted from the
 *                 caller (a game engine's VkInstance / VkPhysicalDevice / VkDevice / VkQueue).
 *                 It owns the device function table, the memory allocator, the compute
 *                 pipelines (built lazily or ahead of time by a dry run, cached, optionally
 *                 persisted to disk).
 *   dvk_tensor    a contiguous fp32, fp16, bf16 or int32 array of up to 4 dimensions in
 *                 device memory, suballocated from large blocks; or a view of a caller's
 *                 VkBuffer + offset, or of part of another tensor (dvk_tensor_view); or
 *                 scratch memory of a recording (dvk_cmd_scratch_tensor).
 *   dvk_weights   the named tensors of a safetensors file, loaded into dvk_tensors.
 *   dvk_cmd       a recording: operator dispatches (with the barriers they need), uploads,
 *                 downloads and timestamps, in a command buffer of deltavk's or the caller's.
 *                 Submitting and waiting are separate, optional steps.
 *   operators     functions that record one operator into a dvk_cmd: dvk_delta_rule(),
 *                 dvk_gated_delta_rule(), dvk_kda(), dvk_dplr(), dvk_rwkv7(),
 *                 dvk_linear_attn(), dvk_softmax_attn(), dvk_rope(), dvk_infini_attn().
 *   dvk_kernel    a compute shader (deltavk's or the caller's SPIR-V) recorded with
 *                 dvk_cmd_dispatch(), with the same automatic barriers as the operators.
 *
 * This header is the first of three levels, each built only on the public API of the one
 * below: deltavk.h (the core and the sequence mixers), deltavk_nn.h (the building blocks of
 * networks: matmul, norms, activations, token shift, convolution, embedding, sampling) and
 * deltavk_models.h (architectures and sessions). docs/design.md describes them.
 *
 * A COMPLETE EXAMPLE
 * ==================
 * The whole of samples/quickstart/main.c: the delta rule over one sequence on the default
 * device, checked against its C reference (deltavk_reference.h). The build compiles it and the
 * tests run it (sample_quickstart) and check that this text is that file's
 * (sample_quickstart_header), so what you read here compiles and runs.
 *
 *     // quickstart: the delta rule over one sequence on the default Vulkan device, checked
 *     // against the plain-C reference. Exit status 0 when they agree to 1e-5 relative RMS error.
 *     #include <stdbool.h>
 *     #include <stdio.h>
 *     #include <stdlib.h>
 *
 *     #include "deltavk.h"
 *     #include "deltavk_reference.h"
 *
 *     enum { B = 1, T = 100, H = 4, K = 64, V = 64 }; // one sequence of 100 tokens, 4 heads
 *
 *     static float q[B * T * H * K], k[B * T * H * K], v[B * T * H * V], beta[B * T * H];
 *     static float o[B * T * H * V], state[B * H * K * V];
 *     static double o_ref[B * T * H * V], state_ref[B * H * K * V];
 *
 *     static float uniform(float lo, float hi)
 *     {
 *         return lo + (hi - lo) * (float)rand() / (float)RAND_MAX;
 *     }
 *
 *     // On failure: say what went wrong and clean up (every destroy function accepts NULL).
 *     #define CHECK(call)                                                                      \
 *         do {                                                                                 \
 *             dvk_status st_ = (call);                                                         \
 *             if (st_ != DVK_SUCCESS) {                                                        \
 *                 fprintf(stderr, "%s: %s: %s\n", #call, dvk_status_string(st_),               \
 *                         dvk_last_error());                                                   \
 *                 goto done;                                                                   \
 *             }                                                                                \
 *         } while (0)
 *
 *     int main(void)
 *     {
 *         for (int i = 0; i < B * T * H * K; ++i) { // any q and k: l2norm_qk normalises them
 *             q[i] = uniform(-1, 1);
 *             k[i] = uniform(-1, 1);
 *         }
 *         for (int i = 0; i < B * T * H * V; ++i)
 *             v[i] = uniform(-1, 1);
 *         for (int i = 0; i < B * T * H; ++i)
 *             beta[i] = uniform(0, 1);
 *
 *         bool ok = false;
 *         dvk_context *ctx = NULL;
 *         dvk_tensor *tq = NULL, *tk = NULL, *tv = NULL, *tbeta = NULL, *to = NULL, *ts = NULL;
 *         dvk_cmd *cmd = NULL;
 *         CHECK(dvk_context_create(NULL, &ctx)); // the best device, or the one DVK_DEVICE names
 *         CHECK(dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {B, T, H, K}}, &tq));
 *         CHECK(dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {B, T, H, K}}, &tk));
 *         CHECK(dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {B, T, H, V}}, &tv));
 *         CHECK(dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 3, .shape = {B, T, H}}, &tbeta));
 *         CHECK(dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {B, T, H, V}}, &to));
 *         CHECK(dvk_tensor_create(ctx, &(dvk_tensor_desc){.ndim = 4, .shape = {B, H, K, V}}, &ts));
 *         CHECK(dvk_tensor_upload(tq, q, sizeof q));
 *         CHECK(dvk_tensor_upload(tk, k, sizeof k));
 *         CHECK(dvk_tensor_upload(tv, v, sizeof v));
 *         CHECK(dvk_tensor_upload(tbeta, beta, sizeof beta));
 *
 *         // Record the operator, run it, wait, and read the output and the final state back.
 *         CHECK(dvk_cmd_create(ctx, NULL, &cmd));
 *         CHECK(dvk_delta_rule(cmd, &(dvk_delta_rule_desc){.q = tq, .k = tk, .v = tv,
 *                                                          .beta = tbeta, .o = to,
 *                                                          .final_state = ts, .l2norm_qk = true}));
 *         CHECK(dvk_cmd_submit(cmd));
 *         CHECK(dvk_cmd_wait(cmd, 0)); // 0: no timeout
 *         CHECK(dvk_tensor_download(to, o, sizeof o));
 *         CHECK(dvk_tensor_download(ts, state, sizeof state));
 *
 *         // The same computation in double precision on the host.
 *         if (dvk_ref_delta_rule(&(dvk_ref_delta_rule_args){
 *                 .B = B, .T = T, .H = H, .K = K, .V = V, .q = q, .k = k, .v = v, .beta = beta,
 *                 .l2norm_qk = 1, .o = o_ref, .ht = state_ref}) != 0)
 *             goto done;
 *         const double err_o = dvk_ref_rel_rms_error(o_ref, o, B * T * H * V);
 *         const double err_state = dvk_ref_rel_rms_error(state_ref, state, B * H * K * V);
 *         printf("%s: relative RMS error against the C reference: output %.1e, state %.1e\n",
 *                dvk_context_device_info(ctx)->name, err_o, err_state);
 *         ok = err_o <= 1e-5 && err_state <= 1e-5;
 *
 *     done:
 *         dvk_cmd_destroy(cmd);
 *         dvk_tensor_destroy(tq);
 *         dvk_tensor_destroy(tk);
 *         dvk_tensor_destroy(tv);
 *         dvk_tensor_destroy(tbeta);
 *         dvk_tensor_destroy(to);
 *         dvk_tensor_destroy(ts);
 *         dvk_context_destroy(ctx);
 *         return ok ? EXIT_SUCCESS : EXIT_FAILURE;
 *     }
 *
 * LAYOUTS AND SHAPES (the layouts of flash-linear-attention, "fla")
 * ====================
 *   token tensors   q, k : [B, T, H, K]     v, o : [B, T, H, V]     row-major, contiguous
 *   per-head scalars  beta, g : [B, T, H]        per-channel gates (KDA, DPLR) : [B, T, H, K]
 *   recurrent state   [N, H, K, V], fp32, key-major (rows are keys, columns are values);
 *                     N = B, or the number of sequences of a variable-length batch.
 *   Reading is o_t = S_tᵀ (scale · q_t): the state is read after the token's write.
 *   Gates are given in log space (decay = exp(g), g <= 0).
 *
 * OWNERSHIP
 * =========
 * Every object is created by a dvk_*_create function that returns it through an out-parameter
 * and destroyed by the matching dvk_*_destroy, which accepts NULL. Tensors and commands must be
 * destroyed before their context. A tensor that wraps a caller's VkBuffer never frees it. An
 * adopted VkInstance / VkDevice is never destroyed by deltavk. A dvk_cmd keeps the scratch
 * memory of the operators recorded into it until it is reset or destroyed, so destroy it (or
 * reset it) only after the GPU has finished with it.
 *
 * THREADING
 * =========
 * Different contexts are independent. Within one context:
 *   - dvk_context_*, tensor creation and destruction, and recording into *different* dvk_cmd
 *     objects may happen from several threads at once: the context's memory allocator,
 *     pipeline cache and queue are guarded by an internal mutex.
 *   - One dvk_cmd, and one dvk_tensor's upload/download, must be used by one thread at a time.
 *   - With an adopted queue, the caller must not submit to that VkQueue from another thread
 *     while a deltavk call that submits is running (dvk_cmd_submit, and dvk_tensor_upload and
 *     dvk_tensor_download on devices without unified memory): Vulkan requires queues to be
 *     externally synchronised, and deltavk can only lock its own mutex.
 *   - Building a pipeline (the first call of an operator variant) holds the context's mutex
 *     while the driver compiles; other threads' allocations and submissions wait meanwhile.
 *   - dvk_last_error() and dvk_last_vk_result() are per thread.
 *
 * ERRORS
 * ======
 * Every fallible call returns a dvk_status. DVK_SUCCESS is 0. On failure, dvk_last_error()
 * returns a message for the calling thread saying what was wrong ("q: shape [2,7,3,64] does not
 * match k: [2,7,3,32]"), and when a Vulkan call failed, dvk_last_vk_result() gives its VkResult.
 * The library never aborts or exits; bad arguments (NULL pointers, shapes that disagree,
 * unsupported dtypes, sizes over device limits such as maxStorageBufferRange) are reported.
 * An operator that fails may already have recorded part of its work into the dvk_cmd: reset
 * the recording (dvk_cmd_reset) rather than submit it.
 *
 * IN A GAME ENGINE (samples/engine_interop is the whole of it, run by the tests)
 * ================
 * An engine that owns its Vulkan device adopts it (dvk_context_desc.adopt), wraps its own
 * buffers as tensors (dvk_tensor_desc.buffer and offset), and records deltavk's work into its
 * own command buffer (dvk_cmd_desc.command_buffer), between its own commands, to submit once.
 * deltavk then creates no device or queue and submits nothing of that recording. Its blocking
 * calls (dvk_tensor_upload and dvk_tensor_download, dvk_weights_load, dvk_cmd_submit of its
 * own command buffers, the blocking calls of deltavk_models.h) submit on the adopted queue,
 * under THREADING's rule.
 *
 *   State. Each deltavk dispatch binds everything it uses, and assumes nothing the caller left.
 *   What a recording leaves changed in the caller's command buffer: the COMPUTE bind point's
 *   pipeline, its descriptor set 0 (and, by Vulkan's pipeline-layout compatibility rules,
 *   possibly its other sets) and the compute push constants (bytes 0 to 127). After a deltavk
 *   call, bind your compute pipeline and descriptor sets and push your constants again before
 *   your next dispatch. The graphics and ray-tracing bind points, dynamic state, render passes
 *   and image layouts are never touched. Besides dispatches, a recording holds pipeline
 *   barriers (global memory barriers, compute and transfer stages), copies and fills of
 *   deltavk's own and the tensors' buffers (dvk_cmd_upload, dvk_cmd_fill_zero, operators'
 *   small tables), and, on a device with timestamps, a reset of the dvk_cmd's own query pool
 *   (when it is created or reset) and timestamps. Dispatches and copies are not allowed inside
 *   a render pass: record deltavk's work outside one.
 *   Order. The command buffer must be recording when dvk_cmd_create and dvk_cmd_reset are
 *   called (they record the query-pool reset). The dvk_cmd owns the descriptor sets, staging
 *   and scratch memory its commands use: reset or destroy it only after the command buffer has
 *   finished executing (your fence), and keep one dvk_cmd per frame in flight.
 *   Barriers. deltavk orders its own commands within one dvk_cmd, and nothing else: it does
 *   not know what the caller recorded before or will record after. Place
 *     before deltavk's work, from your earlier commands that write buffers deltavk reads, or
 *       read or write buffers deltavk writes (stages and accesses of yours), to
 *       VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT with
 *       SHADER_READ | SHADER_WRITE | TRANSFER_READ | TRANSFER_WRITE access;
 *     after it, from COMPUTE_SHADER | TRANSFER with SHADER_WRITE | TRANSFER_WRITE to the
 *       stages and accesses of your commands that use deltavk's outputs (the same barrier
 *       orders your later writes to buffers deltavk read, when its destination stages hold
 *       them); before the host reads a host-visible buffer, to VK_PIPELINE_STAGE_HOST_BIT,
 *       HOST_READ.
 *   When your commands are compute or transfer work, dvk_cmd_barrier() records such a barrier
 *   (compute and transfer stages on both sides; shader and transfer writes made visible to
 *   every shader and transfer read and write) on either side. Between two dvk_cmd
 *   recordings in one command buffer, or on one queue without a wait, place one as well: each
 *   dvk_cmd tracks only its own commands.
 *   First frame. Pipelines are built on an operator's first use, which can take from
 *   milliseconds to seconds; a dry run (dvk_cmd_desc.dry_run) builds them ahead of time.
 */
#ifndef DELTAVK_H
#define DELTAVK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vulkan/vulkan_core.h>

#ifdef __cplusplus
extern "C" {
#endif

/* DVK_API marks the functions libdeltavk exports. The library is compiled with DVK_BUILDING and
 * hidden visibility (-fvisibility=hidden), so nothing else leaves the shared library. On Windows a
 * program using the DLL defines DVK_SHARED (the CMake package and the shared targets do) to import
 * them. */
#if defined(_WIN32) || defined(__CYGWIN__)
#if defined(DVK_SHARED) && defined(DVK_BUILDING)
#define DVK_API __declspec(dllexport)
#elif defined(DVK_SHARED)
#define DVK_API __declspec(dllimport)
#else
#define DVK_API
#endif
#elif defined(DVK_BUILDING) && (defined(__GNUC__) || defined(__clang__))
#define DVK_API __attribute__((visibility("default")))
#else
#define DVK_API
#endif

#define DVK_VERSION_MAJOR 0
#define DVK_VERSION_MINOR 1
#define DVK_VERSION_PATCH 0

/* ---------------------------------------------------------------------------------------------
 * Status codes
 * ------------------------------------------------------------------------------------------- */

/* X(name, value, description) — one list makes both the enum and dvk_status_string(). */
#define DVK_STATUS_LIST(X)                                                                       \
    X(DVK_SUCCESS, 0, "success")                                                                 \
    X(DVK_ERROR_INVALID_ARGUMENT, 1, "invalid argument")                                         \
    X(DVK_ERROR_SHAPE_MISMATCH, 2, "tensor shapes do not agree")                                 \
    X(DVK_ERROR_UNSUPPORTED_DTYPE, 3, "unsupported dtype")                                       \
    X(DVK_ERROR_UNSUPPORTED, 4, "not supported by this device or build")                         \
    X(DVK_ERROR_LIMIT_EXCEEDED, 5, "size exceeds a device limit")                                \
    X(DVK_ERROR_OUT_OF_HOST_MEMORY, 6, "out of host memory")                                     \
    X(DVK_ERROR_OUT_OF_DEVICE_MEMORY, 7, "out of device memory")                                 \
    X(DVK_ERROR_NO_DEVICE, 8, "no suitable Vulkan device")                                       \
    X(DVK_ERROR_VULKAN, 9, "a Vulkan call failed")                                               \
    X(DVK_ERROR_DEVICE_LOST, 10, "the Vulkan device was lost")                                   \
    X(DVK_ERROR_INVALID_STATE, 11, "call not valid in the object's current state")               \
    X(DVK_ERROR_TIMEOUT, 12, "timed out")                                                        \
    X(DVK_ERROR_IO, 13, "file input/output failed")                                              \
    X(DVK_ERROR_FORMAT, 14, "malformed file")                                                    \
    X(DVK_ERROR_NOT_FOUND, 15, "not found")

typedef enum dvk_status {
#define DVK_STATUS_ENUM_(name, value, text) name = value,
    DVK_STATUS_LIST(DVK_STATUS_ENUM_)
#undef DVK_STATUS_ENUM_
} dvk_status;

/* A constant English description of a status ("tensor shapes do not agree"). Never NULL. */
DVK_API const char *dvk_status_string(dvk_status status);

/* The detail message of the most recent failed deltavk call on this thread, or "" if none.
 * The pointer stays valid until the next deltavk call on this thread. */
DVK_API const char *dvk_last_error(void);

/* The VkResult of the Vulkan call behind the most recent failure on this thread, or VK_SUCCESS
 * when that failure was not a Vulkan error. */
DVK_API VkResult dvk_last_vk_result(void);

/* ---------------------------------------------------------------------------------------------
 * Allocation and logging hooks
 * ------------------------------------------------------------------------------------------- */

/* Host memory for deltavk's own objects. All three functions or none (zero = libc malloc).
 * alloc must return memory aligned to `alignment` (a power of two, at most 64) or NULL. */
typedef struct dvk_allocator {
    void *(*alloc)(void *user_data, size_t size, size_t alignment);
    void (*free)(void *user_data, void *ptr);
    void *user_data;
} dvk_allocator;

typedef enum dvk_log_level {
    DVK_LOG_DEBUG = 0,
    DVK_LOG_INFO = 1,
    DVK_LOG_WARNING = 2,
    DVK_LOG_ERROR = 3,
} dvk_log_level;

typedef enum dvk_log_source {
    DVK_LOG_SOURCE_LIBRARY = 0,    /* deltavk itself */
    DVK_LOG_SOURCE_VALIDATION = 1, /* the Khronos validation layer, through VK_EXT_debug_utils */
} dvk_log_source;

typedef void (*dvk_log_fn)(void *user_data, dvk_log_level level, dvk_log_source source,
                           const char *message);

/* ---------------------------------------------------------------------------------------------
 * Devices
 * ------------------------------------------------------------------------------------------- */

typedef enum dvk_device_type {
    DVK_DEVICE_TYPE_OTHER = 0,
    DVK_DEVICE_TYPE_INTEGRATED_GPU = 1,
    DVK_DEVICE_TYPE_DISCRETE_GPU = 2,
    DVK_DEVICE_TYPE_VIRTUAL_GPU = 3,
    DVK_DEVICE_TYPE_CPU = 4,
} dvk_device_type;

/* Which cooperative-matrix (tensor core) extension deltavk's tensor-core kernels use. */
typedef enum dvk_coopmat_path {
    DVK_COOPMAT_NONE = 0, /* none: the FMA kernels */
    DVK_COOPMAT_NV = 1,   /* VK_NV_cooperative_matrix (NVIDIA) */
    DVK_COOPMAT_KHR = 2,  /* VK_KHR_cooperative_matrix (AMD RDNA3+, Intel Xe2, NVIDIA, ...) */
} dvk_coopmat_path;

/* One matrix shape a device offers to compute shaders: D = A B + C with A M x K, B K x N, C and
 * D M x N, as vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR (or ...NV) lists it. */
typedef struct dvk_coopmat_shape {
    dvk_coopmat_path extension; /* the extension that lists it: NV or KHR */
    uint32_t m, n, k;
    /* VkComponentTypeKHR values (the NV extension's are the same): 0 fp16, 1 fp32, 2 fp64,
     * 3..6 int8..int64, 7..10 uint8..uint64; larger values are newer extensions' (bf16, fp8) */
    uint32_t a_type, b_type, c_type, result_type;
    uint32_t scope;  /* VkScopeKHR: 3 subgroup, 2 workgroup */
    bool saturating; /* saturatingAccumulation */
} dvk_coopmat_shape;

#define DVK_MAX_COOPMAT_SHAPES 48

/* What a device can do, as deltavk uses it. For a context made with the small-device profile
 * the limits are the profile's, not the hardware's (see dvk_context_desc.small_device_profile). */
typedef struct dvk_device_info {
    char name[256];
    uint32_t index;              /* position in vkEnumeratePhysicalDevices */
    uint32_t vendor_id;          /* PCI vendor id (0x10DE NVIDIA, 0x1002 AMD, 0x8086 Intel, ...) */
    uint32_t device_id;
    dvk_device_type type;
    uint32_t api_version;        /* VK_MAKE_API_VERSION form */
    char driver_name[256];       /* VkPhysicalDeviceDriverProperties::driverName */
    char driver_info[256];
    uint32_t subgroup_size;      /* default subgroup size */
    uint32_t min_subgroup_size;  /* with VK_EXT_subgroup_size_control, else = subgroup_size */
    uint32_t max_subgroup_size;
    bool subgroup_arithmetic;    /* subgroupAdd and clustered reductions in compute shaders */
    bool subgroup_shuffle;
    uint32_t max_shared_memory;  /* bytes of shared memory per workgroup */
    uint32_t max_workgroup_invocations;
    uint32_t max_workgroup_size[3];
    uint32_t max_workgroup_count[3];
    uint64_t max_storage_buffer_range; /* largest tensor, in bytes */
    uint64_t device_local_bytes; /* size of the largest device-local heap */
    bool unified_memory;         /* integrated GPU or CPU: tensors live in host-visible memory */
    bool fp16_storage;           /* fp16 tensors can be read and written (storageBuffer16BitAccess) */
    bool fp16_arithmetic;        /* shaderFloat16 */
    bool cooperative_matrix_khr; /* VK_KHR_cooperative_matrix enabled */
    bool cooperative_matrix_nv;  /* VK_NV_cooperative_matrix enabled */
    /* The extension offers fp16 x fp16 + fp32 blocks of 16x16x16 at subgroup scope to compute
     * shaders, and vulkanMemoryModel is enabled: what the tensor-core kernels need (with
     * shaderFloat16 and subgroups of 32). */
    bool cooperative_matrix_nv_f16;
    bool cooperative_matrix_khr_f16;
    /* The extension the tensor-core kernels use: KHR where the device and this build have it,
     * else NV, else none (NV first under a validation layer older than 1.3.255, which does not
     * know KHR's); DVK_COOPMAT=khr|nv|none chooses (see docs/configuration.md).
     * Needs the 16x16x16 fp16 shape above, shaderFloat16, 16-bit storage, and subgroups of 32
     * (the device's default, or required through subgroup size control). */
    dvk_coopmat_path cooperative_matrix_path;
    /* The subgroup size the tensor-core pipelines require (0: they run at the default, 32). */
    uint32_t cooperative_matrix_subgroup_size;
    /* Every shape the device lists, KHR's then NV's (at most DVK_MAX_COOPMAT_SHAPES). */
    uint32_t cooperative_matrix_shape_count;
    dvk_coopmat_shape cooperative_matrix_shapes[DVK_MAX_COOPMAT_SHAPES];
    bool vulkan_memory_model;    /* vulkanMemoryModel enabled */
    /* Byte alignment of every tensor deltavk allocates, and what a view's byte offset must be a
     * multiple of: max(minStorageBufferOffsetAlignment, 16). */
    uint64_t tensor_alignment;
    bool timestamps;             /* the queue can write GPU timestamps */
    double timestamp_period_ns;  /* nanoseconds per timestamp tick */
} dvk_device_info;

/* Lists the Vulkan devices of a fresh instance. On input *count is the capacity of `infos`
 * (which may be NULL when *count is 0); on output it is the number of devices, and at most the
 * capacity are written. DVK_ERROR_NO_DEVICE if the Vulkan loader cannot be found. */
DVK_API dvk_status dvk_enumerate_devices(dvk_device_info *infos, uint32_t *count);

/* ---------------------------------------------------------------------------------------------
 * Context
 * ------------------------------------------------------------------------------------------- */

/* Handles of a Vulkan device the caller already has (a game engine's). deltavk records and
 * submits on `queue`, which must support compute. It never destroys these handles. */
typedef struct dvk_vulkan_handles {
    VkInstance instance;
    VkPhysicalDevice physical_device;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family_index;
    /* The API version the instance was created with (0 = VK_API_VERSION_1_2). Must be >= 1.2. */
    uint32_t api_version;
    /* The vkGetInstanceProcAddr the caller loaded Vulkan with; NULL = deltavk opens the system
     * Vulkan loader itself. */
    PFN_vkGetInstanceProcAddr get_instance_proc_addr;
    /* The VkPhysicalDeviceFeatures2 chain passed to vkCreateDevice, so deltavk knows which
     * optional features it may use (16-bit storage, shaderFloat16, subgroup size control,
     * cooperative matrices). NULL = assume none of them were enabled. */
    const VkPhysicalDeviceFeatures2 *enabled_features;
    /* Device extensions enabled on `device` (for VK_KHR_cooperative_matrix and friends). */
    const char *const *enabled_extensions;
    uint32_t enabled_extension_count;
} dvk_vulkan_handles;

typedef struct dvk_context_desc {
    /* Which device to use when deltavk creates its own: an index into the device list, or a
     * case-insensitive substring of the device name ("llvmpipe", "NVIDIA"). NULL = the
     * DVK_DEVICE environment variable (same syntax), else the best device: discrete GPU, then
     * integrated, virtual, CPU. Ignored when `adopt` is set. */
    const char *device;
    /* Adopt the caller's Vulkan device instead of creating one (NULL = create one). */
    const dvk_vulkan_handles *adopt;
    /* Enable VK_LAYER_KHRONOS_validation and route its messages to `log` and to the counter
     * returned by dvk_context_validation_message_count(). Creation fails with
     * DVK_ERROR_UNSUPPORTED if the layer is not installed. Not available with `adopt` (the
     * caller owns that instance's layers). */
    bool enable_validation;
    /* Behave as if the device had mobile-class limits: 16 KiB shared memory, 128 invocations
     * per workgroup, no fp16 arithmetic, no subgroup arithmetic, no cooperative matrices.
     * Kernels pick their variants from these limits, so the code paths that small GPUs take
     * can be exercised on any machine. */
    bool small_device_profile;
    /* File to load the VkPipelineCache from at creation and save it to at destruction, so a
     * second start is fast (NULL = the DVK_PIPELINE_CACHE environment variable, else no disk
     * cache). A missing, truncated or foreign file is ignored (a warning is logged); it is
     * never an error. */
    const char *pipeline_cache_path;
    /* Host allocator for deltavk's own objects (zero = malloc/free). */
    dvk_allocator allocator;
    /* Passed to every Vulkan create/destroy call deltavk makes (NULL = Vulkan's default). */
    const VkAllocationCallbacks *vk_allocator;
    /* Receives diagnostics and validation messages (NULL = warnings and errors to stderr). */
    dvk_log_fn log;
    void *log_user_data;
} dvk_context_desc;

typedef struct dvk_context dvk_context;

/* Creates a context. desc may be NULL (all defaults). */
DVK_API dvk_status dvk_context_create(const dvk_context_desc *desc, dvk_context **out_context);

/* Waits for the device to go idle, saves the pipeline cache if a path was given, and frees
 * everything the context owns. NULL is a no-op. */
DVK_API void dvk_context_destroy(dvk_context *context);

/* Capabilities of the context's device (the profile's limits under small_device_profile).
 * DVK_DISABLE=fp16,coopmat in the environment (either or both) makes a context plan as if the
 * device lacked 16-bit storage and arithmetic (fp16_storage and fp16_arithmetic false: 16-bit
 * tensors are refused by the operators, weights load as fp32) or cooperative matrices: a
 * workaround for a driver that misbehaves with them. dvk_enumerate_devices shows the
 * hardware's. */
DVK_API const dvk_device_info *dvk_context_device_info(const dvk_context *context);

/* Number of validation messages received since creation (0 without enable_validation). */
DVK_API uint64_t dvk_context_validation_message_count(const dvk_context *context);

/* Writes the pipeline cache to desc.pipeline_cache_path now (DVK_ERROR_INVALID_STATE if the
 * context has no path). */
DVK_API dvk_status dvk_context_save_pipeline_cache(dvk_context *context);

/* Number of compute pipelines the context has built so far (they are built on first use, or
 * ahead of it by a dry run: dvk_cmd_desc.dry_run). */
DVK_API uint32_t dvk_context_pipeline_count(const dvk_context *context);

/* ---------------------------------------------------------------------------------------------
 * Tensors
 * ------------------------------------------------------------------------------------------- */

/* Element types. Which ones an operator or kernel accepts is written beside it; every tensor
 * can be created, copied, viewed and loaded whatever its dtype. bf16 tensors are read and
 * written by kernels through 16-bit storage (storageBuffer16BitAccess, as fp16), converted to
 * fp32 by a shift, so they need no VK_KHR_shader_bfloat16. */
typedef enum dvk_dtype {
    DVK_DTYPE_DEFAULT = 0, /* = DVK_DTYPE_F32 */
    DVK_DTYPE_F32 = 1,
    DVK_DTYPE_F16 = 2,
    DVK_DTYPE_BF16 = 3,    /* bfloat16: fp32's exponent, 8 bits of significand */
    DVK_DTYPE_I32 = 4,     /* int32: token ids, positions, sampled tokens */
} dvk_dtype;

#define DVK_MAX_DIMS 4

typedef struct dvk_tensor_desc {
    dvk_dtype dtype;                /* 0 = fp32 */
    uint32_t ndim;                  /* 1..4 (0 is a scalar: one element) */
    uint64_t shape[DVK_MAX_DIMS];   /* every used dimension >= 1 */
    /* Wrap the caller's buffer instead of allocating (VK_NULL_HANDLE = allocate). The buffer
     * needs VK_BUFFER_USAGE_STORAGE_BUFFER_BIT (and TRANSFER_SRC/DST for upload, download and
     * fill); `offset` must be a multiple of minStorageBufferOffsetAlignment. */
    VkBuffer buffer;
    VkDeviceSize offset;
} dvk_tensor_desc;

typedef struct dvk_tensor dvk_tensor;

DVK_API dvk_status dvk_tensor_create(dvk_context *context, const dvk_tensor_desc *desc,
                                     dvk_tensor **out_tensor);
/* NULL is a no-op. */
DVK_API void dvk_tensor_destroy(dvk_tensor *tensor);

/* Blocking copies between host memory and the whole tensor. `bytes` must equal
 * dvk_tensor_bytes(). On unified-memory devices this is a memcpy; elsewhere it goes through a
 * staging buffer and a queue submission. */
DVK_API dvk_status dvk_tensor_upload(dvk_tensor *tensor, const void *src, size_t bytes);
DVK_API dvk_status dvk_tensor_download(const dvk_tensor *tensor, void *dst, size_t bytes);

DVK_API dvk_dtype dvk_tensor_dtype(const dvk_tensor *tensor);
DVK_API uint32_t dvk_tensor_ndim(const dvk_tensor *tensor);
/* Dimension i (0 for i >= ndim). */
DVK_API uint64_t dvk_tensor_dim(const dvk_tensor *tensor, uint32_t i);
DVK_API uint64_t dvk_tensor_numel(const dvk_tensor *tensor);
DVK_API uint64_t dvk_tensor_bytes(const dvk_tensor *tensor);
/* The VkBuffer and byte offset holding the tensor, to bind it in the caller's own shaders. */
DVK_API void dvk_tensor_vk_buffer(const dvk_tensor *tensor, VkBuffer *buffer,
                                  VkDeviceSize *offset);

/*
 * Views: a tensor that names part of another's memory, with a shape of its own. The view
 * starts `offset` elements into `base` and holds the product of its shape elements, all inside
 * base (a view of a view is a view of the same memory). Its byte offset in the buffer must be
 * a multiple of dvk_device_info.tensor_alignment (it is bound as a storage buffer);
 * DVK_ERROR_INVALID_ARGUMENT says which alignment otherwise. The dtype is base's. A view owns
 * no memory: destroy it (dvk_tensor_destroy) before base, and reads and writes through it
 * are reads and writes of base, with the barriers between recorded work that any tensor gets.
 * dvk_tensor_reshape is the view of all of base with another shape of the same element count.
 */
typedef struct dvk_tensor_view_desc {
    uint64_t offset;              /* first element, counted in elements of base */
    uint32_t ndim;                /* 1..4 (0: one element) */
    uint64_t shape[DVK_MAX_DIMS];
} dvk_tensor_view_desc;

DVK_API dvk_status dvk_tensor_view(dvk_tensor *base, const dvk_tensor_view_desc *desc,
                                   dvk_tensor **out_view);
DVK_API dvk_status dvk_tensor_reshape(dvk_tensor *base, uint32_t ndim, const uint64_t *shape,
                                      dvk_tensor **out_view);
/* True for views and reshapes (they own no memory). */
DVK_API bool dvk_tensor_is_view(const dvk_tensor *tensor);
/* The context a tensor belongs to. */
DVK_API dvk_context *dvk_tensor_context(const dvk_tensor *tensor);

/* Bytes per element of a dtype (0 for an invalid one). */
DVK_API size_t dvk_dtype_size(dvk_dtype dtype);
/* "f32", "f16", "bf16", "i32"; "invalid" for anything else. */
DVK_API const char *dvk_dtype_name(dvk_dtype dtype);

/* IEEE half conversions (round to nearest even; inf and NaN preserved). */
DVK_API uint16_t dvk_f32_to_f16(float value);
DVK_API float dvk_f16_to_f32(uint16_t value);
/* bfloat16 conversions (round to nearest even; inf preserved, NaN stays NaN). */
DVK_API uint16_t dvk_f32_to_bf16(float value);
DVK_API float dvk_bf16_to_f32(uint16_t value);

/* ---------------------------------------------------------------------------------------------
 * Weights: named tensors from a safetensors file
 * ------------------------------------------------------------------------------------------- */

/*
 * dvk_weights reads a safetensors file (https://huggingface.co/docs/safetensors: an 8-byte
 * little-endian header length N, N bytes of JSON naming each tensor's dtype, shape and byte
 * range, then the data) into device tensors, one per entry, and finds them by name. The
 * library reads the format itself (no JSON library) and strictly: every header entry is
 * checked before any tensor is made, and a file that breaks a rule below is DVK_ERROR_FORMAT,
 * with a message naming the file and the entry.
 *
 * The file is memory-mapped and stays mapped until dvk_weights_destroy (so it must not be
 * truncated meanwhile: reading a page that no longer exists raises SIGBUS). Only regular
 * files are read: a directory, a device such as /dev/zero, a pipe or a FIFO is DVK_ERROR_IO
 * (at once: a FIFO is not waited on), as is a file that cannot be opened or mapped. Limits:
 * the file is mapped, never copied whole, so its size is bounded by the address space only;
 * the header is at most 100,000,000 bytes (below), and host memory of about its size is all
 * that parsing takes; a tensor is bounded by the device (maxStorageBufferRange). So no file
 * makes the library allocate in proportion to a size it claims rather than holds.
 * dvk_weights_load_memory reads a copy of bytes in memory.
 *
 * The header, as deltavk reads it (where the format leaves room, the choice is written):
 *   - N <= 100,000,000 (as the reference implementation) and N <= file size − 8; the header is
 *     UTF-8 (no overlong forms, surrogates, or code points past U+10FFFF) and one JSON
 *     object (RFC 8259 exactly: no comments, trailing commas, NaN, or control bytes, strings
 *     with every escape, \u surrogate pairs included and lone surrogates refused), padded
 *     with JSON whitespace only; arrays and objects nest at most 64 deep.
 *   - Each key but "__metadata__" names a tensor: an object with "dtype" (F64, F32, F16,
 *     BF16, I64, I32, I16, I8, U8 or BOOL; other dtypes of the format, U16, U32, U64, F8_*,
 *     are refused), "shape" (at most 8 integers) and "data_offsets" ([begin, end] in the data
 *     that follow the header), each once; other fields are ignored. Integers are plain JSON
 *     integers (digits only: no sign, fraction or exponent) below 2^64, and element and byte
 *     counts must not overflow 64 bits. end − begin = elements × the dtype's size, end <= the
 *     data's size, and no two tensors share a byte (empty tensors own none); gaps between
 *     tensors and bytes after the last are accepted.
 *   - Tensor names are unique and may hold any character but U+0000 ("\u0000" is refused:
 *     C strings cannot hold it); an empty name is a name.
 *   - "__metadata__" appears at most once: null (no metadata) or an object of string values,
 *     with unique keys and no U+0000.
 *   - Tensors are listed in the header's order.
 * Data are read with any alignment (an offset may be odd).
 *
 * Device tensors. With a context, each entry the filter keeps becomes one dvk_tensor:
 *   F32, F16, BF16  the file's dtype, or desc.dtype when set (or the per-tensor choice of
 *                   desc.tensor_dtype), converted once at load, rounding to nearest even;
 *   F64             f32 (or the chosen dtype, through f32; values past f32's range become
 *                   ±inf);
 *   16-bit results  f32 instead on a device without fp16_storage;
 *   I64 .. U8, BOOL int32 (BOOL as 0 or 1, any nonzero byte being true); a value outside
 *                   int32's range is DVK_ERROR_FORMAT naming the tensor, found before any
 *                   tensor is made.
 * Its shape is the file's: 0 to 4 dimensions (0 dimensions: one element). An entry of more
 * dimensions, or with no elements, is listed and readable on the host but has no device
 * tensor: dvk_weights_get of it is DVK_ERROR_UNSUPPORTED. On unified-memory devices
 * (integrated GPUs, lavapipe) the data are converted straight into the tensors' memory;
 * elsewhere into staging memory, with one submission per batch of desc.upload_batch_bytes.
 * (DVK_WEIGHTS_STAGED=1 in the environment takes the staged path on unified memory too: it
 * is there to test that path on any machine.)
 *
 * Host only. With context NULL no device tensor is made: the names, dtypes, shapes and
 * metadata are there, values through dvk_weights_read, and dvk_weights_get and
 * dvk_weights_expect check names and shapes when out_tensor is NULL (and mark the entry used).
 *
 * A model loader takes what it needs with dvk_weights_expect (name and shape checked: a
 * missing or wrongly shaped tensor is named in the error) and then calls
 * dvk_weights_check_all_used, which names a tensor it did not ask for: a missing, extra or
 * wrongly shaped tensor is always an error that names it. A dvk_weights is used by one thread
 * at a time (asking for a tensor marks it used); it must be destroyed before its context.
 */
typedef struct dvk_weights dvk_weights;

typedef struct dvk_weights_desc {
    /* Floating-point entries become this dtype (DVK_DTYPE_F32, _F16 or _BF16); DEFAULT keeps
     * the file's (F64 becomes f32). */
    dvk_dtype dtype;
    /* Which entries get device tensors (NULL = all). An entry left out stays listed, readable
     * (dvk_weights_find, dvk_weights_read) and is not reported by dvk_weights_check_all_used;
     * dvk_weights_get of it is DVK_ERROR_NOT_FOUND. */
    bool (*filter)(void *user_data, const char *name);
    /* The dtype of one floating-point entry (NULL = desc.dtype for all): called once per
     * float entry the filter keeps, with the dtype the rules above chose; returns
     * DVK_DTYPE_F32, _F16 or _BF16, or DEFAULT to keep that choice. Anything else is
     * DVK_ERROR_INVALID_ARGUMENT. (Keep a model's norms or gates in f32 while its matrices
     * load as f16.) */
    dvk_dtype (*tensor_dtype)(void *user_data, const char *name, dvk_dtype chosen);
    void *user_data; /* passed to filter and tensor_dtype */
    /* Bytes of staging memory per upload submission on devices without unified memory (0 =
     * 64 MiB); a larger tensor goes alone. */
    uint64_t upload_batch_bytes;
} dvk_weights_desc;

/* Loads a file. `context` may be NULL (host only, see above); desc may be NULL (defaults).
 * DVK_ERROR_IO when the file cannot be opened or mapped or is not a regular file,
 * DVK_ERROR_FORMAT for a malformed file, and the errors of dvk_tensor_create and the uploads.
 * Nothing is kept on failure (*out_weights = NULL). */
DVK_API dvk_status dvk_weights_load(dvk_context *context, const char *path,
                                    const dvk_weights_desc *desc, dvk_weights **out_weights);
/* The same from `size` bytes in memory, which are copied (the caller may free them at once).
 * Messages call the file "(memory)". */
DVK_API dvk_status dvk_weights_load_memory(dvk_context *context, const void *data, size_t size,
                                           const dvk_weights_desc *desc,
                                           dvk_weights **out_weights);
/* Destroys the tensors it loaded and unmaps the file. NULL is a no-op. */
DVK_API void dvk_weights_destroy(dvk_weights *weights);

/* Number of tensor entries, and their names in the header's order (NULL past the count). */
DVK_API uint32_t dvk_weights_count(const dvk_weights *weights);
DVK_API const char *dvk_weights_name(const dvk_weights *weights, uint32_t i);

#define DVK_WEIGHTS_MAX_DIMS 8

/* What the file says of one entry, and what deltavk made of it. The strings live as long as
 * the weights. */
typedef struct dvk_weights_entry {
    const char *name;
    const char *file_dtype;  /* as the format names it: "F32", "BF16", "I64", "BOOL", ... */
    /* The dtype it loads as: f32, f16 or bf16 for float entries, i32 for integer and bool
     * entries (host only: as on a device with fp16_storage). */
    dvk_dtype dtype;
    uint32_t ndim;           /* 0..DVK_WEIGHTS_MAX_DIMS */
    uint64_t shape[DVK_WEIGHTS_MAX_DIMS];
    uint64_t numel;          /* product of the shape (1 for 0 dimensions) */
    bool loaded;             /* it has a device tensor */
    bool used;               /* dvk_weights_get or dvk_weights_expect asked for it */
} dvk_weights_entry;

/* The entry called `name` (DVK_ERROR_NOT_FOUND, naming it and the file, when there is none).
 * Does not mark it used. */
DVK_API dvk_status dvk_weights_find(const dvk_weights *weights, const char *name,
                                    dvk_weights_entry *out_entry);
/* The tensor called `name` (owned by the weights: never destroy it), and marks it used.
 * DVK_ERROR_NOT_FOUND, naming it and the file, when there is none (or the filter left it
 * out); DVK_ERROR_UNSUPPORTED for an entry of more than 4 dimensions or no elements;
 * DVK_ERROR_INVALID_STATE in host-only mode. out_tensor may be NULL: then only the name is
 * checked and the entry marked used, in any mode and whatever its dimensions. */
DVK_API dvk_status dvk_weights_get(dvk_weights *weights, const char *name,
                                   dvk_tensor **out_tensor);
/* dvk_weights_get and a shape check: `ndim` dimensions (up to DVK_WEIGHTS_MAX_DIMS) equal to
 * `shape` (UINT64_MAX matches any size); DVK_ERROR_SHAPE_MISMATCH names the tensor, the file,
 * its shape and the one expected. The shape is checked first, and a mismatch does not mark
 * the entry used. */
DVK_API dvk_status dvk_weights_expect(dvk_weights *weights, const char *name, uint32_t ndim,
                                      const uint64_t *shape, dvk_tensor **out_tensor);
/* DVK_ERROR_FORMAT naming the first entry (in header order) that the filter kept and no
 * dvk_weights_get or dvk_weights_expect asked for ("unexpected tensor 'blocks.9.ffn.w' in
 * model.safetensors"), else DVK_SUCCESS. */
DVK_API dvk_status dvk_weights_check_all_used(const dvk_weights *weights);
/* A "__metadata__" value of the file, or NULL. */
DVK_API const char *dvk_weights_metadata(const dvk_weights *weights, const char *key);
/* Reads entry `name` from the file's bytes (not from the device; any entry, in any mode),
 * converted to DVK_DTYPE_F32 (float; integers round to the nearest float) or DVK_DTYPE_I32
 * (int32_t; integer entries must fit and float entries hold integers that fit, else
 * DVK_ERROR_FORMAT naming the element): for values the host needs (sequence offsets, a
 * scale) and for tools. `bytes` must be numel × 4 (DVK_ERROR_SHAPE_MISMATCH otherwise). */
DVK_API dvk_status dvk_weights_read(const dvk_weights *weights, const char *name,
                                    dvk_dtype dtype, void *dst, size_t bytes);

/* ---------------------------------------------------------------------------------------------
 * Commands
 * ------------------------------------------------------------------------------------------- */

typedef struct dvk_cmd_desc {
    /* Record into the caller's command buffer, already in the recording state and allocated
     * from a pool of a queue family that supports compute (VK_NULL_HANDLE = deltavk's own).
     * The caller ends, submits and synchronises it; dvk_cmd_submit / dvk_cmd_wait return
     * DVK_ERROR_INVALID_STATE. deltavk makes its own dispatches consistent with each other;
     * barriers against the caller's work before and after are the caller's, and the caller
     * rebinds its compute state afterwards: IN A GAME ENGINE, at the top, says which. */
    VkCommandBuffer command_buffer;
    /* Capacity for dvk_cmd_timestamp() (0 = 64, or 1024 with profile_dispatches, when the
     * device supports timestamps). */
    uint32_t max_timestamps;
    /* Time every dispatch with a pair of GPU timestamps (read back with dvk_cmd_profile_*).
     * For tuning: the timestamps cost a little, and share the max_timestamps capacity. */
    bool profile_dispatches;
    /* A dry run: building the pipelines of a recording ahead of time (at load, so that the
     * first frame does not wait for the driver's compiler). Every call on a dry run checks its
     * arguments and builds the pipelines the same call on a real recording would use, and
     * returns the status that call would return; nothing is recorded, no device memory is
     * taken, and no data is copied. So calling an operator (or a deltavk_nn layer, or a
     * model's forward pass) on a dry run with the tensors, shapes, dtypes and options of the
     * real call builds exactly what that call needs, and the real call builds nothing
     * (dvk_context_pipeline_count() does not grow); the pipelines stay in the context, and
     * are saved with its pipeline cache. A second dry run of the same calls builds nothing
     * and costs about as little as argument checks. Different shapes may pick different
     * kernels (decode T = 1 and prefill, chunk sizes, head sizes): dry-run each shape class.
     * On a dry run: command_buffer must be VK_NULL_HANDLE (DVK_ERROR_INVALID_ARGUMENT);
     * profile_dispatches is ignored; dvk_cmd_download is accepted (as in deltavk's own
     * command buffer) and never writes its destination; scratch tensors have no memory
     * (passing one to a real recording, dvk_tensor_upload or dvk_tensor_download is
     * DVK_ERROR_INVALID_STATE); dvk_cmd_submit, dvk_cmd_wait and dvk_cmd_elapsed_ms return
     * DVK_ERROR_INVALID_STATE; dvk_cmd_reset starts another dry run. */
    bool dry_run;
} dvk_cmd_desc;

typedef struct dvk_cmd dvk_cmd;

/* Creates a recording, ready for operators. desc may be NULL. */
DVK_API dvk_status dvk_cmd_create(dvk_context *context, const dvk_cmd_desc *desc,
                                  dvk_cmd **out_cmd);
/* The context a recording belongs to (NULL for NULL). */
DVK_API dvk_context *dvk_cmd_context(const dvk_cmd *cmd);
/* Frees the command buffer, scratch memory and descriptors. The GPU must be done with it
 * (call dvk_cmd_wait first). NULL is a no-op. */
DVK_API void dvk_cmd_destroy(dvk_cmd *cmd);

/* Ends recording (first time only) and submits to the context's queue. A recorded dvk_cmd may
 * be submitted again after dvk_cmd_wait(): it replays the same work on the same tensors. */
DVK_API dvk_status dvk_cmd_submit(dvk_cmd *cmd);
/* Waits for the last submission to finish (timeout_ns = 0 waits without limit), then copies
 * the data of any dvk_cmd_download() into the caller's memory. */
DVK_API dvk_status dvk_cmd_wait(dvk_cmd *cmd, uint64_t timeout_ns);
/* Forgets what was recorded (the GPU must be done), releases scratch memory, and starts a new
 * recording in the same command buffer. */
DVK_API dvk_status dvk_cmd_reset(dvk_cmd *cmd);

/* Records a copy from host memory into the tensor (the data is copied now into a staging
 * buffer, so `src` may be reused at once). */
DVK_API dvk_status dvk_cmd_upload(dvk_cmd *cmd, dvk_tensor *tensor, const void *src,
                                  size_t bytes);
/* Records a copy from the tensor to host memory; `dst` is written by dvk_cmd_wait() and must
 * stay valid until then. */
DVK_API dvk_status dvk_cmd_download(dvk_cmd *cmd, const dvk_tensor *tensor, void *dst,
                                    size_t bytes);
/* Records zero-filling the tensor. */
DVK_API dvk_status dvk_cmd_fill_zero(dvk_cmd *cmd, dvk_tensor *tensor);
/* Records a full compute/transfer memory barrier (for interleaving with the caller's work). */
DVK_API dvk_status dvk_cmd_barrier(dvk_cmd *cmd);

/* Records a GPU timestamp after all work recorded so far; its index goes to *out_index. */
DVK_API dvk_status dvk_cmd_timestamp(dvk_cmd *cmd, uint32_t *out_index);
/* After dvk_cmd_wait(): milliseconds between two timestamps of the last submission. */
DVK_API dvk_status dvk_cmd_elapsed_ms(const dvk_cmd *cmd, uint32_t begin, uint32_t end,
                                      double *out_ms);

/* With dvk_cmd_desc.profile_dispatches: the number of dispatches recorded, and after
 * dvk_cmd_wait() the kernel (SPIR-V name, e.g. "delta_rule/chunk_state_f16") and GPU time of
 * dispatch i of the last submission. */
DVK_API uint32_t dvk_cmd_profile_count(const dvk_cmd *cmd);
DVK_API dvk_status dvk_cmd_profile_entry(const dvk_cmd *cmd, uint32_t i, const char **out_kernel,
                                         double *out_ms);

/*
 * Scratch memory. Operators and layers need temporaries (a layer's intermediate activations,
 * a chunked operator's per-chunk states). They come from an arena the dvk_cmd owns: device
 * memory handed out in order, kept until dvk_cmd_destroy (dvk_cmd_reset keeps the arena's
 * blocks for the next recording, so a decode loop that resets and records again allocates
 * nothing).
 *
 * dvk_cmd_scratch_tensor makes a tensor in that arena. It belongs to the dvk_cmd: never
 * destroy it (dvk_tensor_destroy of a scratch tensor does nothing); it lives until the
 * recording is reset or destroyed, or until the region it was made in is released.
 *
 * Regions let a long recording reuse memory: take a mark, record work that uses scratch (a
 * layer), and release the mark. Everything allocated after the mark, by operators or by
 * dvk_cmd_scratch_tensor, is then free for the work recorded next, so an L-layer forward
 * needs one layer's scratch, not L. The GPU work already recorded still uses that memory
 * when it runs: the barriers deltavk records between dispatches that touch the same bytes
 * order the reuse, as for any tensor. Scratch tensors made after the mark become invalid:
 * passing one to a later call is DVK_ERROR_INVALID_STATE. Marks nest (release inner marks
 * first); releasing a mark taken before a reset is DVK_ERROR_INVALID_ARGUMENT.
 */
typedef struct dvk_scratch_mark {
    uint64_t offset_;   /* opaque */
    uint32_t block_;
    uint32_t tensors_;
    uint32_t epoch_;
} dvk_scratch_mark;

DVK_API dvk_status dvk_cmd_scratch_tensor(dvk_cmd *cmd, const dvk_tensor_desc *desc,
                                          dvk_tensor **out_tensor);
DVK_API dvk_scratch_mark dvk_cmd_scratch_mark(const dvk_cmd *cmd);
DVK_API dvk_status dvk_cmd_scratch_release(dvk_cmd *cmd, dvk_scratch_mark mark);
/* Bytes of device memory the arena holds now (its blocks, used or free). */
DVK_API uint64_t dvk_cmd_scratch_capacity(const dvk_cmd *cmd);

/* ---------------------------------------------------------------------------------------------
 * Kernels: your own compute shaders recorded beside deltavk's
 * ------------------------------------------------------------------------------------------- */

/*
 * A kernel is a SPIR-V compute shader (entry point "main") with its specialization constants,
 * built into a pipeline once per context and cached there (like the library's own kernels).
 * Its interface: storage buffers at set 0, bindings 0..binding_count−1; push constants of
 * push_size bytes at offset 0; constant_id i = spec[i], 32 bits each. deltavk's own higher
 * levels (deltavk_nn.h) are built on this, and so can a caller's kernels be: they then get
 * deltavk's barriers, scratch memory and profiling.
 */
#define DVK_MAX_KERNEL_BINDINGS 16
#define DVK_MAX_KERNEL_SPEC 24
#define DVK_MAX_KERNEL_PUSH 128

typedef struct dvk_kernel dvk_kernel;

typedef struct dvk_kernel_desc {
    /* Shown in profiles and messages (NULL = "kernel"); copied, up to 63 bytes. */
    const char *name;
    /* The SPIR-V words. The pointer is the cache key: it must stay valid, and its contents
     * unchanged, while the context lives (static data, as embedded SPIR-V is). */
    const uint32_t *spirv;
    size_t spirv_size; /* bytes, a multiple of 4 */
    uint32_t binding_count;
    uint32_t push_size;
    uint32_t spec_count;
    const uint32_t *spec;
    /* Run with subgroups of exactly this size, full ones (VkPipelineShaderStage-
     * RequiredSubgroupSizeCreateInfo; the local size's x must then be a multiple of it). 0 =
     * the device's choice. A power of two between the device's min_subgroup_size and
     * max_subgroup_size, on a context with subgroup size control; else DVK_ERROR_UNSUPPORTED. */
    uint32_t required_subgroup_size;
} dvk_kernel_desc;

/* The kernel for desc, built on first use (DVK_ERROR_VULKAN if the driver rejects it). It lives
 * as long as the context. Thread-safe. */
DVK_API dvk_status dvk_kernel_get(dvk_context *context, const dvk_kernel_desc *desc,
                                  const dvk_kernel **out_kernel);

typedef struct dvk_dispatch_desc {
    const dvk_kernel *kernel;
    /* The tensor bound at binding i (its whole range); NULL binds a small dummy buffer the
     * kernel must not access (set its write_mask bit when the binding is not readonly in the
     * shader, so the dummy's accesses are ordered like a real tensor's). */
    const dvk_tensor *tensors[DVK_MAX_KERNEL_BINDINGS];
    /* Bit i set: the kernel writes binding i. deltavk records a barrier before a dispatch that
     * reads what earlier work of the recording wrote, or writes what it read or wrote. */
    uint32_t write_mask;
    const void *push; /* the kernel's push_size bytes (NULL when push_size is 0) */
    /* Workgroup counts: groups[1] and groups[2] of 0 mean 1; groups[0] = 0 records nothing.
     * Counts above the device's maxComputeWorkGroupCount are DVK_ERROR_LIMIT_EXCEEDED. */
    uint32_t groups[3];
} dvk_dispatch_desc;

DVK_API dvk_status dvk_cmd_dispatch(dvk_cmd *cmd, const dvk_dispatch_desc *desc);

/* Records `message` (printf format) as this thread's dvk_last_error() and returns `status`:
 * for code built on deltavk (its nn and models levels, a caller's layers) to report errors
 * the way deltavk does. */
DVK_API dvk_status dvk_set_error(dvk_status status, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ---------------------------------------------------------------------------------------------
 * Operators
 * ------------------------------------------------------------------------------------------- */

/*
 * Aliasing. The kernels read the inputs while they write the outputs, in parallel and (in the
 * chunked form) over several passes, so an output must not share memory with an input or with
 * another output. Every operator below checks it: an output (o, final_state, linear
 * attention's final_z, Infini-attention's final_memory and final_z, rope's y) that overlaps
 * an input (q (r), k, v, beta, g (gk, w), a, b, kappa, alpha, A_log, dt_bias, done, gate,
 * the initial states and normalisers, memory, memory_z, rope's x) or another output is
 * DVK_ERROR_INVALID_ARGUMENT, the message naming both. The exceptions, written beside each
 * operator, are the in-place forms, allowed only as the very same bytes: final_state may be
 * initial_state, final_z initial_z, final_memory memory and final_z memory_z (the state
 * carried in place), and rope's y may be x. Inputs may share memory with each other.
 */

typedef enum dvk_mode {
    DVK_MODE_DEFAULT = 0,   /* the library chooses */
    DVK_MODE_RECURRENT = 1, /* token by token: decode (T = 1) and short sequences */
    DVK_MODE_CHUNK = 2,     /* chunked (WY form): long prefill */
} dvk_mode;

/*
 * Delta rule (DeltaNet) and gated delta rule (Gated DeltaNet, Qwen3-Next).
 * For every sequence n and value head h, with S the [K, V] state:
 *
 *     S'  = exp(g_t) S_{t−1}                 (gated rule only; g_t is a log decay, <= 0)
 *     u_t = beta_t (v_t − S'ᵀ k_t)
 *     S_t = S' + k_t u_tᵀ
 *     o_t = S_tᵀ (scale · q_t)
 *
 * Shapes:  q, k [B,T,H,K];  v, o [B,T,HV,V];  beta, g [B,T,HV];
 *          initial_state, final_state [N,HV,K,V] fp32, N = B (or num_seqs, see cu_seqlens).
 *          HV is a multiple of H (grouped value heads: value head j reads q/k head j/(HV/H));
 *          HV = H is the usual case.
 * Limits:  1 <= K, V <= 256; any T >= 1 (T = 1 is the decode step).
 * Dtypes:  q, k, v, beta, g and o share one dtype, fp32 or fp16 (fp16 needs
 *          dvk_device_info.fp16_storage); arithmetic and the state are fp32.
 * Options:
 *   scale          0 = K^-0.5.
 *   initial_state  NULL = zeros. final_state NULL = not stored. They may be the same tensor:
 *                  the state is then updated in place, which is how a stream of calls
 *                  (prefill, then decode steps) carries it.
 *   cu_seqlens     variable-length batch (fla's convention): B must be 1 and the T axis packs
 *                  num_seqs sequences, sequence i spanning tokens [cu_seqlens[i],
 *                  cu_seqlens[i+1]); cu_seqlens[0] = 0, non-decreasing, cu_seqlens[num_seqs] = T.
 *                  Host memory, read when the call records. States are [num_seqs,HV,K,V].
 *   l2norm_qk      normalise q and k inside the kernel: x / sqrt(Σx² + 1e-6) (fla's
 *                  use_qk_l2norm_in_kernel).
 *   mode           DVK_MODE_RECURRENT: token by token; reads and writes the state once, the
 *                  form for decode and short sequences. When every sequence is one token
 *                  (T = 1, no cu_seqlens) and V % 4 == 0, a single-pass decode kernel runs
 *                  on GPUs. On a CPU device (lavapipe), a kernel laid out for the CPU runs
 *                  instead, for every T: one subgroup per workgroup, each lane holding a
 *                  value column of the state in registers, no shared memory and no
 *                  barriers (the same results; not under the small-device profile, which
 *                  plans for a mobile GPU). The same holds for KDA, DPLR, RWKV-7 and
 *                  linear attention.
 *                  DVK_MODE_CHUNK: the chunked (WY) form (docs/design.md) in three passes
 *                  (intra-chunk solve in parallel over chunks; the state carried
 *                  sequentially over chunks; outputs in parallel over chunks), the form
 *                  for prefill on GPUs. fp16 problems run on tensor cores (fp16 products,
 *                  fp32 accumulation; W, U and the per-chunk states stored in fp16) when K
 *                  and V are multiples of 16, chunk_size is 0 or 64, the context has a
 *                  cooperative-matrix path (dvk_device_info.cooperative_matrix_path: NV or
 *                  KHR, 16x16x16 fp16 blocks, shaderFloat16, vulkanMemoryModel, subgroups of
 *                  32) and 256 invocations per workgroup; everything else runs on fp32 FMA
 *                  kernels.
 *                  Scratch memory, held by the dvk_cmd until it is reset or destroyed: W
 *                  [B,T,HV,K] and U [B,T,HV,V] in the storage dtype, the state at every chunk
 *                  start ([chunks,HV,K,V], storage dtype), the cumulative gate [B,T,HV] fp32
 *                  (gated rule), and with l2norm_qk copies of q and k. The device's
 *                  maxStorageBufferRange bounds each: LIMIT_EXCEEDED past it.
 *                  DVK_MODE_DEFAULT: chunked when sequences are longer than 64 tokens on a
 *                  GPU; recurrent otherwise, and always on a CPU device (lavapipe).
 *                  Both modes split long sequences into several dispatches (at most 1024
 *                  tokens or 64 chunks each), the state carried through memory between them,
 *                  so no dispatch runs long enough to trip a driver's watchdog.
 *   chunk_size     16, 32 or 64 tokens for DVK_MODE_CHUNK (0 = chosen from the device's
 *                  shared memory: 64 on desktop GPUs and lavapipe, 32 or 16 on small ones).
 *                  A size the device cannot hold gives DVK_ERROR_LIMIT_EXCEEDED.
 * Accuracy: fp32 storage matches a double-precision recurrence to ~1e-6 relative RMS error;
 * fp16 storage to ~5e-4 (recurrent: the inputs' rounding only).
 * Stability: keys should be L2-normalised and beta in (0, 2) for the recurrence to stay
 * bounded; the library computes whatever it is given and hides nothing.
 */
typedef struct dvk_delta_rule_desc {
    const dvk_tensor *q;
    const dvk_tensor *k;
    const dvk_tensor *v;
    const dvk_tensor *beta;
    const dvk_tensor *g; /* dvk_gated_delta_rule only (must be NULL for dvk_delta_rule) */
    dvk_tensor *o;
    const dvk_tensor *initial_state;
    dvk_tensor *final_state;
    float scale;
    dvk_mode mode;
    const int32_t *cu_seqlens;
    uint32_t num_seqs;
    bool l2norm_qk;
    uint32_t chunk_size;
} dvk_delta_rule_desc;

DVK_API dvk_status dvk_delta_rule(dvk_cmd *cmd, const dvk_delta_rule_desc *desc);
DVK_API dvk_status dvk_gated_delta_rule(dvk_cmd *cmd, const dvk_delta_rule_desc *desc);

/*
 * Kimi Delta Attention (KDA, Kimi Linear): the gated delta rule with a decay per key channel.
 * For every sequence n and value head h, with S the [K, V] state and g_t a vector of K log
 * decays:
 *
 *     S'  = Diag(exp(g_t)) S_{t−1}           (row i, key channel i, decays by exp(g_t[i]))
 *     u_t = beta_t (v_t − S'ᵀ k_t)
 *     S_t = S' + k_t u_tᵀ
 *     o_t = S_tᵀ (scale · q_t)
 *
 * Shapes:  q, k [B,T,H,K];  v, o [B,T,HV,V];  g [B,T,HV,K];  beta [B,T,HV];
 *          initial_state, final_state [N,HV,K,V] fp32 (as dvk_delta_rule).
 * Limits, dtypes, scale, initial_state/final_state, cu_seqlens, l2norm_qk: as dvk_delta_rule
 *          (q, k, v, g, beta and o share one dtype; A_log and dt_bias are fp32).
 * Gate computed in the kernel (Kimi Linear's form, fla's use_gate_in_kernel):
 *   gate_in_kernel  g holds the raw gate; the kernel uses
 *                   g' = −exp(A_log[h]) · softplus(g + dt_bias[h, i])
 *                   with softplus(x) = log(1 + exp(x)), and x for x > 20 (PyTorch's threshold).
 *   A_log           [HV] fp32, required with gate_in_kernel (NULL otherwise).
 *   dt_bias         [HV, K] or [HV*K] fp32, optional with gate_in_kernel (NULL = 0).
 *   beta_sigmoid    beta holds logits; the kernel uses sigmoid(beta).
 * Modes:
 *   DVK_MODE_RECURRENT  token by token, any gate values (the state is exact up to fp32 over-
 *                   and underflow). When every sequence is one token (T = 1, no cu_seqlens)
 *                   and V % 4 == 0, a single-pass decode kernel runs.
 *   DVK_MODE_CHUNK  the chunked WY form (docs/design.md): a per-channel cumulative gate
 *                   pass, then intra-chunk solve, state, output. fp16 problems run the three
 *                   stages on tensor cores (fp16 products, fp32 accumulation and solve; W, K̂
 *                   and the operands h, P and U' rounded to fp16, so states and Gram entries
 *                   must stay within fp16's range) where the delta rule's do (see
 *                   dvk_delta_rule) with chunk_size 0 or 64, and the output stage when V is
 *                   also a multiple of 32 (value tiles of up to 128 that fit); the state stage needs K <= 128 in 48 KiB of
 *                   shared memory, larger K runs prepare and state on fp32 FMA kernels.
 *                   Everything else runs on fp32 FMA kernels.
 *                   Per-channel decays enter only as exp(x) with x <= 0: pairs of tokens in
 *                   different sub-chunks of 16 meet through the decay at a sub-chunk boundary,
 *                   pairs inside one sub-chunk through their exact difference, so nothing
 *                   overflows however strong the decay (tested from g = −20 per token to
 *                   −1e-4). Supported gate range in chunk mode: finite g <= 0, which
 *                   gate_in_kernel always produces. The decays are differences of cumulative
 *                   sums over a chunk, so a gate of −inf (a reset) or of huge magnitude loses
 *                   them (NaN, or a relative error of ~6e-8 times the chunk's sum of g): use
 *                   recurrent mode, or split the sequence, for resets. Positive g (a growing
 *                   state) is exact only in recurrent mode: in chunk mode exponents up to the
 *                   sum of g over a chunk appear, and the result overflows once that sum passes
 *                   ~88. The library cannot read device data when it records, so it does not
 *                   check; choose recurrent mode for gates that may be positive.
 *                   Scratch, held by the dvk_cmd: the cumulative gate [B,T,HV,K], W [B,T,HV,K],
 *                   U [B,T,HV,V] and the per-chunk states [chunks,HV,K,V], all fp32 (on
 *                   tensor cores W and K̂ [B,T,HV,K] in fp16).
 *   DVK_MODE_DEFAULT   recurrent on CPU devices and for sequences of at most 64 tokens; on
 *                   GPUs, chunked when its prepare and state stages run on tensor cores, or
 *                   when fewer than 64 (sequence, value head) pairs share the call (the
 *                   recurrent kernel then lacks parallelism), recurrent otherwise
 *                   (docs/performance.md has the measurements behind this choice).
 *   chunk_size      16, 32 or 64 (0 = the largest whose kernels fit the device's shared
 *                   memory: 64 on desktop GPUs, 32 or 16 on lavapipe and small devices).
 * Accuracy: fp32 inputs match a double-precision recurrence to ~1e-6 relative RMS; fp16 inputs
 * to ~5e-4 (the inputs' rounding).
 */
typedef struct dvk_kda_desc {
    const dvk_tensor *q;
    const dvk_tensor *k;
    const dvk_tensor *v;
    const dvk_tensor *g;
    const dvk_tensor *beta;
    dvk_tensor *o;
    const dvk_tensor *initial_state;
    dvk_tensor *final_state;
    float scale;
    dvk_mode mode;
    const int32_t *cu_seqlens;
    uint32_t num_seqs;
    bool l2norm_qk;
    uint32_t chunk_size;
    bool gate_in_kernel;
    const dvk_tensor *A_log;
    const dvk_tensor *dt_bias;
    bool beta_sigmoid;
} dvk_kda_desc;

DVK_API dvk_status dvk_kda(dvk_cmd *cmd, const dvk_kda_desc *desc);

/* Which axis of the state a generalized delta rule reads. */
typedef enum dvk_readout {
    DVK_READOUT_VALUE = 0, /* o_t = S_tᵀ (scale · q_t): q has K entries, o has V (fla, RWKV-7) */
    DVK_READOUT_KEY = 1,   /* o_t = S_t (scale · q_t): q has V entries, o has K (Memodo) */
} dvk_readout;

/*
 * Generalized delta rule, diagonal plus low rank (fla's chunk_dplr_delta_rule; RWKV-7; the
 * Memodo head). For every sequence n and head h, with S the [K, V] state:
 *
 *     S_t = Diag(exp(gk_t)) S_{t−1} + b_t (a_tᵀ S_{t−1}) + k_t v_tᵀ
 *     o_t = S_tᵀ (scale · q_t)       (DVK_READOUT_VALUE)
 *     o_t = S_t  (scale · q_t)       (DVK_READOUT_KEY)
 *
 * The low-rank term reads the state before the decay. The delta rule is the case a = −beta k,
 * b = k, v -> beta v, gk = 0. Nothing bounds the transition: with |a|, |b| large the state
 * grows, and the library computes it faithfully in fp32 (inf once it overflows) — it clamps
 * nothing.
 *
 * Shapes:  k, a, b, gk [B,T,H,K];  v [B,T,H,V];  q [B,T,H,K] and o [B,T,H,V] (VALUE), or
 *          q [B,T,H,V] and o [B,T,H,K] (KEY);  initial_state, final_state [N,H,K,V] fp32 in
 *          the key-major convention (row = key).
 * Memodo's DeltanetHead (its own F x F state M, out = Mᵀ s) is this rule with K = V = F,
 * S = Mᵀ (so initial_state = the transpose of its learned `initial`), k = d, v = c, q = s,
 * gk = logsigmoid(i), a = a, b = b / sqrt(F), scale = 1, and DVK_READOUT_KEY.
 * Limits:  1 <= K, V <= 256, any T. Dtypes: q, k, v, a, b, gk and o share fp32 or fp16.
 * Options: scale (0 = K^-0.5, fla's default), initial_state / final_state, cu_seqlens and
 *          num_seqs, mode and chunk_size: as dvk_kda (its fp32 FMA kernels, the same gate
 *          range: chunk mode needs gk <= 0; the tensor-core stages are dvk_rwkv7's only,
 *          because they round the state to fp16 and a general transition may grow it past
 *          fp16's range). With
 *          DVK_READOUT_KEY the chunked output pass is a plainer kernel, and recurrent mode
 *          sums the output over value tiles in a second pass when V is split over several
 *          workgroups.
 *          Chunk-mode scratch: the cumulative gate [B,T,H,K], W [B,T,H,K], the corrected
 *          low-rank reads [B,T,H,V] and the per-chunk states [chunks,H,K,V], all fp32.
 */
typedef struct dvk_dplr_desc {
    const dvk_tensor *q;
    const dvk_tensor *k;
    const dvk_tensor *v;
    const dvk_tensor *a;
    const dvk_tensor *b;
    const dvk_tensor *gk;
    dvk_tensor *o;
    const dvk_tensor *initial_state;
    dvk_tensor *final_state;
    float scale;
    dvk_mode mode;
    const int32_t *cu_seqlens;
    uint32_t num_seqs;
    uint32_t chunk_size;
    dvk_readout readout;
} dvk_dplr_desc;

DVK_API dvk_status dvk_dplr(dvk_cmd *cmd, const dvk_dplr_desc *desc);

/*
 * RWKV-7 ("Goose") time mixing: dvk_dplr with RWKV-7's inputs, as its reference kernel is
 * called (r, w, k, v, −kk, kk·a):
 *
 *     q = r,  gk = w,  a = −kappa,  b = kappa ⊙ alpha,  o = S_tᵀ (scale · r_t)
 *
 * r, w, k, kappa, alpha [B,T,H,K]; v, o [B,T,H,V]; w is the log decay (RWKV-7 forms it as
 * −exp(−0.5) · sigmoid(w_raw), in (−0.6065, 0)); kappa is RWKV-7's L2-normalised key "kk";
 * alpha its in-context learning rate "a". a and b are formed inside the kernels. scale:
 * 0 = 1 (RWKV-7 and fla's chunk_rwkv7 use 1). Everything else as dvk_dplr with
 * DVK_READOUT_VALUE, except that fp16 problems in chunk mode run on tensor cores under
 * dvk_kda's conditions (chunks of 64, K and V multiples of 16, the output stage when V is a
 * multiple of 32, prepare and state when K <= 128): fp16 products with fp32 accumulation
 * and solve, W, K̂, B̂ = exp(G_C − G) ⊙ b, L A_ak and the operands h, P and R rounded to fp16
 * (RWKV-7's state stays bounded), and DVK_MODE_DEFAULT picks chunk mode there. Extra
 * chunk-mode scratch on tensor cores: K̂ and B̂ [B,T,H,K] fp16 (W fp16 instead of fp32).
 */
typedef struct dvk_rwkv7_desc {
    const dvk_tensor *r;
    const dvk_tensor *w;
    const dvk_tensor *k;
    const dvk_tensor *v;
    const dvk_tensor *kappa;
    const dvk_tensor *alpha;
    dvk_tensor *o;
    const dvk_tensor *initial_state;
    dvk_tensor *final_state;
    float scale;
    dvk_mode mode;
    const int32_t *cu_seqlens;
    uint32_t num_seqs;
    uint32_t chunk_size;
} dvk_rwkv7_desc;

DVK_API dvk_status dvk_rwkv7(dvk_cmd *cmd, const dvk_rwkv7_desc *desc);

/* ---- linear attention, softmax attention, rotary embedding, Infini-attention ------------- */

/* The feature map φ applied to q and k inside linear-attention kernels. */
typedef enum dvk_feature_map {
    DVK_FEATURE_IDENTITY = 0, /* φ(x) = x: the caller has applied its own */
    DVK_FEATURE_ELU1 = 1,     /* φ(x) = elu(x) + 1 (Katharopoulos et al.; memorax; Infini) */
} dvk_feature_map;

/*
 * Normalised linear attention (Katharopoulos et al. 2020; memorax's LinearAttentionCell; fla's
 * chunk_linear_attn). For every sequence n and head h, with S the [K, V] state and z the [K]
 * normaliser:
 *
 *     done_t != 0:  S = 0, z = 0             (token t starts a new episode)
 *     S_t = S_{t−1} + φ(k_t) v_tᵀ;   z_t = z_{t−1} + φ(k_t);   q'_t = scale · φ(q_t)
 *     o_t = S_tᵀ q'_t / max(q'_t·z_t, eps)   (normalize, the default form of memorax)
 *     o_t = S_tᵀ q'_t / (q'_t·z_t + eps)     (normalize with eps_add: fla's form, eps 1e-10)
 *     o_t = S_tᵀ q'_t                        (normalize = false)
 *
 * Shapes:  q, k [B,T,H,K];  v, o [B,T,H,V];  done [B,T] (optional; the dtype of q, nonzero =
 *          a new episode starts at that token, memorax's `start`/`done` convention: the state
 *          carried into the token is discarded, initial_state included);
 *          initial_state, final_state [N,H,K,V] fp32;  initial_z, final_z [N,H,K] fp32.
 * Limits:  1 <= K, V <= 256, any T. Dtypes: q, k, v, done and o share fp32 or fp16.
 * Options:
 *   scale          0 = K^-0.5 (fla's default; memorax and Infini-attention use 1).
 *   feature_map    DVK_FEATURE_ELU1 applies φ = elu + 1 to q and k in the kernels.
 *   normalize, eps, eps_add   as above; eps 0 = 1e-6 (memorax); must be >= 0.
 *   initial_state / initial_z  NULL = zeros (each independently); final_state / final_z NULL =
 *                  not stored. Initial and final may be the same tensors (updated in place).
 *                  z is kept whether or not the output is normalised.
 *   cu_seqlens, num_seqs  variable-length batch as dvk_delta_rule (done is then [1,T]).
 *   mode           DVK_MODE_RECURRENT: token by token (decode, short sequences).
 *                  DVK_MODE_CHUNK: two passes: the state through each sequence's chunks (a
 *                  chunk's last `done` empties it), then every chunk's outputs in parallel —
 *                  the state at the chunk's start where no episode began before the token,
 *                  plus the causal products inside the token's episode. fp32 FMA kernels,
 *                  except the output pass of fp16 tensors with K and V multiples of 16 on a
 *                  context with a cooperative-matrix path (NV or KHR: fp16 blocks, subgroups
 *                  of 32, fp16 arithmetic, subgroup arithmetic, the Vulkan memory model, workgroups
 *                  of 256 and enough shared memory): it runs on tensor cores, rounding
 *                  scale·φ(q), φ(k), P = Q'K'ᵀ and the state to fp16 with fp32 sums. Each
 *                  32-row slice of the state, and each chunk's P, is first scaled by a power
 *                  of two that puts its largest magnitude just under 2^15, so states and
 *                  logits beyond fp16's range keep fp16's relative precision for entries
 *                  within ~2^24 of that largest one (smaller ones lose bits as fp16
 *                  subnormals; the denominator is summed from the unrounded P).
 *                  scale·φ(q) and φ(k) must fit fp16.
 *                  Scratch, held by the dvk_cmd: the state and normaliser at every chunk's
 *                  start, [chunks,H,K,V] and [chunks,H,K] fp32, and with done flags each
 *                  chunk's last reset, [chunks] int32.
 *                  DVK_MODE_DEFAULT: as dvk_delta_rule (chunked on GPUs for sequences
 *                  longer than 64 tokens; recurrent on CPU devices).
 *   chunk_size     16, 32 or 64 (0 = 32, or 16 where 32 does not fit the device, or 64
 *                  where neither does).
 * Accuracy: fp32 matches a double-precision recurrence to ~1e-6 relative RMS error; fp16
 *          inputs to ~1e-3 (tested at 5e-3).
 */
typedef struct dvk_linear_attn_desc {
    const dvk_tensor *q;
    const dvk_tensor *k;
    const dvk_tensor *v;
    const dvk_tensor *done;
    dvk_tensor *o;
    const dvk_tensor *initial_state;
    const dvk_tensor *initial_z;
    dvk_tensor *final_state;
    dvk_tensor *final_z;
    float scale;
    dvk_mode mode;
    const int32_t *cu_seqlens;
    uint32_t num_seqs;
    dvk_feature_map feature_map;
    bool normalize;
    float eps;
    bool eps_add;
    uint32_t chunk_size;
} dvk_linear_attn_desc;

DVK_API dvk_status dvk_linear_attn(dvk_cmd *cmd, const dvk_linear_attn_desc *desc);

/*
 * Causal softmax attention inside segments (the local attention of Infini-attention): the
 * sequence is cut into segments of `segment` tokens and each token attends to the tokens of
 * its own segment up to itself:
 *
 *     o_t = Σ_j softmax_j(scale · q_t·k_j) v_j,   j from the start of t's segment to t
 *
 * One pass over the keys with an online softmax (running maximum and sum, rescaled as the
 * maximum grows), so no T x T matrix is ever stored and large logits stay finite.
 * Shapes:  q, k [B,T,H,D];  v, o [B,T,H,DV]. Limits: 1 <= D, DV <= 256; any T and segment.
 * Dtypes:  q, k, v and o share fp32 or fp16; arithmetic is fp32.
 * Options: scale 0 = D^-0.5; segment 0 = the whole sequence (plain causal attention).
 * Work:    T · min(T, segment) / 2 key–query pairs per head: keep segments to a few thousand.
 * Kernels: on a CPU device (lavapipe, not under the small-device profile) a layout for the CPU
 *          runs: one query per SIMD lane with its q and output in registers, no shared memory.
 */
typedef struct dvk_softmax_attn_desc {
    const dvk_tensor *q;
    const dvk_tensor *k;
    const dvk_tensor *v;
    dvk_tensor *o;
    float scale;
    uint32_t segment;
} dvk_softmax_attn_desc;

DVK_API dvk_status dvk_softmax_attn(dvk_cmd *cmd, const dvk_softmax_attn_desc *desc);

/*
 * Rotary position embedding with interleaved pairs (rotary-embedding-torch's convention, used
 * by infini-transformer-pytorch): for the token at position p = offset + t and pair i of the
 * first rotary_dim features, with f_i = theta^(−2i/rotary_dim) (rounded to fp32, as PyTorch
 * computes it) and the angle a = p · f_i:
 *
 *     y[2i]   = scale · (x[2i] cos a − x[2i+1] sin a)
 *     y[2i+1] = scale · (x[2i+1] cos a + x[2i] sin a)
 *
 * and y = scale · x for the features past rotary_dim. The host tabulates the sines and cosines
 * in double (by angle addition: 64 positions and every 64th), so the results do not depend on
 * the driver's sin/cos (which Vulkan lets be loose for large angles); PyTorch rounds the angle
 * to fp32 first, which differs by up to 6e-8 · p radians.
 * Shapes:  x, y [B,T,H,D], the same dtype (fp32 or fp16); y may be x (in place).
 * Options: rotary_dim even, <= D (0 = D, or D − 1 when D is odd); theta 0 = 10000; offset,
 *          the position of token 0 (>= 0, and offset + T <= DVK_ROPE_MAX_POSITIONS, else
 *          DVK_ERROR_INVALID_ARGUMENT); scale 0 = 1 (Infini-attention scales q by D^-0.5 here).
 */
#define DVK_ROPE_MAX_POSITIONS (1u << 30) /* positions 0 .. 2^30 − 1 */
typedef struct dvk_rope_desc {
    const dvk_tensor *x;
    dvk_tensor *y;
    uint32_t rotary_dim;
    float theta;
    int32_t offset;
    float scale;
} dvk_rope_desc;

DVK_API dvk_status dvk_rope(dvk_cmd *cmd, const dvk_rope_desc *desc);

/*
 * One segment of Infini-attention (Munkhdalai et al. 2024, as infini-transformer-pytorch
 * 0.0.2's CausalAttention computes it after its projections). Each batch row is one segment of
 * T tokens; for every head h, with (M, z) the compressive memory ([D, DV] and [D]):
 *
 *     q' = rope(scale · q),  k' = rope(k)   (positions 0..T−1, every segment; or no rotation)
 *     A  = causal softmax attention of q', k', v inside the segment (logits q'·k')
 *     with a past memory:   r_t = φ(q'_t)ᵀ M / max(φ(q'_t)·z, eps)
 *                           o_t = σ(gate_h) A_t + (1 − σ(gate_h)) r_t
 *     without one:          o_t = A_t
 *     delta_rule (with a past memory):  v_t ← v_t − φ(k'_t)ᵀ M / max(φ(k'_t)·z, eps)
 *     M ← M + Σ_t φ(k'_t) v_tᵀ,   z ← z + Σ_t φ(k'_t)          (φ = elu + 1)
 *
 * A long sequence runs segment by segment, the memory carried from call to call (pass the
 * same tensors as memory and final_memory to update in place).
 * Shapes:  q, k [B,T,H,D];  v, o [B,T,H,DV];  gate [H] fp32 (logits; the package initialises
 *          them to 10, which gives the memory a weight of 4.5e-5);
 *          memory, final_memory [B,H,D,DV] fp32 (key-major);  memory_z, final_z [B,H,D] fp32.
 * Limits:  1 <= D, DV <= 256 (D even with rope). Dtypes: q, k, v, o share fp32 or fp16.
 * Options: memory / memory_z: both NULL = no past memory (the first segment), else both set.
 *          final_memory / final_z: both set, or both NULL (not stored).
 *          scale 0 = D^-0.5; rope and rope_theta (0 = 10000); eps 0 = 1e-10 (the package's
 *          clamp); delta_rule.
 * Scratch, held by the dvk_cmd: the rotated q and k in the storage dtype, and with the delta
 *          rule the corrected v.
 * Kernels: on a CPU device (lavapipe, not under the small-device profile) the local attention,
 *          the retrieval and the memory update run layouts for the CPU (no shared memory).
 */
typedef struct dvk_infini_attn_desc {
    const dvk_tensor *q;
    const dvk_tensor *k;
    const dvk_tensor *v;
    const dvk_tensor *gate;
    dvk_tensor *o;
    const dvk_tensor *memory;
    const dvk_tensor *memory_z;
    dvk_tensor *final_memory;
    dvk_tensor *final_z;
    float scale;
    bool rope;
    float rope_theta;
    bool delta_rule;
    float eps;
} dvk_infini_attn_desc;

DVK_API dvk_status dvk_infini_attn(dvk_cmd *cmd, const dvk_infini_attn_desc *desc);

#ifdef __cplusplus
}
#endif

#endif /* DELTAVK_H */
