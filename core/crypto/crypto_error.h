#pragma once

#include <string>

#include "common/error.h"

namespace wa::crypto {

// A cryptographic operation failed (bad key, authentication failure, library error). The message
// names the operation and, for OpenSSL failures, the first queued OpenSSL error.
using CryptoError = wa::Error<struct CryptoErrorTag>;

// Throws CryptoError("<what>: <openssl error string>") and clears OpenSSL's error queue.
[[noreturn]] void throw_openssl_error(const std::string& what);

}  // namespace wa::crypto
