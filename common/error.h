// The project's plain exception types. Each failure domain gets a distinct type (so a caller can
// catch exactly that domain) that is otherwise a standard exception with its constructors; one
// line declares it where the domain lives:
//   using UsyncError = wa::Error<struct UsyncErrorTag>;  // a std::runtime_error
//   using UploadError = wa::Error<struct UploadErrorTag, std::invalid_argument>;
// Types that carry more than a message (a close code, an HTTP status) stay classes of their own.
#pragma once

#include <stdexcept>

namespace wa {

template <class Tag, class Base = std::runtime_error>
class Error : public Base {
 public:
  using Base::Base;
};

}  // namespace wa
