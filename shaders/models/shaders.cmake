# The models' kernels (library deltavk_models): each model folder of shaders/models declares its
# variants in its own shaders.cmake, with dvk_shader(<model>/<kernel>_<variant> ... LIBRARY
# deltavk_models); each becomes a kernel id DVK_MODELS_K_<NAME> of deltavk_models_kernels.h.
file(GLOB DVK_MODELS_SHADER_LISTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*/shaders.cmake)
list(SORT DVK_MODELS_SHADER_LISTS)
foreach(list_file ${DVK_MODELS_SHADER_LISTS})
  include(${list_file})
endforeach()
