/* The Vulkan functions deltavk calls, as X-macro lists. Each context loads its own tables from
 * these (no process-global function pointers): a game engine's device and ours can coexist.
 *   X(name)           required: loading fails if the driver does not return it
 *   X_OPT(name)       optional: NULL when absent (extension functions)                    */
#ifndef DVK_VK_FUNCTIONS_H
#define DVK_VK_FUNCTIONS_H

/* Loader-level: fetched with vkGetInstanceProcAddr(NULL, ...). */
#define DVK_VK_LOADER_FUNCTIONS(X, X_OPT)                                                       \
    X(vkCreateInstance)                                                                         \
    X(vkEnumerateInstanceExtensionProperties)                                                   \
    X(vkEnumerateInstanceLayerProperties)                                                       \
    X_OPT(vkEnumerateInstanceVersion)

#define DVK_VK_INSTANCE_FUNCTIONS(X, X_OPT)                                                     \
    X(vkDestroyInstance)                                                                        \
    X(vkEnumeratePhysicalDevices)                                                               \
    X(vkGetPhysicalDeviceProperties)                                                            \
    X(vkGetPhysicalDeviceProperties2)                                                           \
    X(vkGetPhysicalDeviceFeatures2)                                                             \
    X(vkGetPhysicalDeviceMemoryProperties)                                                      \
    X(vkGetPhysicalDeviceQueueFamilyProperties)                                                 \
    X(vkEnumerateDeviceExtensionProperties)                                                     \
    X(vkCreateDevice)                                                                           \
    X(vkGetDeviceProcAddr)                                                                      \
    X_OPT(vkCreateDebugUtilsMessengerEXT)                                                       \
    X_OPT(vkDestroyDebugUtilsMessengerEXT)                                                      \
    X_OPT(vkGetPhysicalDeviceCooperativeMatrixPropertiesNV)                                     \
    X_OPT(vkGetPhysicalDeviceCooperativeMatrixPropertiesKHR)

#define DVK_VK_DEVICE_FUNCTIONS(X, X_OPT)                                                       \
    X(vkDestroyDevice)                                                                          \
    X(vkGetDeviceQueue)                                                                         \
    X(vkDeviceWaitIdle)                                                                         \
    X(vkQueueSubmit)                                                                            \
    X(vkAllocateMemory)                                                                         \
    X(vkFreeMemory)                                                                             \
    X(vkMapMemory)                                                                              \
    X(vkCreateBuffer)                                                                           \
    X(vkDestroyBuffer)                                                                          \
    X(vkGetBufferMemoryRequirements)                                                            \
    X(vkBindBufferMemory)                                                                       \
    X(vkCreateShaderModule)                                                                     \
    X(vkDestroyShaderModule)                                                                    \
    X(vkCreateDescriptorSetLayout)                                                              \
    X(vkDestroyDescriptorSetLayout)                                                             \
    X(vkCreatePipelineLayout)                                                                   \
    X(vkDestroyPipelineLayout)                                                                  \
    X(vkCreateComputePipelines)                                                                 \
    X(vkDestroyPipeline)                                                                        \
    X(vkCreatePipelineCache)                                                                    \
    X(vkDestroyPipelineCache)                                                                   \
    X(vkGetPipelineCacheData)                                                                   \
    X(vkCreateDescriptorPool)                                                                   \
    X(vkDestroyDescriptorPool)                                                                  \
    X(vkResetDescriptorPool)                                                                    \
    X(vkAllocateDescriptorSets)                                                                 \
    X(vkUpdateDescriptorSets)                                                                   \
    X(vkCreateCommandPool)                                                                      \
    X(vkDestroyCommandPool)                                                                     \
    X(vkAllocateCommandBuffers)                                                                 \
    X(vkBeginCommandBuffer)                                                                     \
    X(vkEndCommandBuffer)                                                                       \
    X(vkResetCommandBuffer)                                                                     \
    X(vkCreateFence)                                                                            \
    X(vkDestroyFence)                                                                           \
    X(vkWaitForFences)                                                                          \
    X(vkResetFences)                                                                            \
    X(vkCreateQueryPool)                                                                        \
    X(vkDestroyQueryPool)                                                                       \
    X(vkGetQueryPoolResults)                                                                    \
    X(vkCmdBindPipeline)                                                                        \
    X(vkCmdBindDescriptorSets)                                                                  \
    X(vkCmdPushConstants)                                                                       \
    X(vkCmdDispatch)                                                                            \
    X(vkCmdPipelineBarrier)                                                                     \
    X(vkCmdCopyBuffer)                                                                          \
    X(vkCmdFillBuffer)                                                                          \
    X(vkCmdWriteTimestamp)                                                                      \
    X(vkCmdResetQueryPool)                                                                      \
    X_OPT(vkGetPipelineExecutableStatisticsKHR)

#endif
