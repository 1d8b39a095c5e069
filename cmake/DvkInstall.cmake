# Install rules (included by CMakeLists.txt when DVK_INSTALL): the public headers, the static
# and shared libraries, the CMake package (find_package(deltavk)) and the pkg-config files.
# The installed tree is relocatable: the package and the .pc files find everything relative to
# where they lie, so `cmake --install build --prefix <anywhere>` works.
include(CMakePackageConfigHelpers)
set(DVK_CMAKE_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/deltavk)

install(FILES
  ${PROJECT_SOURCE_DIR}/include/deltavk.h
  ${PROJECT_SOURCE_DIR}/include/deltavk_nn.h
  ${PROJECT_SOURCE_DIR}/include/deltavk_models.h
  ${PROJECT_SOURCE_DIR}/include/deltavk_reference.h
  ${PROJECT_SOURCE_DIR}/include/deltavk_nn_reference.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

install(TARGETS ${DVK_EXPORTED_TARGETS} EXPORT deltavkTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT deltavkTargets NAMESPACE deltavk:: DESTINATION ${DVK_CMAKE_INSTALL_DIR})

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/deltavkConfig.cmake.in
  ${PROJECT_BINARY_DIR}/package/deltavkConfig.cmake INSTALL_DESTINATION ${DVK_CMAKE_INSTALL_DIR})
# 0.x: a minor release may break the API, so only the same major.minor is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/package/deltavkConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/package/deltavkConfig.cmake
              ${PROJECT_BINARY_DIR}/package/deltavkConfigVersion.cmake
        DESTINATION ${DVK_CMAKE_INSTALL_DIR})

# pkg-config: deltavk.pc, deltavk_nn.pc and deltavk_models.pc, each requiring the level below.
# Paths are relative to the .pc file (${pcfiledir}, known to pkg-config and pkgconf).
set(pc_dir ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(DVK_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH rel "/root/${pc_dir}" "/root")
  string(REGEX REPLACE "/$" "" rel "${rel}")
  set(DVK_PC_PREFIX "\${pcfiledir}/${rel}")
endif()
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(DVK_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(DVK_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
set(dvk_libs_private "${CMAKE_THREAD_LIBS_INIT}")
foreach(lib ${CMAKE_DL_LIBS} m)
  string(APPEND dvk_libs_private " -l${lib}")
endforeach()
string(STRIP "${dvk_libs_private}" dvk_libs_private)
foreach(spec
    "deltavk|Vulkan compute kernels for linear-attention sequence mixers||${dvk_libs_private}"
    "deltavk_nn|deltavk's building blocks of networks (deltavk_nn.h)|deltavk = ${PROJECT_VERSION}|-lm"
    "deltavk_models|deltavk's models (deltavk_models.h)|deltavk_nn = ${PROJECT_VERSION}|-lm")
  string(REPLACE "|" ";" spec "${spec}")
  list(GET spec 0 DVK_PC_NAME)
  list(GET spec 1 DVK_PC_DESCRIPTION)
  list(GET spec 2 DVK_PC_REQUIRES)
  list(GET spec 3 DVK_PC_LIBS_PRIVATE)
  configure_file(${PROJECT_SOURCE_DIR}/cmake/deltavk.pc.in
                 ${PROJECT_BINARY_DIR}/package/${DVK_PC_NAME}.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/package/${DVK_PC_NAME}.pc DESTINATION ${pc_dir})
endforeach()

install(FILES ${PROJECT_SOURCE_DIR}/LICENSE ${PROJECT_SOURCE_DIR}/THIRD_PARTY.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/deltavk)
