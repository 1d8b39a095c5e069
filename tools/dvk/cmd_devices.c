/* dvk devices: the Vulkan devices deltavk can see and what each can do. */
#include "dvk_tool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *type_name(dvk_device_type t)
{
    switch (t) {
    case DVK_DEVICE_TYPE_DISCRETE_GPU:
        return "discrete GPU";
    case DVK_DEVICE_TYPE_INTEGRATED_GPU:
        return "integrated GPU";
    case DVK_DEVICE_TYPE_VIRTUAL_GPU:
        return "virtual GPU";
    case DVK_DEVICE_TYPE_CPU:
        return "CPU";
    default:
        return "other";
    }
}

void tool_help_devices(FILE *f)
{
    fprintf(f,
            "usage: dvk devices [--json]\n"
            "\n"
            "Lists the Vulkan devices deltavk can see (a fresh instance's, in the order of\n"
            "vkEnumeratePhysicalDevices: the index --device and DVK_DEVICE take) and what each\n"
            "can do. Exit status 1 when there are none.\n"
            "\n"
            "options:\n"
            "  --json   one JSON object on stdout: {\"devices\": [...]}, each device an object\n"
            "           with the fields of dvk_device_info (deltavk.h): index, name, type,\n"
            "           vendor_id, device_id, api_version (\"1.3.0\"), driver_name, driver_info,\n"
            "           subgroup_size, min_subgroup_size, max_subgroup_size,\n"
            "           subgroup_arithmetic, subgroup_shuffle, max_shared_memory,\n"
            "           max_workgroup_invocations, max_workgroup_size, max_workgroup_count,\n"
            "           max_storage_buffer_range, device_local_bytes, unified_memory,\n"
            "           fp16_storage, fp16_arithmetic, cooperative_matrix_khr,\n"
            "           cooperative_matrix_nv, cooperative_matrix_nv_f16, vulkan_memory_model,\n"
            "           tensor_alignment, timestamps, timestamp_period_ns,\n"
            "           cooperative_matrix_khr_f16, cooperative_matrix_path (\"khr\", \"nv\" or\n"
            "           \"none\": DVK_COOPMAT chooses), cooperative_matrix_subgroup_size,\n"
            "           cooperative_matrix_shapes (each {extension, m, n, k, a, b, c, result,\n"
            "           scope, saturating}), tensor_core_operators (what runs on them)\n"
            "\n"
            "The text form lists the cooperative-matrix shapes each extension offers and which\n"
            "operators run on tensor cores.\n");
}

static const char *yes_no(bool b) { return b ? "yes" : "no"; }
static const char *json_bool(bool b) { return b ? "true" : "false"; }

static const char *path_name(dvk_coopmat_path p)
{
    return p == DVK_COOPMAT_KHR ? "khr" : p == DVK_COOPMAT_NV ? "nv" : "none";
}

/* VkComponentTypeKHR values (and the bf16 / fp8 ones of newer extensions). */
static const char *component_name(uint32_t t, char *buf, size_t n)
{
    static const char *const names[] = {"f16", "f32", "f64", "s8", "s16", "s32",
                                        "s64", "u8",  "u16", "u32", "u64"};
    if (t < sizeof names / sizeof names[0])
        return names[t];
    if (t == 1000141000u)
        return "bf16";
    if (t == 1000491002u)
        return "e4m3";
    if (t == 1000491003u)
        return "e5m2";
    snprintf(buf, n, "type%u", t);
    return buf;
}

static const char *scope_name(uint32_t s)
{
    return s == 3 ? "subgroup" : s == 2 ? "workgroup" : s == 1 ? "device" : "queue family";
}

/* The operators whose kernels run on tensor cores when the device has a path (fp16 tensors,
 * K and V multiples of 16): the rest use FMA kernels (or, on a CPU, the CPU layouts). */
static const char *const tensor_core_ops[] = {
    "delta_rule (chunked)", "gated_delta_rule (chunked)", "kda (chunked)", "rwkv7 (chunked)",
    "dplr (chunked)", "linear_attn (chunked output)", "linear (nn)"};
#define N_TENSOR_CORE_OPS (sizeof tensor_core_ops / sizeof tensor_core_ops[0])

