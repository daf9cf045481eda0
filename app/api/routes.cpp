#include "app/api/routes.h"
#include "common/split.h"

#include <charconv>
#include <exception>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "app/api/json_writer.h"
#include "app/api/request_json.h"
#include "app/api/webhook_sign.h"
#include "app/inbox_json.h"
#include "common/log.h"
#include "common/utc_time.h"
#include "store/accounts.h"
#include "store/connection_pool.h"
#include "store/errors.h"
#include "store/inbox.h"
#include "store/logout_requests.h"
#include "store/notify.h"
#include "store/outbox.h"
#include "store/pairing.h"
#include "store/tokens.h"
#include "store/webhooks.h"

namespace wa::app::api {
namespace {

std::string iso(std::int64_t ms) {
  return fmt::format("{}.{:03}Z", format_utc(ms, "%Y-%m-%dT%H:%M:%S"), static_cast<int>(ms % 1000));
}
std::optional<std::string> iso(const std::optional<std::int64_t>& ms) {
  if (!ms) return std::nullopt;
  return iso(*ms);
}

HttpResponse json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse method_not_allowed(const HttpRequest& req, std::string_view allow) {
  auto r = HttpResponse::json_error(405, fmt::format("method {} not allowed on {}", req.method, req.path));
  r.headers = fmt::format("Allow: {}\r\n", allow);
  return r;
}

HttpResponse unavailable(const HttpRequest& req, const std::exception& e) {
  // The reason goes to the log only: libpq's text names database hosts and ports.
  wa::log::warn("api_database_error").kv("method", req.method).kv("path", req.path).kv("error", e.what());
  auto r = HttpResponse::json_error(503, "database unavailable; try again", "unavailable");
  r.headers = "Retry-After: 1\r\n";
  return r;
}

HttpResponse from_error(const RequestError& e) {
  return HttpResponse::json_error(e.status, e.message, e.code);
}

// A trailing slash is an empty segment (no route has one, so such a path is not found).
std::vector<std::string_view> split_path(std::string_view p) {
  return split(p, '/', TrailingField::keep);
}

// The value of `name` in a query string; nullopt when absent.
std::optional<std::string_view> query_param(std::string_view q, std::string_view name) {
  while (!q.empty()) {
    const auto amp = q.find('&');
    const auto part = q.substr(0, amp);
    const auto eq = part.find('=');
    if (part.substr(0, eq) == name)
      return eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::optional<std::int64_t> parse_nonneg(std::string_view s, std::int64_t max) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size() || v < 0 || v > max) return std::nullopt;
  return v;
}

std::string account_json(const store::Account& a) {
  return JsonObject()
      .str("business_id", a.business_id)
      .opt_str("jid", a.jid)
      .str("status", a.status)
      .opt_str("leader_pod", a.assigned_pod)
      .num("epoch", a.lease_epoch)
      .opt_str("previous_pod", a.previous_pod)
      .num("failover_count", a.failover_count)
      .opt_str("last_failover_at", iso(a.last_failover_at_ms))
      .opt_str("last_connected_at", iso(a.last_connected_at_ms))
      .opt_str("disconnected_at", iso(a.disconnected_at_ms))
      .opt_str("disconnect_reason", a.disconnect_reason)
      .num("health_score", static_cast<std::int64_t>(a.health_score))
      .str("created_at", iso(a.created_at_ms))
      .str("updated_at", iso(a.updated_at_ms))
      .done();
}

std::string message_json(const store::OutboxMessage& m) {
  JsonObject o;
  o.str("id", m.id).str("to", m.recipient).str("status", m.status).opt_str("reply_to", m.reply_to);
  if (m.error) o.str("error", *m.error);
  return o.str("created_at", iso(m.created_at_ms)).str("updated_at", iso(m.updated_at_ms)).done();
}

std::string inbox_json(const store::InboxMessage& m) {
  return inbox_message_json(m).str("cursor", std::to_string(m.seq)).done();
}

std::string pair_code_json(const store::PairCodeRequest& r) {
  JsonObject o;
  o.num("id", r.id).str("state", r.state);
  if (r.code) o.str("code", *r.code);
  if (r.error) o.str("error", *r.error);
  return o.done();
}

std::string webhook_json(const store::Webhook& w, bool with_secret) {
  std::string events = "[";
  for (const auto& e : w.events) {
    if (events.size() > 1) events += ',';
    append_json_string(events, e);
  }
  events += "]";
  JsonObject o;
  o.str("id", w.id).str("url", w.url).raw("events", events);
  if (with_secret) o.str("secret", w.secret);
  return o.str("created_at", iso(w.created_at_ms))
      .opt_str("disabled_at", iso(w.disabled_at_ms))
      .opt_str("disabled_reason", w.disabled_reason)
      .opt_str("previous_secret_expires_at", iso(w.previous_secret_expires_at_ms))
      .done();
}

std::string delivery_json(const store::Delivery& d) {
  return JsonObject()
      .num("id", d.id)
      .str("event_id", d.event_id)
      .str("event_type", d.event_type)
      .str("state", d.state)
      .num("attempts", d.attempts)
      .str("next_attempt_at", iso(d.next_attempt_at_ms))
      .opt_num("last_status", d.last_status)
      .opt_str("last_error", d.last_error)
      .str("created_at", iso(d.created_at_ms))
      .str("updated_at", iso(d.updated_at_ms))
      .done();
}

bool allows(std::string_view allow, const std::string& method) {
  const std::string_view m = method == "HEAD" ? std::string_view("GET") : std::string_view(method);
  while (!allow.empty()) {
    const auto comma = allow.find(',');
    auto part = allow.substr(0, comma);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part == m) return true;
    if (comma == std::string_view::npos) break;
    allow.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

Api::Api(std::shared_ptr<store::ConnectionPool> pool, std::string admin_token,
         std::shared_ptr<EventStreams> events, DataPools data_pools)
    : pool_(std::move(pool)),
      events_(std::move(events)),
      data_pools_(std::move(data_pools)),
      auth_(std::move(admin_token),
            [pool = pool_](std::string_view token) {
              return pool->with([&](pg::Connection& c) { return store::verify_token(c, token); });
            }),
      pairing_([pool = pool_](const std::string& business_id) {
        return pool->with([&](pg::Connection& c) { return store::read_pairing_state(c, business_id); });
      }) {}

std::shared_ptr<store::ConnectionPool> Api::data_pool(const std::string& business) const {
  return data_pools_ ? data_pools_(business) : pool_;
}

// DELETE .../session: the account's leader logs the device out (app/api/logout_responder.h); the
// answer waits for its outcome a while (a logout takes the leader about a second), else 202.
HttpResponse Api::log_out(const std::string& business) const {
  const auto id = pool_->with([&](pg::Connection& c) -> std::variant<int, std::int64_t> {
    const auto a = store::get_account(c, business);
    if (!a) return 404;
    if (!a->jid || a->status == "logged_out") return 409;
    return store::request_logout(c, business);
  });
  if (const auto* code = std::get_if<int>(&id)) {
    if (*code == 404)
      return HttpResponse::json_error(404, fmt::format("business {} is not registered", business));
    return HttpResponse::json_error(409, "the account has no linked device to log out", "not_linked");
  }
  const auto request = std::get<std::int64_t>(id);
  std::optional<store::LogoutRequest> r;
  for (int i = 0; i < kLogoutWaitSteps; ++i) {
    r = pool_->with([&](pg::Connection& c) { return store::get_logout_request(c, business, request); });
    if (r && r->state != "pending") break;
    std::this_thread::sleep_for(kLogoutWaitStep);
  }
  if (r && r->state == "failed")
    return HttpResponse::json_error(502, r->error.value_or("the leader could not log out"), "logout_failed");
  JsonObject o;
  o.num("id", request).str("state", r ? r->state : "pending");
  return json(r && r->state == "done" ? 200 : 202, o.done());
}

namespace {

enum class Kind {
  account,
  send,
  message,
  inbox,
  events,
  session,
  qr,
  pair_code,
  pair_code_get,
  webhooks,
  webhook,
  deliveries,
  redeliver,
  rotate_secret
};

// /v1/accounts/{business_id}/...: the segment count and the fixed segments at 2, 4 and 6 (empty:
// an id there, or no segment); the other segments are ids.
struct Route {
  std::size_t segments;
  std::string_view at2, at4, at6;
  Kind kind;
  std::string_view allow;
};
constexpr Route kRoutes[] = {
    {2, "", "", "", Kind::account, "GET"},
    {3, "messages", "", "", Kind::send, "POST"},
    {4, "messages", "", "", Kind::message, "GET"},
    {3, "inbox", "", "", Kind::inbox, "GET"},
    {3, "events", "", "", Kind::events, "GET"},
    {3, "session", "", "", Kind::session, "DELETE"},
    {3, "qr", "", "", Kind::qr, "GET"},
    {3, "pair-code", "", "", Kind::pair_code, "POST"},
    {4, "pair-code", "", "", Kind::pair_code_get, "GET"},
    {3, "webhooks", "", "", Kind::webhooks, "GET, POST"},
    {4, "webhooks", "", "", Kind::webhook, "GET, DELETE"},
    {5, "webhooks", "rotate-secret", "", Kind::rotate_secret, "POST"},
    {5, "webhooks", "deliveries", "", Kind::deliveries, "GET"},
    {7, "webhooks", "deliveries", "redeliver", Kind::redeliver, "POST"},
};

const Route* match_route(const std::vector<std::string_view>& segs) {
  // (a fixed segment is only named below the route's segment count: no index past the end)
  const auto fixed = [&](std::size_t i, std::string_view want) { return want.empty() || segs[i] == want; };
  for (const auto& r : kRoutes)
    if (segs.size() == r.segments && fixed(2, r.at2) && fixed(4, r.at4) && fixed(6, r.at6)) return &r;
  return nullptr;
}

}  // namespace

HttpResponse Api::handle(const HttpRequest& req) const {
  auto who = auth_.authenticate(req);
  if (auto* r = std::get_if<HttpResponse>(&who)) return std::move(*r);
  const auto& principal = std::get<Principal>(who);

  constexpr std::string_view kRoot = "/v1/";
  const auto segs =
      split_path(std::string_view(req.path).substr(req.path.rfind(kRoot, 0) == 0 ? kRoot.size() : 0));
  const auto not_found = [&] {
    return HttpResponse::json_error(404, fmt::format("no such endpoint: {}", req.path));
  };
  if (segs.empty() || segs[0] != "accounts") return not_found();
  const auto is = [&](std::string_view m) { return req.method == m || (m == "GET" && req.method == "HEAD"); };

  try {
    if (segs.size() == 1) {  // /v1/accounts
      if (!is("GET") && !is("POST")) return method_not_allowed(req, "GET, POST");
      if (auto denied = Authenticator::require_admin(principal)) return *denied;
      if (is("GET")) {
        const auto all = pool_->with([](pg::Connection& c) { return store::list_accounts(c); });
        std::string arr = "[";
        for (const auto& a : all) arr += (arr.size() > 1 ? "," : "") + account_json(a);
        return json(200, JsonObject().raw("accounts", arr + "]").done());
      }
      auto body = parse_register_account(req.body);
      if (auto* e = std::get_if<RequestError>(&body)) return from_error(*e);
      const auto& b = std::get<RegisterAccountBody>(body);
      try {
        const auto a =
            pool_->with([&](pg::Connection& c) { return store::add_account(c, b.business_id, b.jid); });
        auto r = json(201, account_json(a));
        r.headers = fmt::format("Location: /v1/accounts/{}\r\n", a.business_id);
        return r;
      } catch (const store::AlreadyExists& e) {
        return HttpResponse::json_error(409, e.what(), "already_exists");
      } catch (const store::KeyCollision& e) {
        return HttpResponse::json_error(409, "the account's lock key collides with another account's",
                                        "key_collision");
      }
    }

    const std::string business(segs[1]);
    // Which shape and methods, before anything about the business is looked at.
    const auto* route = match_route(segs);
    if (route == nullptr) return not_found();
    const auto kind = route->kind;
    const auto allow = route->allow;
    if (!allows(allow, req.method)) return method_not_allowed(req, allow);
    // A business token gets the same 403 for every other id, registered, unknown or malformed.
    if (auto denied = Authenticator::authorize(principal, business)) return *denied;
    if (auto e = store::validate_business_id(business); !e.empty())
      return HttpResponse::json_error(400, fmt::format("bad business id: {}", e));
    const auto unknown = [&] {
      return HttpResponse::json_error(404, fmt::format("business {} is not registered", business));
    };

    switch (kind) {
      case Kind::account: {
        const auto a = pool_->with([&](pg::Connection& c) { return store::get_account(c, business); });
        if (!a) return unknown();
        return json(200, account_json(*a));
      }
      case Kind::send: {
        std::optional<std::string> key;
        if (req.has_idempotency_key) {
          if (auto e = validate_idempotency_key(req.idempotency_key); !e.empty())
            return HttpResponse::json_error(400, e, "invalid_header");
          key = req.idempotency_key;
        }
        auto body = parse_send_message(req.body);
        if (auto* e = std::get_if<RequestError>(&body)) return from_error(*e);
        const auto& b = std::get<SendMessageBody>(body);
        store::EnqueueRequest q;
        q.business_id = business;
        q.recipient = b.to;
        q.text = b.text;
        q.idempotency_key = key;
        q.reply_to = b.reply_to;
        store::Enqueued done;
        try {
          const auto data = data_pool(business);
          done = data->with([&](pg::Connection& c) { return store::enqueue(c, q); });
          // A tenant database's NOTIFY reaches no pod (they LISTEN on the control database only):
          // wake the leader's outbox dispatcher there.
          if (data != pool_ && done.created)
            pool_->with([&](pg::Connection& c) {
              c.exec("wake the outbox dispatcher", "SELECT pg_notify($1, $2)",
                     {std::string(store::kOutboxChannel), business});
            });
        } catch (const store::NotFound&) {
          return unknown();
        } catch (const store::InvalidMessage& e) {
          return HttpResponse::json_error(400, e.what(), "invalid_field");
        } catch (const store::AlreadyExists& e) {
          return HttpResponse::json_error(409, e.what(), "already_exists");
        }
        if (!done.created && !done.same_request)
          return HttpResponse::json_error(
              422,
              "this Idempotency-Key was used for a different request (another recipient, text or reply_to)",
              "idempotency_key_reused");
        auto r = json(202, JsonObject().str("id", done.message.id).str("status", done.message.status).done());
        r.headers = fmt::format("Location: /v1/accounts/{}/messages/{}\r\n", business, done.message.id);
        if (!done.created) r.headers += "Idempotent-Replayed: true\r\n";
        return r;
      }
      case Kind::message: {
        const std::string id(segs[3]);
        if (auto e = store::validate_message_id(id); !e.empty()) return HttpResponse::json_error(400, e);
        const auto found =
            data_pool(business)->with([&](pg::Connection& c) -> std::variant<bool, store::OutboxMessage> {
              if (!store::get_account(c, business)) return false;
              auto m = store::find_outbox(c, business, id);
              if (!m) return true;
              return std::move(*m);
            });
        if (auto* m = std::get_if<store::OutboxMessage>(&found)) return json(200, message_json(*m));
        if (!std::get<bool>(found)) return unknown();
        return HttpResponse::json_error(404, fmt::format("no message {} for business {}", id, business));
      }
      case Kind::inbox: {
        std::int64_t after = 0;
        int limit = kDefaultInboxLimit;
        if (auto a = query_param(req.query, "after")) {
          auto v = parse_nonneg(*a, INT64_MAX);
          if (!v)
            return HttpResponse::json_error(400, "after must be a cursor from an earlier answer (digits)");
          after = *v;
        }
        if (auto l = query_param(req.query, "limit")) {
          auto v = parse_nonneg(*l, kMaxInboxLimit);
          if (!v || *v < 1)
            return HttpResponse::json_error(400, fmt::format("limit must be 1-{}", kMaxInboxLimit));
          limit = static_cast<int>(*v);
        }
        const auto rows = data_pool(business)->with(
            [&](pg::Connection& c) -> std::optional<std::vector<store::InboxMessage>> {
              if (!store::get_account(c, business)) return std::nullopt;
              return store::list_inbox(c, business, after, limit);
            });
        if (!rows) return unknown();
        std::string arr = "[";
        for (const auto& m : *rows) arr += (arr.size() > 1 ? "," : "") + inbox_json(m);
        arr += "]";
        const auto next = rows->empty() ? after : rows->back().seq;
        return json(200, JsonObject().raw("messages", arr).str("next", std::to_string(next)).done());
      }
      case Kind::events:
        if (!events_) return HttpResponse::json_error(503, "event streams are not enabled on this pod");
        return events_->open(business, req);
      case Kind::session: return log_out(business);
      case Kind::qr: return handle_qr_request(req, pairing_);
      case Kind::pair_code: {
        auto body = parse_pair_code(req.body);
        if (auto* e = std::get_if<RequestError>(&body)) return from_error(*e);
        const auto& b = std::get<PairCodeBody>(body);
        const auto id = pool_->with([&](pg::Connection& c) -> std::optional<std::int64_t> {
          if (!store::get_account(c, business)) return std::nullopt;
          return store::insert_pair_code_request(c, business, b.phone, b.push);
        });
        if (!id) return unknown();
        auto r = json(202, JsonObject().num("id", *id).str("state", "pending").done());
        r.headers = fmt::format("Location: /v1/accounts/{}/pair-code/{}\r\n", business, *id);
        return r;
      }
      case Kind::webhooks: {
        if (is("GET")) {
          const auto list =
              data_pool(business)->with([&](pg::Connection& c) -> std::optional<std::vector<store::Webhook>> {
                if (!store::get_account(c, business)) return std::nullopt;
                return store::list_webhooks(c, business);
              });
          if (!list) return unknown();
          std::string arr = "[";
          for (const auto& w : *list) arr += (arr.size() > 1 ? "," : "") + webhook_json(w, false);
          return json(200, JsonObject().raw("webhooks", arr + "]").done());
        }
        auto body = parse_webhook(req.body);
        if (auto* e = std::get_if<RequestError>(&body)) return from_error(*e);
        const auto& b = std::get<WebhookBody>(body);
        try {
          const auto w = data_pool(business)->with([&](pg::Connection& c) {
            return store::create_webhook(c, business, b.url, b.events,
                                         b.secret.value_or(generate_webhook_secret()));
          });
          auto r = json(201, webhook_json(w, true));
          r.headers = fmt::format("Location: /v1/accounts/{}/webhooks/{}\r\n", business, w.id);
          return r;
        } catch (const store::NotFound&) {
          return unknown();
        } catch (const store::StoreError& e) {
          return HttpResponse::json_error(409, e.what(), "limit_reached");
        }
      }
      case Kind::webhook:
      case Kind::deliveries:
      case Kind::redeliver:
      case Kind::rotate_secret: {
        const std::string id(segs[3]);
        std::optional<RotateSecretBody> rotation;
        if (kind == Kind::rotate_secret) {
          auto body = parse_rotate_secret(req.body);
          if (auto* e = std::get_if<RequestError>(&body)) return from_error(*e);
          rotation = std::get<RotateSecretBody>(body);
        }
        const auto found =
            data_pool(business)->with([&](pg::Connection& c) -> std::variant<bool, HttpResponse> {
              if (!store::get_account(c, business)) return false;
              auto w = store::get_webhook(c, business, id);
              if (!w) return true;
              if (kind == Kind::webhook && is("GET")) return json(200, webhook_json(*w, false));
              if (kind == Kind::webhook) {
                store::delete_webhook(c, business, id);
                return json(204, "");
              }
              if (rotation) {
                const auto rotated = store::rotate_webhook_secret(
                    c, business, id, rotation->secret.value_or(generate_webhook_secret()),
                    rotation->overlap_seconds * 1000);
                if (!rotated) return true;
                return json(200, webhook_json(*rotated, true));
              }
              if (kind == Kind::deliveries) {
                int limit = kDefaultInboxLimit;
                if (auto l = query_param(req.query, "limit")) {
                  auto v = parse_nonneg(*l, kMaxInboxLimit);
                  if (!v || *v < 1)
                    return HttpResponse::json_error(400, fmt::format("limit must be 1-{}", kMaxInboxLimit));
                  limit = static_cast<int>(*v);
                }
                std::string arr = "[";
                for (const auto& d : store::list_deliveries(c, business, id, limit))
                  arr += (arr.size() > 1 ? "," : "") + delivery_json(d);
                return json(200, JsonObject().raw("deliveries", arr + "]").done());
              }
              const auto did = parse_nonneg(segs[5], INT64_MAX);
              if (!did) return HttpResponse::json_error(400, "delivery id must be digits");
              if (!store::redeliver(c, business, id, *did))
                return HttpResponse::json_error(404, fmt::format("no delivery {} of webhook {}", *did, id));
              return json(202, JsonObject().num("id", *did).str("state", "pending").done());
            });
        if (auto* r = std::get_if<HttpResponse>(&found)) return std::move(*r);
        if (!std::get<bool>(found)) return unknown();
        return HttpResponse::json_error(404, fmt::format("no webhook {} for business {}", id, business));
      }
      case Kind::pair_code_get: {
        const auto id = parse_nonneg(segs[3], INT64_MAX);
        if (!id) return HttpResponse::json_error(400, "pair-code request id must be digits");
        const auto found = pool_->with([&](pg::Connection& c) -> std::variant<bool, store::PairCodeRequest> {
          if (!store::get_account(c, business)) return false;
          pg::TenantScope tenant(c, business);  // row-level security: read by id within the business
          auto r = store::get_pair_code_request(c, *id);
          if (!r || r->business_id != business) return true;
          return std::move(*r);
        });
        if (auto* r = std::get_if<store::PairCodeRequest>(&found)) return json(200, pair_code_json(*r));
        if (!std::get<bool>(found)) return unknown();
        return HttpResponse::json_error(
            404, fmt::format("no pair-code request {} for business {}", *id, business));
      }
    }
  } catch (const pg::Error& e) {
    return unavailable(req, e);
  } catch (const store::StoreError& e) {
    return HttpResponse::json_error(400, e.what());
  }
  return not_found();
}

void register_api_routes(HttpServer& server, std::shared_ptr<const Api> api) {
  for (const char* m : {"GET", "POST", "PUT", "PATCH", "DELETE"})
    server.add_route(m, "/v1/", [api](const HttpRequest& req) { return api->handle(req); });
}

}  // namespace wa::app::api
