# The norms of deltavk_nn (one kernel, norm.comp, for LayerNorm, GroupNorm, RMSNorm and L2):
#   _f32 | _any   every tensor fp32 (devices without 16-bit storage) | dtypes by spec constant
#   _sh | _sg     reductions in shared memory | with subgroup shuffles (the host picks _sg
#                 where dvk_device_info.subgroup_shuffle)
foreach(red sh sg)
  set(red_defs)
  set(red_req)
  if(red STREQUAL "sg")
    set(red_defs NORM_SUBGROUP=1)
    set(red_req SUBGROUP_SHUFFLE)
  endif()
  dvk_shader(norm/norm_f32_${red} nn/norm/norm.comp LIBRARY deltavk_nn
             REQUIRES ${red_req} DEFINES DVK_F32_ONLY=1 ${red_defs})
  dvk_shader(norm/norm_any_${red} nn/norm/norm.comp LIBRARY deltavk_nn
             REQUIRES FLOAT16_STORAGE ${red_req} DEFINES ${red_defs})
endforeach()
