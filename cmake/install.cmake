# cmake/install.cmake: gradc as a C library and a tool that installs like one
# (included from CMakeLists.txt after the gradc_core and gradc targets).
#
#   libgradc.a   gradc_core itself; libtcc comes from Debian's libtcc.a
#   libgradc.so  gradc_core's objects, exporting only the gradc_* API
#                (libgradc.map), with libtcc compiled -fPIC from Debian's
#                own source package (scripts/fetch_tcc_source.sh) inside
#                it. Without that source it has the cc backend only.
#
#   cmake --install BUILD --prefix P
#     P/bin/gradc, P/include/gradc.h, P/lib/libgradc.{a,so},
#     P/lib/pkgconfig/gradc.pc, P/lib/cmake/gradc/ (gradc::gradc),
#     P/share/man/man1/gradc.1, P/share/man/man5/gradc-expr.5,
#     P/share/bash-completion/completions/gradc
# Generated C includes no gradc header (runtime/gradc_rt.h is expanded
# into it), so no runtime header is installed.

# ---- libtcc as position-independent code ------------------------------------
set(GRADC_TCC_SOURCE "${PROJECT_SOURCE_DIR}/third_party/tcc" CACHE PATH
    "Debian's tcc source (scripts/fetch_tcc_source.sh), built -fPIC into libgradc.so")
set(GRADC_SHARED_TCC OFF)
if(EXISTS "${GRADC_TCC_SOURCE}/libtcc.c" AND CMAKE_SYSTEM_PROCESSOR STREQUAL "x86_64")
  # configured as debian/rules configures it, so CONFIG_TCCDIR is Debian's
  set(_arch "${CMAKE_LIBRARY_ARCHITECTURE}")
  if(NOT _arch)
    set(_arch x86_64-linux-gnu)
  endif()
  file(MAKE_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}/tcc")
  execute_process(
    COMMAND sh "${GRADC_TCC_SOURCE}/configure" --prefix=/usr --libdir=/usr/lib/${_arch}
            --cpu=x86_64 --triplet=${_arch}
    WORKING_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}/tcc"
    RESULT_VARIABLE _tcc_rc OUTPUT_QUIET ERROR_QUIET)
  if(_tcc_rc EQUAL 0 AND EXISTS "${CMAKE_CURRENT_BINARY_DIR}/tcc/config.h")
    set(GRADC_SHARED_TCC ON)
    # the objects of Debian's libtcc.a (tcc's Makefile, ONE_SOURCE=0)
    set(_tcc_files libtcc.c tccpp.c tccgen.c tccelf.c tccasm.c tccrun.c
                   x86_64-gen.c x86_64-link.c i386-asm.c)
    list(TRANSFORM _tcc_files PREPEND "${GRADC_TCC_SOURCE}/")
    add_library(gradc_tcc_pic OBJECT ${_tcc_files})
    target_include_directories(gradc_tcc_pic PRIVATE "${CMAKE_CURRENT_BINARY_DIR}/tcc" "${GRADC_TCC_SOURCE}")
    target_compile_definitions(gradc_tcc_pic PRIVATE "CONFIG_TRIPLET=\"${_arch}\"" TCC_TARGET_X86_64 ONE_SOURCE=0)
    set_target_properties(gradc_tcc_pic PROPERTIES POSITION_INDEPENDENT_CODE ON C_STANDARD 99 C_EXTENSIONS ON)
    # tcc's own flags; not our warnings, not instrumented (as Debian's libtcc.a)
    target_compile_options(gradc_tcc_pic PRIVATE -w -O2 -fno-strict-aliasing -fno-sanitize=all)
  endif()
endif()
if(GRADC_SHARED_TCC)
  message(STATUS "libgradc.so: libtcc built -fPIC from ${GRADC_TCC_SOURCE}")
else()
  message(WARNING "libgradc.so: no tcc source in ${GRADC_TCC_SOURCE} "
                  "(scripts/fetch_tcc_source.sh fetches Debian's): it will use the cc backend only")
endif()

# ---- libgradc.so ---------------------------------------------------------------
# Its dependencies are gradc_core's, read when the build is generated (so
# libraries added to gradc_core anywhere count), except Debian's libtcc.a.
set(_core_deps "$<FILTER:$<TARGET_PROPERTY:gradc_core,INTERFACE_LINK_LIBRARIES>,EXCLUDE,libtcc>")
if(GRADC_SHARED_TCC)
  add_library(gradc_shared SHARED $<TARGET_OBJECTS:gradc_core> $<TARGET_OBJECTS:gradc_tcc_pic>)
else()
  # jit.c again, without libtcc: --backend tcc compiles with cc
  add_library(gradc_jit_cc OBJECT src/jit.c)
  target_compile_definitions(gradc_jit_cc PRIVATE GRADC_NO_TCC=1
    $<TARGET_PROPERTY:gradc_core,COMPILE_DEFINITIONS>)
  target_include_directories(gradc_jit_cc PRIVATE $<TARGET_PROPERTY:gradc_core,INCLUDE_DIRECTORIES>)
  set_target_properties(gradc_jit_cc PROPERTIES POSITION_INDEPENDENT_CODE ON)
  add_dependencies(gradc_jit_cc gradc_core)  # the generated parser.h
  add_library(gradc_shared SHARED
    "$<FILTER:$<TARGET_OBJECTS:gradc_core>,EXCLUDE,/jit\\.c\\.o$>" $<TARGET_OBJECTS:gradc_jit_cc>)
