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
# COOPMAT_KHR is glslc's or, failing that, GLSLANG_VALIDATOR's (DVK_KHR_COMPILER says which
# compiles the KHR variants).
function(dvk_detect_glslc_features)
  set(defs)
  foreach(probe COOPMAT_KHR COOPMAT_NV SUBGROUP_SHUFFLE FLOAT16_STORAGE)
    string(TOLOWER ${probe} file)
    set(src ${PROJECT_SOURCE_DIR}/cmake/glslc_probes/${file}.comp)
    set(spv ${PROJECT_BINARY_DIR}/glslc_probe_${file}.spv)
    execute_process(COMMAND ${GLSLC} --target-env=vulkan1.2 ${src} -o ${spv}
                    RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
    set(how "glslc")
    if(probe STREQUAL "COOPMAT_KHR")
      set(DVK_KHR_COMPILER glslc PARENT_SCOPE)
      if(NOT rc EQUAL 0 AND GLSLANG_VALIDATOR)
        execute_process(COMMAND ${GLSLANG_VALIDATOR} --quiet -V --target-env vulkan1.2 ${src}
                                -o ${spv}
                        RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
        set(how "${GLSLANG_VALIDATOR}")
        set(DVK_KHR_COMPILER glslang PARENT_SCOPE)
      endif()
    endif()
    if(rc EQUAL 0)
      set(DVK_GLSLC_HAS_${probe} ON PARENT_SCOPE)
      list(APPEND defs DVK_GLSLC_HAS_${probe}=1)
      message(STATUS "GLSL ${probe}: yes (${how})")
    else()
      set(DVK_GLSLC_HAS_${probe} OFF PARENT_SCOPE)
      message(STATUS "GLSL ${probe}: no")
    endif()
  endforeach()
  set(DVK_GLSLC_DEFINITIONS ${defs} PARENT_SCOPE)
endfunction()

# One compile of a GLSL source to SPIR-V: glslc, or glslangValidator for a KHR
# cooperative-matrix variant where glslc cannot (KHR true). Both write a depfile.
function(dvk_compile_spirv spv source opt defs khr)
  if(khr AND DVK_KHR_COMPILER STREQUAL "glslang")
    set(defines)
    foreach(d ${defs})
      string(REGEX REPLACE "^-D" "" d ${d})
      list(APPEND defines -D${d})
    endforeach()
    set(cmd ${GLSLANG_VALIDATOR} --quiet -V --target-env vulkan1.2 -I${DVK_SHADER_DIR}/common
            -I${DVK_SHADER_DIR} ${defines} --depfile ${spv}.d ${DVK_SHADER_DIR}/${source}
            -o ${spv})
  else()
    set(cmd ${GLSLC} ${DVK_GLSLC_FLAGS} ${opt} ${defs} -MD -MF ${spv}.d
            ${DVK_SHADER_DIR}/${source} -o ${spv})
  endif()
  get_filename_component(dir ${spv} DIRECTORY)
  get_filename_component(base ${spv} NAME_WE)
  add_custom_command(
    OUTPUT ${spv}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${dir}
    COMMAND ${cmd}
    DEPENDS ${DVK_SHADER_DIR}/${source}
    DEPFILE ${spv}.d
    COMMENT "GLSL ${base}"
    VERBATIM)
endfunction()

# dvk_shader(<name> <source relative to shaders/> [LIBRARY <lib>] [NO_OPT] [COOPMAT]
#            [REQUIRES <feature>...] [DEFINES A=1 B ...])
# Declares one variant of <lib>'s kernels (default: deltavk). <name> (e.g.
# delta_rule/recurrent_f16) becomes the kernel id DVK_K_DELTA_RULE_RECURRENT_F16 (in deltavk_nn:
# DVK_NN_K_...). REQUIRES names glslc features (FLOAT16_STORAGE, ...): without them the id still
# exists but the variant is not built, and asking for it at run time is DVK_ERROR_UNSUPPORTED.
# COOPMAT: a cooperative-matrix kernel (shaders/common/coopmat.glsl), built twice from its one
# source: on GL_NV_cooperative_matrix (the id's code) and with DVK_CM_KHR=1 on
# GL_KHR_cooperative_matrix (the id's code_khr), each where the compiler has the extension; the
# host picks by the device (DVK_COOPMAT). NO_OPT skips glslc's optimiser (shaderc 2023.2's
# crashes on cooperative-matrix arithmetic; the driver optimises every module anyway).
function(dvk_shader name source)
  cmake_parse_arguments(ARG "NO_OPT;COOPMAT" "LIBRARY" "DEFINES;REQUIRES" ${ARGN})
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
  set(built_nv ${built})
  set(built_khr OFF)
  if(ARG_COOPMAT)
    set(built_nv OFF)
    if(built AND DVK_GLSLC_HAS_COOPMAT_NV)
      set(built_nv ON)
    endif()
    if(built AND DVK_GLSLC_HAS_COOPMAT_KHR)
      set(built_khr ON)
    endif()
  endif()
  set_property(GLOBAL APPEND PROPERTY DVK_SHADER_NAMES_${lib} ${name})
  if(ARG_COOPMAT)
    set_property(GLOBAL APPEND PROPERTY DVK_SHADER_COOPMAT_${lib} 1)
  else()
    set_property(GLOBAL APPEND PROPERTY DVK_SHADER_COOPMAT_${lib} 0)
  endif()
  string(REPLACE "/" "__" flat ${name})
  set(opt -O)
  if(ARG_NO_OPT OR ARG_COOPMAT)
    set(opt)
  endif()
  set(defs)
  foreach(d ${ARG_DEFINES})
    list(APPEND defs -D${d})
  endforeach()
  set(spv "-")
  if(built_nv)
    set(spv ${DVK_SPIRV_DIR}/${lib}/${flat}.spv)
    dvk_compile_spirv(${spv} ${source} "${opt}" "${defs}" OFF)
    if(ARG_COOPMAT)
      set_property(GLOBAL APPEND PROPERTY DVK_SHADER_NV_BUILT "${lib}:${name}")
    endif()
  endif()
  set(spv_khr "-")
  if(built_khr)
    set(spv_khr ${DVK_SPIRV_DIR}/${lib}/${flat}__khr.spv)
    dvk_compile_spirv(${spv_khr} ${source} "" "${defs};-DDVK_CM_KHR=1" ON)
    set_property(GLOBAL APPEND PROPERTY DVK_SHADER_KHR_BUILT "${lib}:${name}")
  endif()
  set_property(GLOBAL APPEND PROPERTY DVK_SHADER_SPVS_${lib} ${spv})
  set_property(GLOBAL APPEND PROPERTY DVK_SHADER_KHR_SPVS_${lib} ${spv_khr})
endfunction()

# Says at configure time which cooperative-matrix variants this build makes.
function(dvk_report_coopmat_variants)
  foreach(ext NV KHR)
    get_property(built GLOBAL PROPERTY DVK_SHADER_${ext}_BUILT)
    list(LENGTH built n)
    if(n EQUAL 0)
      message(STATUS "Cooperative-matrix kernels on ${ext}: none (the GLSL compiler lacks "
                     "GL_${ext}_cooperative_matrix; scripts/deps.sh installs glslangValidator 13)")
    else()
      string(REPLACE ";" ", " list "${built}")
      message(STATUS "Cooperative-matrix kernels on ${ext}: ${n} (${list})")
    endif()
  endforeach()
endfunction()

# dvk_embed_shaders(<lib> <prefix> [TARGET <target>]): generates <lib>_spirv.c and
# <lib>_kernels.h in the build folder: every variant declared for <lib>, as an enum
# <prefix>_kernel of ids <PREFIX>_K_<NAME> and a table <prefix>_kernel_table[] of
# { name, code, size, code_khr, size_khr, coopmat } (code NULL for a variant this glslc could not build;
# code_khr the KHR cooperative-matrix build of a COOPMAT kernel, else NULL). Adds both files to
# <target> (default: the target named <lib>; for the libraries, their object library).
function(dvk_embed_shaders lib prefix)
  cmake_parse_arguments(ARG "" "TARGET" "" ${ARGN})
  set(target ${lib})
  if(ARG_TARGET)
    set(target ${ARG_TARGET})
  endif()
  get_property(names GLOBAL PROPERTY DVK_SHADER_NAMES_${lib})
  get_property(spvs GLOBAL PROPERTY DVK_SHADER_SPVS_${lib})
  get_property(khr_spvs GLOBAL PROPERTY DVK_SHADER_KHR_SPVS_${lib})
  get_property(coopmat GLOBAL PROPERTY DVK_SHADER_COOPMAT_${lib})
  set(out_c ${PROJECT_BINARY_DIR}/generated/${lib}_spirv.c)
  set(out_h ${PROJECT_BINARY_DIR}/generated/${lib}_kernels.h)
  set(deps)
  foreach(s ${spvs} ${khr_spvs})
    if(NOT s STREQUAL "-")
      list(APPEND deps ${s})
    endif()
  endforeach()
  string(REPLACE ";" "|" names_arg "${names}")
  string(REPLACE ";" "|" spvs_arg "${spvs}")
  string(REPLACE ";" "|" khr_spvs_arg "${khr_spvs}")
  string(REPLACE ";" "|" coopmat_arg "${coopmat}")
  add_custom_command(
    OUTPUT ${out_c} ${out_h}
    COMMAND ${CMAKE_COMMAND} "-DNAMES=${names_arg}" "-DSPVS=${spvs_arg}"
            "-DKHR_SPVS=${khr_spvs_arg}" "-DCOOPMAT=${coopmat_arg}" -DOUT_C=${out_c}
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