static void print_text(const dvk_device_info *d)
{
    printf("%u: %s\n", d->index, d->name);
    printf("   type %s, vendor 0x%04x, device 0x%04x, Vulkan %u.%u.%u, driver %s %s\n",
           type_name(d->type), d->vendor_id, d->device_id, VK_API_VERSION_MAJOR(d->api_version),
           VK_API_VERSION_MINOR(d->api_version), VK_API_VERSION_PATCH(d->api_version),
           d->driver_name, d->driver_info);
    printf("   subgroup %u (min %u, max %u), subgroup arithmetic %s, shuffle %s\n",
           d->subgroup_size, d->min_subgroup_size, d->max_subgroup_size,
           yes_no(d->subgroup_arithmetic), yes_no(d->subgroup_shuffle));
    printf("   shared memory %u B, workgroup %u invocations, storage buffer range %llu B\n",
           d->max_shared_memory, d->max_workgroup_invocations,
           (unsigned long long)d->max_storage_buffer_range);
    printf("   device-local memory %.1f GiB%s, fp16 storage %s, fp16 arithmetic %s\n",
           (double)d->device_local_bytes / (1024.0 * 1024.0 * 1024.0),
           d->unified_memory ? " (unified)" : "", yes_no(d->fp16_storage),
           yes_no(d->fp16_arithmetic));
    printf("   cooperative matrix KHR %s (fp16 16x16x16 %s), NV %s (fp16 16x16x16 %s), "
           "timestamps %s (%.3g ns/tick)\n",
           yes_no(d->cooperative_matrix_khr), yes_no(d->cooperative_matrix_khr_f16),
           yes_no(d->cooperative_matrix_nv), yes_no(d->cooperative_matrix_nv_f16),
           yes_no(d->timestamps), d->timestamp_period_ns);
    for (uint32_t i = 0; i < d->cooperative_matrix_shape_count; ++i) {
        const dvk_coopmat_shape *m = &d->cooperative_matrix_shapes[i];
        char b[4][16];
        printf("   %s shape %ux%ux%u %s x %s + %s -> %s, %s%s\n",
               m->extension == DVK_COOPMAT_KHR ? "KHR" : "NV ", m->m, m->n, m->k,
               component_name(m->a_type, b[0], 16), component_name(m->b_type, b[1], 16),
               component_name(m->c_type, b[2], 16), component_name(m->result_type, b[3], 16),
               scope_name(m->scope), m->saturating ? ", saturating" : "");
    }
    if (d->cooperative_matrix_path == DVK_COOPMAT_NONE) {
        printf("   tensor-core kernels: none (FMA kernels for every operator)\n");
        return;
    }
    printf("   tensor-core kernels on %s%s, for fp16 tensors in:\n",
           d->cooperative_matrix_path == DVK_COOPMAT_KHR ? "VK_KHR_cooperative_matrix"
                                                         : "VK_NV_cooperative_matrix",
           d->cooperative_matrix_subgroup_size ? " (subgroups of 32 required)" : "");
    for (size_t i = 0; i < N_TENSOR_CORE_OPS; ++i)
        printf("%s%s", i ? ", " : "     ", tensor_core_ops[i]);
    printf("\n     (every other operator and dtype: FMA kernels)\n");
}

