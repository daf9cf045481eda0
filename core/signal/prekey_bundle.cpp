#include "core/signal/prekey_bundle.h"

#include <algorithm>

#include <session_builder.h>
#include <session_pre_key.h>

#include "core/binary/iq_answer.h"
#include "core/signal/lsc_handles.h"
#include "core/signal/signed_records.h"

namespace wa::signal {

namespace {

const binary::Bytes& bytes_of(const binary::Node& parent, std::string_view tag, std::size_t width,
                              std::string_view where) {
  const binary::Node* n = parent.child(tag);
  if (!n) throw BundleError(std::string(where) + ": missing <" + std::string(tag) + ">");
  const binary::Bytes* b = n->bytes();
  if (!b) throw BundleError(std::string(where) + ": <" + std::string(tag) + "> has no bytes");
  if (b->size() != width)
    throw BundleError(std::string(where) + ": <" + std::string(tag) + "> has " + std::to_string(b->size()) +
                      " bytes, expected " + std::to_string(width));
  return *b;
}

std::uint32_t be(const binary::Bytes& b) {
  std::uint32_t v = 0;
  for (auto c : b) v = (v << 8) | c;
  return v;
}

Key32 key32(const binary::Bytes& b) {
  Key32 k{};
  std::copy(b.begin(), b.end(), k.begin());
  return k;
}

}  // namespace

PreKeyBundle parse_bundle(const binary::Node& user) {
  if (const binary::Node* err = user.child("error")) {
    throw BundleError("bundle: server error " + err->attr_text("code").value_or("?") + " " +
                      err->attr_text("text").value_or(""));
  }
  PreKeyBundle out;
  out.registration_id = be(bytes_of(user, "registration", 4, "bundle"));
  // whatsmeow accepts the keys either directly under <user> or inside <keys>.
  const binary::Node& keys = user.child("keys") ? *user.child("keys") : user;
  out.identity = key32(bytes_of(keys, "identity", 32, "bundle"));
  const binary::Node* skey = keys.child("skey");
  if (!skey) throw BundleError("bundle: missing <skey>");
  out.signed_pre_key_id = be(bytes_of(*skey, "id", 3, "bundle <skey>"));
  out.signed_pre_key = key32(bytes_of(*skey, "value", 32, "bundle <skey>"));
  out.signed_pre_key_signature = bytes_of(*skey, "signature", 64, "bundle <skey>");
  if (const binary::Node* key = keys.child("key")) {
    PreKeyBundle::OneTime pk;
    pk.id = be(bytes_of(*key, "id", 3, "bundle <key>"));
    pk.key = key32(bytes_of(*key, "value", 32, "bundle <key>"));
    out.pre_key = pk;
  }
  return out;
}

std::vector<FetchedBundle> parse_bundle_response(const binary::Node& iq) {
  std::vector<FetchedBundle> out;
  for (auto& [user, jid] : binary::answer_items<BundleError>(iq, {"list"}, "user", kMaxBundles, "bundle")) {
    FetchedBundle fb;
    fb.jid = std::move(jid);
    try {
      fb.bundle = parse_bundle(*user);
    } catch (const BundleError& e) {
      fb.error = e.what();
    }
    out.push_back(std::move(fb));
  }
  return out;
}

void process_bundle(ProtocolStore& store, const Address& to, const PreKeyBundle& bundle) {
  if (bundle.signed_pre_key_signature.size() != 64) throw BundleError("bundle: signature is not 64 bytes");
  signal_context* ctx = store.context();
  auto identity = decode_public_key(ctx, bundle.identity);
  auto spk = decode_public_key(ctx, bundle.signed_pre_key);
  lsc::Ref<ec_public_key> pk;
  if (bundle.pre_key) pk = decode_public_key(ctx, bundle.pre_key->key);
  session_pre_key_bundle* raw = nullptr;
  store.run("create pre-key bundle", [&] {
    return session_pre_key_bundle_create(
        &raw, bundle.registration_id, static_cast<int>(to.device), bundle.pre_key ? bundle.pre_key->id : 0,
        pk.get(), bundle.signed_pre_key_id, spk.get(), bundle.signed_pre_key_signature.data(),
        bundle.signed_pre_key_signature.size(), identity.get());
  });
  lsc::Ref<session_pre_key_bundle> b(raw);
  LscAddress addr(to);
  session_builder* builder_raw = nullptr;
  store.run("create session builder",
            [&] { return session_builder_create(&builder_raw, store.get(), addr.get(), ctx); });
  lsc::SessionBuilder builder(builder_raw);
  store.run("process pre-key bundle",
            [&] { return session_builder_process_pre_key_bundle(builder.get(), b.get()); });
}

}  // namespace wa::signal
