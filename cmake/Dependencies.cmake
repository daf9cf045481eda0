# All third-party packages come from Debian 12 (scripts/install-deps.sh).
find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(PostgreSQL REQUIRED)
find_package(Protobuf REQUIRED)
find_package(fmt REQUIRED)
find_package(ZLIB REQUIRED)
find_package(prometheus-cpp CONFIG REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(SIGNAL REQUIRED IMPORTED_TARGET libsignal-protocol-c)
pkg_check_modules(QRENCODE REQUIRED IMPORTED_TARGET libqrencode)
pkg_check_modules(PNG REQUIRED IMPORTED_TARGET libpng)

# Standalone Asio ships no CMake or pkg-config file.
find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
add_library(wa_asio INTERFACE)
target_include_directories(wa_asio SYSTEM INTERFACE ${ASIO_INCLUDE_DIR})
# ASIO_DISABLE_STD_ALIGNED_ALLOC: asio decides between aligned_alloc and operator new per translation
# unit from whether libstdc++'s config was seen before asio's, so a file that includes asio first gets
# the other inline aligned_new/aligned_delete (an ODR split ASan reports as alloc-dealloc-mismatch).
# One choice for every file.
target_compile_definitions(wa_asio INTERFACE ASIO_STANDALONE ASIO_NO_DEPRECATED ASIO_DISABLE_STD_ALIGNED_ALLOC)
target_link_libraries(wa_asio INTERFACE Threads::Threads OpenSSL::SSL OpenSSL::Crypto)

# civetweb (brought by prometheus-cpp-dev) is our HTTP server for /health, /ready, /metrics,
# the API and wasim's admin API.
find_path(CIVETWEB_INCLUDE_DIR civetweb.h REQUIRED)
find_library(CIVETWEB_LIBRARY civetweb REQUIRED)
add_library(wa_civetweb INTERFACE)
target_include_directories(wa_civetweb SYSTEM INTERFACE ${CIVETWEB_INCLUDE_DIR})
target_link_libraries(wa_civetweb INTERFACE ${CIVETWEB_LIBRARY} Threads::Threads)

if(WACONN_TESTS)
  find_package(Catch2 2 REQUIRED)
  include(CTest)
  include(Catch)
endif()
