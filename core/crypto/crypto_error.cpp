#include "core/crypto/crypto_error.h"

#include <openssl/err.h>

namespace wa::crypto {

void throw_openssl_error(const std::string& what) {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  std::string msg = what;
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    msg += ": ";
    msg += buf;
  }
  throw CryptoError(msg);
}

}  // namespace wa::crypto
