/* dvk devices: the Vulkan devices deltavk can see and what each can do. */
#include "dvk_tool.h"

#include <stdio.h>
#include <stdlib.h>

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

int cmd_devices(int argc, char **argv)
{
    (void)argv;
    if (argc > 2) {
        fprintf(stderr, "usage: dvk devices\n");
        return TOOL_USAGE;
    }
    uint32_t count = 0;
    dvk_status st = dvk_enumerate_devices(NULL, &count);
    if (st != DVK_SUCCESS)
        return tool_fail_status("cannot list devices", st);
    if (count == 0) {
        printf("no Vulkan devices\n");
        return TOOL_FAIL;
    }
    dvk_device_info *infos = calloc(count, sizeof *infos);
    if (!infos)
        return TOOL_FAIL;
    st = dvk_enumerate_devices(infos, &count);
    if (st != DVK_SUCCESS) {
        free(infos);
        return tool_fail_status("cannot list devices", st);
    }
    for (uint32_t i = 0; i < count; ++i) {
        const dvk_device_info *d = &infos[i];
        printf("%u: %s\n", d->index, d->name);
        printf("   type %s, vendor 0x%04x, device 0x%04x, Vulkan %u.%u.%u, driver %s %s\n",
               type_name(d->type), d->vendor_id, d->device_id, VK_API_VERSION_MAJOR(d->api_version),
               VK_API_VERSION_MINOR(d->api_version), VK_API_VERSION_PATCH(d->api_version),
               d->driver_name, d->driver_info);
        printf("   subgroup %u (min %u, max %u), subgroup arithmetic %s, shuffle %s\n",
               d->subgroup_size, d->min_subgroup_size, d->max_subgroup_size,
               d->subgroup_arithmetic ? "yes" : "no", d->subgroup_shuffle ? "yes" : "no");
        printf("   shared memory %u B, workgroup %u invocations, storage buffer range %llu B\n",
               d->max_shared_memory, d->max_workgroup_invocations,
               (unsigned long long)d->max_storage_buffer_range);
        printf("   device-local memory %.1f GiB%s, fp16 storage %s, fp16 arithmetic %s\n",
               (double)d->device_local_bytes / (1024.0 * 1024.0 * 1024.0),
               d->unified_memory ? " (unified)" : "", d->fp16_storage ? "yes" : "no",
               d->fp16_arithmetic ? "yes" : "no");
        printf("   cooperative matrix KHR %s, NV %s, timestamps %s (%.3g ns/tick)\n",
               d->cooperative_matrix_khr ? "yes" : "no", d->cooperative_matrix_nv ? "yes" : "no",
               d->timestamps ? "yes" : "no", d->timestamp_period_ns);
    }
    free(infos);
    return TOOL_OK;
}
