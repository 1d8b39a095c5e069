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
            "           tensor_alignment, timestamps, timestamp_period_ns\n");
}

static const char *yes_no(bool b) { return b ? "yes" : "no"; }
static const char *json_bool(bool b) { return b ? "true" : "false"; }

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
    printf("   cooperative matrix KHR %s, NV %s, timestamps %s (%.3g ns/tick)\n",
           yes_no(d->cooperative_matrix_khr), yes_no(d->cooperative_matrix_nv),
           yes_no(d->timestamps), d->timestamp_period_ns);
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
           "\"timestamp_period_ns\": %g}",
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