static void print_json(const dvk_device_info *d)
{
    printf("{\"index\": %u, \"name\": ", d->index);
    tool_json_string(stdout, d->name);
    printf(", \"type\": \"%s\", \"vendor_id\": %u, \"device_id\": %u, "
           "\"api_version\": \"%u.%u.%u\", \"driver_name\": ",
           type_name(d->type), d->vendor_id, d->device_id, VK_API_VERSION_MAJOR(d->api_version),
           VK_API_VERSION_MINOR(d->api_version), VK_API_VERSION_PATCH(d->api_version));
    tool_json_string(stdout, d->driver_name);
    printf(", \"driver_info\": ");
    tool_json_string(stdout, d->driver_info);
    printf(", \"subgroup_size\": %u, \"min_subgroup_size\": %u, \"max_subgroup_size\": %u, "
           "\"subgroup_arithmetic\": %s, \"subgroup_shuffle\": %s, \"max_shared_memory\": %u, "
           "\"max_workgroup_invocations\": %u, \"max_workgroup_size\": [%u, %u, %u], "
           "\"max_workgroup_count\": [%u, %u, %u], \"max_storage_buffer_range\": %llu, "
           "\"device_local_bytes\": %llu, \"unified_memory\": %s, \"fp16_storage\": %s, "
           "\"fp16_arithmetic\": %s, \"cooperative_matrix_khr\": %s, "
           "\"cooperative_matrix_nv\": %s, \"cooperative_matrix_nv_f16\": %s, "
           "\"vulkan_memory_model\": %s, \"tensor_alignment\": %llu, \"timestamps\": %s, "
           "\"timestamp_period_ns\": %g",
           d->subgroup_size, d->min_subgroup_size, d->max_subgroup_size,
           json_bool(d->subgroup_arithmetic), json_bool(d->subgroup_shuffle),
           d->max_shared_memory, d->max_workgroup_invocations, d->max_workgroup_size[0],
           d->max_workgroup_size[1], d->max_workgroup_size[2], d->max_workgroup_count[0],
           d->max_workgroup_count[1], d->max_workgroup_count[2],
           (unsigned long long)d->max_storage_buffer_range,
           (unsigned long long)d->device_local_bytes, json_bool(d->unified_memory),
           json_bool(d->fp16_storage), json_bool(d->fp16_arithmetic),
           json_bool(d->cooperative_matrix_khr), json_bool(d->cooperative_matrix_nv),
           json_bool(d->cooperative_matrix_nv_f16), json_bool(d->vulkan_memory_model),
           (unsigned long long)d->tensor_alignment, json_bool(d->timestamps),
           d->timestamp_period_ns);
    printf(", \"cooperative_matrix_khr_f16\": %s, \"cooperative_matrix_path\": \"%s\", "
           "\"cooperative_matrix_subgroup_size\": %u, \"cooperative_matrix_shapes\": [",
           json_bool(d->cooperative_matrix_khr_f16), path_name(d->cooperative_matrix_path),
           d->cooperative_matrix_subgroup_size);
    for (uint32_t i = 0; i < d->cooperative_matrix_shape_count; ++i) {
        const dvk_coopmat_shape *m = &d->cooperative_matrix_shapes[i];
        char b[4][16];
        printf("%s{\"extension\": \"%s\", \"m\": %u, \"n\": %u, \"k\": %u, \"a\": \"%s\", "
               "\"b\": \"%s\", \"c\": \"%s\", \"result\": \"%s\", \"scope\": \"%s\", "
               "\"saturating\": %s}",
               i ? ", " : "", path_name(m->extension), m->m, m->n, m->k,
               component_name(m->a_type, b[0], 16), component_name(m->b_type, b[1], 16),
               component_name(m->c_type, b[2], 16), component_name(m->result_type, b[3], 16),
               scope_name(m->scope), json_bool(m->saturating));
    }
    printf("], \"tensor_core_operators\": [");
    for (size_t i = 0; d->cooperative_matrix_path != DVK_COOPMAT_NONE && i < N_TENSOR_CORE_OPS;
         ++i)
        printf("%s\"%s\"", i ? ", " : "", tensor_core_ops[i]);
    printf("]}");
}

int cmd_devices(int argc, char **argv)
{
    bool json = false;
    for (int i = 2; i < argc; ++i) {
        if (tool_is_help(argv[i])) {
            tool_help_devices(stdout);
            return TOOL_OK;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else {
            fprintf(stderr, "dvk: devices: unexpected argument %s\n", argv[i]);
            tool_help_devices(stderr);
            return TOOL_USAGE;
        }
    }
    uint32_t count = 0;
    dvk_status st = dvk_enumerate_devices(NULL, &count);
    if (st != DVK_SUCCESS)
        return tool_fail_status("cannot list devices", st);
    dvk_device_info *infos = calloc(count ? count : 1, sizeof *infos);
    if (!infos)
        return TOOL_FAIL;
    if (count)
        st = dvk_enumerate_devices(infos, &count);
    if (st != DVK_SUCCESS) {
        free(infos);
        return tool_fail_status("cannot list devices", st);
    }
    if (json)
        printf("{\"devices\": [");
    else if (count == 0)
        printf("no Vulkan devices\n");
    for (uint32_t i = 0; i < count; ++i) {
        if (json) {
            fputs(i ? ", " : "", stdout);
            print_json(&infos[i]);
        } else {
            print_text(&infos[i]);
        }
    }
    if (json)
        printf("]}\n");
    free(infos);
    return count ? TOOL_OK : TOOL_FAIL;
}
