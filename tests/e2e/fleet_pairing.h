// Many accounts at once on wasim (test_pgload and bench/pgload): pairing every published QR of an
// account not paired yet with a virtual phone of the account's own, and counting logins.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "cluster.h"

namespace wa::e2e {

// Scans the published QRs of unpaired accounts (a few per round: a loaded wasim answers slowly and
// QRs expire; a QR that rotated before its scan completed is scanned again) until `count` accounts
// are paired and connected or `timeout` passed. `phone_of` gives each account's phone number
// (+digits, unique per account). Returns the accounts paired and connected.
std::int64_t pair_published(const hatest::TestDb& db, Wasim& wasim, std::int64_t count,
                            std::chrono::milliseconds timeout,
                            const std::function<std::string(const std::string& business_id)>& phone_of);

// Accounts the pod's /status shows with a logged-in connection (0 while it does not answer).
int logged_in_count(hatest::Replica& pod);

}  // namespace wa::e2e
