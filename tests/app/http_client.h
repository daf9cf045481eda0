// A tiny blocking HTTP/1.1 client for tests: one request per connection, reads to EOF. Just
// enough to check status codes, headers and bodies of our own server from outside.
#pragma once

#include <map>
#include <string>

namespace wa::test {

struct HttpResult {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
};

// Sends `raw` (a complete request) to 127.0.0.1:port and parses the answer. Throws on socket errors
// or an unparseable status line.
HttpResult http_raw(int port, const std::string& raw);
HttpResult http_request(int port, const std::string& method, const std::string& path,
                        const std::string& body = {}, const std::string& extra_headers = {});

}  // namespace wa::test
