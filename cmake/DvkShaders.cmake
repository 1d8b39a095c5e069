# Shader build: glslc compiles each GLSL variant to SPIR-V at build time, and the SPIR-V of each
# library (deltavk, deltavk_nn, ...) is embedded into it as uint32 arrays, with a generated enum
# of kernel ids (see embed_spirv.cmake): host code names a kernel by its id, so a misspelt or
# removed kernel fails the build instead of a run.

set(DVK_SHADER_DIR ${PROJECT_SOURCE_DIR}/shaders)
set(DVK_SPIRV_DIR ${PROJECT_BINARY_DIR}/spirv)
set(DVK_GLSLC_FLAGS --target-env=vulkan1.2 -Werror -I ${DVK_SHADER_DIR}/common
                    -I ${DVK_SHADER_DIR})

# Which GLSL extensions this glslc knows. Each probe is a tiny shader in cmake/glslc_probes;
# a variant that needs an extension is built only when the probe compiles (as llama.cpp does).
# Sets DVK_GLSLC_HAS_<NAME> and appends -DDVK_GLSLC_HAS_<NAME>=1 to DVK_GLSLC_DEFINITIONS.
function(dvk_detect_glslc_features)
  set(defs)
  foreach(probe COOPMAT_KHR COOPMAT_NV SUBGROUP_SHUFFLE FLOAT16_STORAGE)
    string(TOLOWER ${probe} file)
    execute_process(
      COMMAND ${GLSLC} --target-env=vulkan1.3 ${PROJECT_SOURCE_DIR}/cmake/glslc_probes/${file}.comp
              -o ${PROJECT_BINARY_DIR}/glslc_probe_${file}.spv
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

# dvk_shader(<name> <source relative to shaders/> [LIBRARY <lib>] [NO_OPT] [REQUIRES <feature>...]
#            [DEFINES A=1 B ...])
# Declares one variant of <lib>'s kernels (default: deltavk). <name> (e.g.
# delta_rule/recurrent_f16) becomes the kernel id DVK_K_DELTA_RULE_RECURRENT_F16 (in deltavk_nn:
# DVK_NN_K_...). REQUIRES names glslc features (COOPMAT_NV, ...): without them the id still
# exists but the variant is not built, and asking for it at run time is DVK_ERROR_UNSUPPORTED.
# NO_OPT skips glslc's optimiser (shaderc 2023.2's crashes on cooperative-matrix arithmetic;
# the driver optimises every module anyway).
function(dvk_shader name source)
  cmake_parse_arguments(ARG "NO_OPT" "LIBRARY" "DEFINES;REQUIRES" ${ARGN})
  set(lib deltavk)
  if(ARG_LIBRARY)
    set(lib ${ARG_LIBRARY})
  endif()
  set(built ON)
  foreach(feature ${ARG_REQUIRES})
    if(NOT DVK_GLSLC_HAS_${feature})
      set(built OFF)
    endif()
  endforeach()
  set_property(GLOBAL APPEND PROPERTY DVK_SHADER_NAMES_${lib} ${name})
  if(NOT built)
    set_property(GLOBAL APPEND PROPERTY DVK_SHADER_SPVS_${lib} "-")
    return()
  endif()
  set(opt -O)
  if(ARG_NO_OPT)
    set(opt)
  endif()
  string(REPLACE "/" "__" flat ${name})
  set(spv ${DVK_SPIRV_DIR}/${lib}/${flat}.spv)
  set(defs)
  foreach(d ${ARG_DEFINES})
    list(APPEND defs -D${d})
  endforeach()
  add_custom_command(
    OUTPUT ${spv}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${DVK_SPIRV_DIR}/${lib}
    COMMAND ${GLSLC} ${DVK_GLSLC_FLAGS} ${opt} ${defs} -MD -MF ${spv}.d
            ${DVK_SHADER_DIR}/${source} -o ${spv}
    DEPENDS ${DVK_SHADER_DIR}/${source}
    DEPFILE ${spv}.d
    COMMENT "glslc ${name}"
    VERBATIM)
  set_property(GLOBAL APPEND PROPERTY DVK_SHADER_SPVS_${lib} ${spv})
endfunction()

# dvk_embed_shaders(<lib> <prefix> [TARGET <target>]): generates <lib>_spirv.c and
# <lib>_kernels.h in the build folder: every variant declared for <lib>, as an enum
# <prefix>_kernel of ids <PREFIX>_K_<NAME> and a table <prefix>_kernel_table[] of
# { name, code, size } (code NULL for a variant this glslc could not build). Adds both files to
# <target> (default: the target named <lib>; for the libraries, their object library).
function(dvk_embed_shaders lib prefix)
  cmake_parse_arguments(ARG "" "TARGET" "" ${ARGN})
  set(target ${lib})
  if(ARG_TARGET)
    set(target ${ARG_TARGET})
  endif()
  get_property(names GLOBAL PROPERTY DVK_SHADER_NAMES_${lib})
  get_property(spvs GLOBAL PROPERTY DVK_SHADER_SPVS_${lib})
  set(out_c ${PROJECT_BINARY_DIR}/generated/${lib}_spirv.c)
  set(out_h ${PROJECT_BINARY_DIR}/generated/${lib}_kernels.h)
  set(deps)
  foreach(s ${spvs})
    if(NOT s STREQUAL "-")
      list(APPEND deps ${s})
    endif()
  endforeach()
  string(REPLACE ";" "|" names_arg "${names}")
  string(REPLACE ";" "|" spvs_arg "${spvs}")
  add_custom_command(
    OUTPUT ${out_c} ${out_h}
    COMMAND ${CMAKE_COMMAND} "-DNAMES=${names_arg}" "-DSPVS=${spvs_arg}" -DOUT_C=${out_c}
            -DOUT_H=${out_h} -DPREFIX=${prefix} -DLIB=${lib}
            -P ${PROJECT_SOURCE_DIR}/cmake/embed_spirv.cmake
    DEPENDS ${deps} ${PROJECT_SOURCE_DIR}/cmake/embed_spirv.cmake
    COMMENT "Embedding the SPIR-V of ${lib}"
    VERBATIM)
  add_custom_target(${lib}_spirv DEPENDS ${out_c} ${out_h})
  target_sources(${target} PRIVATE ${out_c})
  target_include_directories(${target} PRIVATE ${PROJECT_BINARY_DIR}/generated)
  add_dependencies(${target} ${lib}_spirv)
  set_source_files_properties(${out_c} PROPERTIES GENERATED TRUE)
endfunction()
