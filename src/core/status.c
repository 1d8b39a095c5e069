/* Status strings and the per-thread record of the last failure. */
#include "core/internal.h"

#include <stdio.h>
#include <string.h>

/* Per thread, like errno: a failure on one thread never overwrites another's message. */
static DVK_THREAD_LOCAL char last_error[1024];
static DVK_THREAD_LOCAL VkResult last_vk_result = VK_SUCCESS;

const char *dvk_status_string(dvk_status status)
{
    switch (status) {
#define DVK_STATUS_CASE_(name, value, text)                                                      \
    case name:                                                                                   \
        return text;
        DVK_STATUS_LIST(DVK_STATUS_CASE_)
#undef DVK_STATUS_CASE_
    }
    return "unknown status";
}

const char *dvk_last_error(void) { return last_error; }

VkResult dvk_last_vk_result(void) { return last_vk_result; }

dvk_status dvk__fail(dvk_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    last_vk_result = VK_SUCCESS;
    return status;
}

dvk_status dvk__fail_prefix(dvk_status status, const char *prefix)
{
    char message[sizeof last_error];
    snprintf(message, sizeof message, "%s%s", prefix, last_error);
    memcpy(last_error, message, sizeof last_error);
    return status;
}

dvk_status dvk_set_error(dvk_status status, const char *fmt, ...)
{
    last_error[0] = '\0'; /* a NULL fmt clears the message */
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(last_error, sizeof last_error, fmt, ap);
        va_end(ap);
    }
    last_vk_result = VK_SUCCESS;
    return status;
}

const char *dvk__vk_result_name(VkResult r)
{
    switch (r) {
#define DVK_VK_RESULT_CASE_(x)                                                                   \
    case x:                                                                                      \
        return #x;
        DVK_VK_RESULT_CASE_(VK_SUCCESS)
        DVK_VK_RESULT_CASE_(VK_NOT_READY)
        DVK_VK_RESULT_CASE_(VK_TIMEOUT)
        DVK_VK_RESULT_CASE_(VK_INCOMPLETE)
        DVK_VK_RESULT_CASE_(VK_ERROR_OUT_OF_HOST_MEMORY)
        DVK_VK_RESULT_CASE_(VK_ERROR_OUT_OF_DEVICE_MEMORY)
        DVK_VK_RESULT_CASE_(VK_ERROR_INITIALIZATION_FAILED)
        DVK_VK_RESULT_CASE_(VK_ERROR_DEVICE_LOST)
        DVK_VK_RESULT_CASE_(VK_ERROR_MEMORY_MAP_FAILED)
        DVK_VK_RESULT_CASE_(VK_ERROR_LAYER_NOT_PRESENT)
        DVK_VK_RESULT_CASE_(VK_ERROR_EXTENSION_NOT_PRESENT)
        DVK_VK_RESULT_CASE_(VK_ERROR_FEATURE_NOT_PRESENT)
        DVK_VK_RESULT_CASE_(VK_ERROR_INCOMPATIBLE_DRIVER)
        DVK_VK_RESULT_CASE_(VK_ERROR_TOO_MANY_OBJECTS)
        DVK_VK_RESULT_CASE_(VK_ERROR_FORMAT_NOT_SUPPORTED)
        DVK_VK_RESULT_CASE_(VK_ERROR_FRAGMENTED_POOL)
        DVK_VK_RESULT_CASE_(VK_ERROR_UNKNOWN)
        DVK_VK_RESULT_CASE_(VK_ERROR_OUT_OF_POOL_MEMORY)
        DVK_VK_RESULT_CASE_(VK_ERROR_INVALID_EXTERNAL_HANDLE)
        DVK_VK_RESULT_CASE_(VK_ERROR_FRAGMENTATION)
        DVK_VK_RESULT_CASE_(VK_PIPELINE_COMPILE_REQUIRED)
#undef DVK_VK_RESULT_CASE_
    default:
        return "VkResult(unknown)";
    }
}

dvk_status dvk__fail_vk(VkResult result, const char *what)
{
    dvk_status status = DVK_ERROR_VULKAN;
    switch (result) {
    case VK_ERROR_OUT_OF_HOST_MEMORY:
        status = DVK_ERROR_OUT_OF_HOST_MEMORY;
        break;
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
        status = DVK_ERROR_OUT_OF_DEVICE_MEMORY;
        break;
    case VK_ERROR_DEVICE_LOST:
        status = DVK_ERROR_DEVICE_LOST;
        break;
    case VK_TIMEOUT:
        status = DVK_ERROR_TIMEOUT;
        break;
    default:
        break;
    }
    snprintf(last_error, sizeof last_error, "%s failed: %s (%d)", what,
             dvk__vk_result_name(result), (int)result);
    last_vk_result = result;
    return status;
}
