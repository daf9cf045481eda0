#define CATCH_CONFIG_MAIN
#include <stdlib.h>

#include <catch2/catch.hpp>

// The fixtures connect as the test cluster's superuser, which row-level security never binds, so
// the `waconnector run` processes they start need the local-demo switch. tests/security starts its
// pods as a waconnector_app member without it (and clears it for them).
static const int kAllowRlsBypass = ::setenv("ALLOW_RLS_BYPASS", "1", 0);