endif()
# 0.x: every minor version may change the ABI
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(GRADC_SOVERSION "0.${PROJECT_VERSION_MINOR}")
else()
  set(GRADC_SOVERSION "${PROJECT_VERSION_MAJOR}")
endif()
set_target_properties(gradc_shared PROPERTIES
  OUTPUT_NAME gradc EXPORT_NAME gradc
  VERSION ${PROJECT_VERSION} SOVERSION ${GRADC_SOVERSION}
  LINK_DEPENDS "${PROJECT_SOURCE_DIR}/cmake/libgradc.map")
target_link_options(gradc_shared PRIVATE
  "-Wl,--version-script=${PROJECT_SOURCE_DIR}/cmake/libgradc.map" -Wl,--no-undefined)
target_link_libraries(gradc_shared PRIVATE "${_core_deps}" ${CMAKE_DL_LIBS} Threads::Threads m)
target_include_directories(gradc_shared INTERFACE
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/src> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
add_library(gradc::gradc ALIAS gradc_shared)

# ---- pkg-config ------------------------------------------------------------------
# Relocatable: the prefix is where the .pc file was found. The private
# dependencies are what `pkg-config --static` adds for libgradc.a: keep
# them in step with gradc_core's (tests/install checks a static link).
file(RELATIVE_PATH GRADC_PC_UP "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
string(REGEX REPLACE "/$" "" GRADC_PC_UP "${GRADC_PC_UP}")
set(GRADC_PC_REQUIRES_PRIVATE "jansson arpack lapack")
if(OPENBLAS_FOUND)
  string(APPEND GRADC_PC_REQUIRES_PRIVATE " openblas")
endif()
if(GRADC_MPI)
  string(APPEND GRADC_PC_REQUIRES_PRIVATE " mpi-c")
endif()
# libtcc, libcsv and ColPack have no .pc file; ColPack is C++
set(GRADC_PC_LIBS_PRIVATE "-ltcc -lColPack -lstdc++ -lcsv -lm -ldl -lpthread")
configure_file(cmake/gradc.pc.in gradc.pc @ONLY)

# ---- CMake package: find_package(gradc CONFIG), target gradc::gradc --------------
include(CMakePackageConfigHelpers)
write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/gradcConfigVersion.cmake"
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
file(RELATIVE_PATH GRADC_CMAKE_UP "/${CMAKE_INSTALL_LIBDIR}/cmake/gradc" "/")
string(REGEX REPLACE "/$" "" GRADC_CMAKE_UP "${GRADC_CMAKE_UP}")
# gradc::gradc_static's dependencies when pkg-config is missing
string(REPLACE " " ";" GRADC_PC_LIBS_STATIC_FALLBACK "-ljansson -larpack -llapack ${GRADC_PC_LIBS_PRIVATE}")
if(OPENBLAS_FOUND)
  list(APPEND GRADC_PC_LIBS_STATIC_FALLBACK -lopenblas)
endif()
configure_file(cmake/gradcConfig.cmake.in gradcConfig.cmake @ONLY)

# ---- man pages (scdoc) and bash completion --------------------------------------------
option(GRADC_MAN "Build the man pages (needs scdoc)" ON)
set(GRADC_MAN_PAGES gradc.1 gradc-expr.5)
if(GRADC_MAN)
  find_program(SCDOC scdoc)
  if(NOT SCDOC)
    message(FATAL_ERROR "scdoc not found: apt-get install scdoc, or -DGRADC_MAN=OFF")
  endif()
  set(_man_out "")
  foreach(page IN LISTS GRADC_MAN_PAGES)
    add_custom_command(OUTPUT "${CMAKE_CURRENT_BINARY_DIR}/man/${page}"
      COMMAND ${CMAKE_COMMAND} -E make_directory "${CMAKE_CURRENT_BINARY_DIR}/man"
      COMMAND sh -c "\"$0\" < \"$1\" > \"$2\"" "${SCDOC}"
              "${PROJECT_SOURCE_DIR}/docs/man/${page}.scd" "${CMAKE_CURRENT_BINARY_DIR}/man/${page}"
      DEPENDS "${PROJECT_SOURCE_DIR}/docs/man/${page}.scd"
      COMMENT "scdoc ${page}" VERBATIM)
    list(APPEND _man_out "${CMAKE_CURRENT_BINARY_DIR}/man/${page}")
  endforeach()
  add_custom_target(man ALL DEPENDS ${_man_out})
endif()

# ---- install ---------------------------------------------------------------------
install(TARGETS gradc RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS gradc_core ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS gradc_shared EXPORT gradcTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES src/gradc.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/gradc.pc" DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
install(EXPORT gradcTargets NAMESPACE gradc:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gradc)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/gradcConfig.cmake" "${CMAKE_CURRENT_BINARY_DIR}/gradcConfigVersion.cmake"
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/gradc)
if(GRADC_MAN)
  install(FILES "${CMAKE_CURRENT_BINARY_DIR}/man/gradc.1" DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
  install(FILES "${CMAKE_CURRENT_BINARY_DIR}/man/gradc-expr.5" DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)
endif()
install(FILES completion/gradc.bash RENAME gradc
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
