// Errors of the store layer that callers act on (as opposed to pg::Error, a failed statement).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/error.h"

namespace wa::store {

// Base of every store-level refusal; what() is a complete sentence for an operator.
using StoreError = wa::Error<struct StoreErrorTag>;

// The schema is missing migrations, is newer than this binary, or an applied migration changed.
using SchemaError = wa::Error<struct SchemaErrorTag, StoreError>;

// add_account for a business_id that is already registered.
using AlreadyExists = wa::Error<struct AlreadyExistsTag, StoreError>;

// An account that is not registered.
using NotFound = wa::Error<struct NotFoundTag, StoreError>;

// The lock key of a new/changed account equals the key of another account: both would share one
// advisory lock, so one pod would lead both and mutual exclusion per account is gone.
class KeyCollision : public StoreError {
 public:
  KeyCollision(std::string message, std::string other_business_id, std::int64_t lock_key)
      : StoreError(std::move(message)), other_business_id_(std::move(other_business_id)), lock_key_(lock_key) {}
  const std::string& other_business_id() const { return other_business_id_; }
  std::int64_t lock_key() const { return lock_key_; }

 private:
  std::string other_business_id_;
  std::int64_t lock_key_;
};

// The --lock-keys of this process differs from the cluster-wide mode stored in wa_settings.
using LockKeyModeMismatch = wa::Error<struct LockKeyModeMismatchTag, StoreError>;

// A fenced write whose lease epoch is no longer the account's current one: another pod has taken
// the account over (or the account is gone). The write was not applied.
class EpochMoved : public StoreError {
 public:
  EpochMoved(std::string message, std::string business_id, std::int64_t held, std::optional<std::int64_t> current)
      : StoreError(std::move(message)), business_id_(std::move(business_id)), held_(held), current_(current) {}
  const std::string& business_id() const { return business_id_; }
  std::int64_t held_epoch() const { return held_; }
  // nullopt when the account row no longer exists.
  std::optional<std::int64_t> current_epoch() const { return current_; }

 private:
  std::string business_id_;
  std::int64_t held_;
  std::optional<std::int64_t> current_;
};

}  // namespace wa::store
