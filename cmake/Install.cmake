# Install.cmake - where "cmake --install" (or "make install") puts
# things, by the GNU directory variables (CMAKE_INSTALL_BINDIR, ...), so
# a package build sets them with -DCMAKE_INSTALL_PREFIX=/usr and
# friends.  The configuration goes to the absolute
# CMAKE_INSTALL_FULL_SYSCONFDIR, which GNUInstallDirs makes /etc (not
# /usr/etc) when the prefix is /usr, and PREFIX/etc otherwise; it is
# fixed at configure time, so "cmake --install --prefix" does not move
# it (DESTDIR does apply).
#
#   programs          ${CMAKE_INSTALL_BINDIR}
#   man pages         ${CMAKE_INSTALL_MANDIR}/manN, every docs/*.1 *.5 *.8
#   sample config     ${CMAKE_INSTALL_FULL_SYSCONFDIR}/smimegw/smimegw.conf.sample
#                     (never smimegw.conf itself: an upgrade must not
#                     overwrite the operator's file)
#   HSM set-up notes  ${CMAKE_INSTALL_DATADIR}/smimegw/hsm-setup
#
# Include it from the top-level CMakeLists.txt; once the program targets
# exist, call smimegw_install_programs(target...).  The other items are
# installed by the include itself.

include(GNUInstallDirs)

# Installs the given executable targets into the program directory.
function(smimegw_install_programs)
	install(TARGETS ${ARGN} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endfunction()

file(GLOB smimegw_man_pages LIST_DIRECTORIES false
	${PROJECT_SOURCE_DIR}/docs/*.1
	${PROJECT_SOURCE_DIR}/docs/*.5
	${PROJECT_SOURCE_DIR}/docs/*.8)
foreach(page IN LISTS smimegw_man_pages)
	string(REGEX REPLACE "^.*\\.([0-9])$" "\\1" section "${page}")
	install(FILES ${page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()

if(EXISTS ${PROJECT_SOURCE_DIR}/etc/smimegw.conf.sample)
	install(FILES ${PROJECT_SOURCE_DIR}/etc/smimegw.conf.sample
		DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/smimegw)
endif()

install(DIRECTORY ${PROJECT_SOURCE_DIR}/hsm-setup/
	DESTINATION ${CMAKE_INSTALL_DATADIR}/smimegw/hsm-setup
	USE_SOURCE_PERMISSIONS)

# systemd: smimegwd.service (its programs' folder filled in when it is
# installed, so "cmake --install --prefix P" names P/bin), the users
# (sysusers.d) and folders (tmpfiles.d).  The folders are relative to
# the prefix (/usr/lib/systemd/system with -DCMAKE_INSTALL_PREFIX=/usr);
# -DSMIMEGW_SYSTEMD=OFF leaves them out.
option(SMIMEGW_SYSTEMD "install the systemd unit, sysusers.d and tmpfiles.d"
	ON)
set(SMIMEGW_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
	"systemd unit folder, relative to the prefix")
set(SMIMEGW_SYSUSERSDIR "lib/sysusers.d" CACHE STRING
	"sysusers.d folder, relative to the prefix")
set(SMIMEGW_TMPFILESDIR "lib/tmpfiles.d" CACHE STRING
	"tmpfiles.d folder, relative to the prefix")
if(SMIMEGW_SYSTEMD)
	set(smimegw_unit_in ${PROJECT_SOURCE_DIR}/contrib/systemd/smimegwd.service.in)
	set(smimegw_unit ${CMAKE_BINARY_DIR}/contrib/smimegwd.service)
	install(CODE "
		if(IS_ABSOLUTE \"${CMAKE_INSTALL_BINDIR}\")
			set(SMIMEGW_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
		else()
			set(SMIMEGW_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
		endif()
		configure_file(\"${smimegw_unit_in}\" \"${smimegw_unit}\" @ONLY)
	")
	install(FILES ${smimegw_unit} DESTINATION ${SMIMEGW_SYSTEMD_UNITDIR})
	install(FILES ${PROJECT_SOURCE_DIR}/contrib/systemd/sysusers.conf
		DESTINATION ${SMIMEGW_SYSUSERSDIR} RENAME smimegw.conf)
	install(FILES ${PROJECT_SOURCE_DIR}/contrib/systemd/tmpfiles.conf
		DESTINATION ${SMIMEGW_TMPFILESDIR} RENAME smimegw.conf)
endif()
