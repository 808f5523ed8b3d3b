# Hardening.cmake - the compiler and linker protections a distribution
# package gets (Debian's dpkg-buildflags "hardening=+all" set):
#
#   -fstack-protector-strong          canaries in functions with arrays
#   -D_FORTIFY_SOURCE=2               checked libc calls; only in builds
#                                     that optimize (glibc warns at -O0)
#                                     and not with the sanitizers, which
#                                     intercept the same functions
#   PIE (-fPIE, -pie)                 the programs load at a random address
#   -Wl,-z,relro -Wl,-z,now           full RELRO: the GOT is read-only
#                                     after start-up (BIND_NOW)
#   -Wl,-z,noexecstack                no executable stack
#
# Include it from the top-level CMakeLists.txt after the SMIMEGW_SANITIZE
# and SMIMEGW_FUZZ options and before any target is created (PIE is a
# target property taken from CMAKE_POSITION_INDEPENDENT_CODE at creation).
# SMIMEGW_HARDENING=OFF turns all of it off, e.g. to compare code.

option(SMIMEGW_HARDENING "Build with stack protector, FORTIFY, PIE and full RELRO" ON)

if(NOT SMIMEGW_HARDENING)
	return()
endif()

include(CheckCCompilerFlag)
include(CheckPIESupported)

check_c_compiler_flag(-fstack-protector-strong SMIMEGW_HAVE_SSP_STRONG)
if(SMIMEGW_HAVE_SSP_STRONG)
	add_compile_options(-fstack-protector-strong)
else()
	message(WARNING "-fstack-protector-strong not supported: built without a stack protector")
endif()

# -U first: a toolchain or CFLAGS that already defines it (at another
# level) must not turn into a redefinition warning under -Werror.
if(NOT SMIMEGW_SANITIZE AND NOT SMIMEGW_FUZZ)
	add_compile_options(
		"$<$<CONFIG:Release,RelWithDebInfo,MinSizeRel>:-U_FORTIFY_SOURCE>"
		"$<$<CONFIG:Release,RelWithDebInfo,MinSizeRel>:-D_FORTIFY_SOURCE=2>")
endif()

# With policy CMP0083 (CMake >= 3.14) and check_pie_supported(), CMake
# links executables with -pie when POSITION_INDEPENDENT_CODE is on.
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
check_pie_supported(OUTPUT_VARIABLE smimegw_pie_msg LANGUAGES C)
if(NOT CMAKE_C_LINK_PIE_SUPPORTED)
	message(WARNING "PIE is not supported by the linker: ${smimegw_pie_msg}")
endif()

add_link_options(LINKER:-z,relro LINKER:-z,now LINKER:-z,noexecstack)
