# The building blocks' kernels (library deltavk_nn): each family folder of shaders/nn declares
# its variants in its own shaders.cmake, with dvk_shader(<family>/<kernel>_<variant> ...
# LIBRARY deltavk_nn); each becomes a kernel id DVK_NN_K_<NAME> of deltavk_nn_kernels.h.
file(GLOB DVK_NN_SHADER_LISTS CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/*/shaders.cmake)
list(SORT DVK_NN_SHADER_LISTS)
foreach(list_file ${DVK_NN_SHADER_LISTS})
  include(${list_file})
endforeach()
