# Third-party libraries, all from Debian 12 packages (deploy/packages.txt lists them).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenSSL 3.0 REQUIRED)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
pkg_check_modules(LIBP11 REQUIRED IMPORTED_TARGET libp11)
pkg_check_modules(MHD IMPORTED_TARGET libmicrohttpd)
pkg_check_modules(QRENCODE REQUIRED IMPORTED_TARGET libqrencode)
pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka)

# The PKCS#11 module used by tests, benchmarks and the local stack.
find_file(QS_SOFTHSM_MODULE libsofthsm2.so
    PATHS /usr/lib/softhsm /usr/lib/x86_64-linux-gnu/softhsm /usr/lib/aarch64-linux-gnu/softhsm
    NO_DEFAULT_PATH)
find_program(QS_SOFTHSM_UTIL softhsm2-util)
