// unique_ptr owners for libsignal-protocol-c objects, so every buffer and ref-counted object is
// released on all paths (including exceptions).
#pragma once

#include <memory>

#include <group_cipher.h>
#include <group_session_builder.h>
#include <session_builder.h>
#include <session_cipher.h>
#include <signal_protocol.h>

namespace wa::signal::lsc {

struct BufferFree {
  void operator()(signal_buffer* b) const { signal_buffer_free(b); }
};
using Buffer = std::unique_ptr<signal_buffer, BufferFree>;

// Any signal_type_base-derived object (keys, records, messages, bundles).
template <class T>
struct Unref {
  void operator()(T* p) const { signal_type_unref(reinterpret_cast<signal_type_base*>(p)); }
};
template <class T>
using Ref = std::unique_ptr<T, Unref<T>>;

struct SessionCipherFree {
  void operator()(session_cipher* c) const { session_cipher_free(c); }
};
struct SessionBuilderFree {
  void operator()(session_builder* b) const { session_builder_free(b); }
};
struct GroupCipherFree {
  void operator()(group_cipher* c) const { group_cipher_free(c); }
};
struct GroupSessionBuilderFree {
  void operator()(group_session_builder* b) const { group_session_builder_free(b); }
};
struct IntListFree {
  void operator()(signal_int_list* l) const { signal_int_list_free(l); }
};
using SessionCipher = std::unique_ptr<session_cipher, SessionCipherFree>;
using SessionBuilder = std::unique_ptr<session_builder, SessionBuilderFree>;
using GroupCipher = std::unique_ptr<group_cipher, GroupCipherFree>;
using GroupSessionBuilder = std::unique_ptr<group_session_builder, GroupSessionBuilderFree>;
using IntList = std::unique_ptr<signal_int_list, IntListFree>;

}  // namespace wa::signal::lsc
