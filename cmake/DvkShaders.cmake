# Shader build: glslc compiles each GLSL variant to SPIR-V at build time, and all SPIR-V is
# embedded into the library as uint32 arrays (see embed_spirv.cmake), looked up by name at run
# time (src/core/pipeline.c).

set(DVK_SHADER_DIR ${CMAKE_SOURCE_DIR}/shaders)
set(DVK_SPIRV_DIR ${CMAKE_BINARY_DIR}/spirv)
set(DVK_GLSLC_FLAGS --target-env=vulkan1.2 -Werror -I ${DVK_SHADER_DIR}/common)

# Which GLSL extensions this glslc knows. Each probe is a tiny shader in cmake/glslc_probes;
# a variant that needs an extension is built only when the probe compiles (as llama.cpp does).
# Sets DVK_GLSLC_HAS_<NAME> and appends -DDVK_GLSLC_HAS_<NAME>=1 to DVK_GLSLC_DEFINITIONS.
function(dvk_detect_glslc_features)
  set(defs)
  foreach(probe COOPMAT_KHR COOPMAT_NV SUBGROUP_SHUFFLE FLOAT16_STORAGE)
    string(TOLOWER ${probe} file)
    execute_process(
      COMMAND ${GLSLC} --target-env=vulkan1.3 ${CMAKE_SOURCE_DIR}/cmake/glslc_probes/${file}.comp
              -o ${CMAKE_BINARY_DIR}/glslc_probe_${file}.spv
      RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
    if(rc EQUAL 0)
      set(DVK_GLSLC_HAS_${probe} ON PARENT_SCOPE)
      list(APPEND defs DVK_GLSLC_HAS_${probe}=1)
      message(STATUS "glslc supports ${probe}: yes")
    else()
      set(DVK_GLSLC_HAS_${probe} OFF PARENT_SCOPE)
      message(STATUS "glslc supports ${probe}: no")
    endif()
  endforeach()
  set(DVK_GLSLC_DEFINITIONS ${defs} PARENT_SCOPE)
endfunction()

# dvk_shader(<name> <source relative to shaders/> [NO_OPT] [DEFINES A=1 B ...])
# Compiles one variant; <name> (e.g. delta_rule/recurrent_f16) is how the library finds it.
# NO_OPT skips glslc's optimiser (shaderc 2023.2's crashes on cooperative-matrix arithmetic;
# the driver optimises every module anyway).
function(dvk_shader name source)
  cmake_parse_arguments(ARG "NO_OPT" "" "DEFINES" ${ARGN})
  set(opt -O)
  if(ARG_NO_OPT)
    set(opt)
  endif()
  string(REPLACE "/" "__" flat ${name})
  set(spv ${DVK_SPIRV_DIR}/${flat}.spv)
  set(defs)
  foreach(d ${ARG_DEFINES})
    list(APPEND defs -D${d})
  endforeach()
  add_custom_command(
    OUTPUT ${spv}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${DVK_SPIRV_DIR}
    COMMAND ${GLSLC} ${DVK_GLSLC_FLAGS} ${opt} ${defs} -MD -MF ${spv}.d
            ${DVK_SHADER_DIR}/${source} -o ${spv}
    DEPENDS ${DVK_SHADER_DIR}/${source}
    DEPFILE ${spv}.d
    COMMENT "glslc ${name}"
    VERBATIM)
  set_property(GLOBAL APPEND PROPERTY DVK_SHADER_NAMES ${name})
  set_property(GLOBAL APPEND PROPERTY DVK_SHADER_SPVS ${spv})
endfunction()

# Generates <out_c> holding every SPIR-V blob declared with dvk_shader(), and a target.
function(dvk_embed_shaders target out_c)
  get_property(names GLOBAL PROPERTY DVK_SHADER_NAMES)
  get_property(spvs GLOBAL PROPERTY DVK_SHADER_SPVS)
  string(REPLACE ";" "|" names_arg "${names}")
  string(REPLACE ";" "|" spvs_arg "${spvs}")
  add_custom_command(
    OUTPUT ${out_c}
    COMMAND ${CMAKE_COMMAND} "-DNAMES=${names_arg}" "-DSPVS=${spvs_arg}" -DOUT=${out_c}
            -P ${CMAKE_SOURCE_DIR}/cmake/embed_spirv.cmake
    DEPENDS ${spvs} ${CMAKE_SOURCE_DIR}/cmake/embed_spirv.cmake
    COMMENT "Embedding SPIR-V"
    VERBATIM)
  add_custom_target(${target} DEPENDS ${out_c})
endfunction()
