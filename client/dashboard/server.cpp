// Dashboard (dashboard.hpp): the routes, their checks (security.hpp) and the SQL behind the
// on-demand pages. Each request borrows one pooled connection; JSON is built by the server
// (jsonb_build_object) so rows pass through without a C++ model of every column.
#include "dashboard.hpp"

#include <optional>
#include <stdexcept>

#include <httplib.h>

#include <taskmill/error.hpp>

#include "assets.hpp"
#include "metrics_server.hpp"
#include "sampler.hpp"
#include "security.hpp"

namespace taskmill::dashboard {

namespace {

// The last parameter of each is --redact-payloads: payloads, results and error texts then
// never leave the database (a DLQ reason is kept when it is one of the server's own words,
// not a handler's error).
constexpr const char* kDlqSql = R"SQL(
SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
         'id', t.id, 'queue', t.queue_name, 'operation', t.operation_id,
         'payload', CASE WHEN $4::boolean THEN NULL ELSE t.payload END,
         'attempts', t.attempts, 'max_attempts', t.max_attempts, 'group', t.task_group_id,
         'key', t.idempotency_key, 'created_at', t.created_at, 'dlq_at', t.dlq_at,
         'reason', CASE WHEN $4::boolean AND t.dlq_reason NOT IN ('expired',
                          'visibility timeout expired on the last attempt', 'max attempts reached')
                        THEN NULL ELSE t.dlq_reason END,
         'last_error', CASE WHEN $4::boolean THEN NULL ELSE t.last_error END)
       ORDER BY t.dlq_at DESC, t.id DESC), '[]')::text
FROM taskmill.list_dlq($1, $2, $3) AS t
)SQL";

constexpr const char* kResultsSql = R"SQL(
SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
         'id', r.id, 'queue', r.queue_name, 'operation', r.operation_id,
         'payload', CASE WHEN $6::boolean THEN NULL ELSE r.payload END,
         'result', CASE WHEN $6::boolean THEN NULL ELSE r.result END,
         'attempts', r.attempts, 'group', r.task_group_id,
         'key', r.idempotency_key, 'created_at', r.created_at, 'scheduled_at', r.scheduled_at,
         'completed_at', r.completed_at)
       ORDER BY r.completed_at DESC, r.id DESC), '[]')::text
FROM taskmill.list_results($1, $2::timestamptz, $3::timestamptz, $4, $5) AS r
)SQL";

constexpr const char* kSchedulesSql = R"SQL(
SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
         'queue', s.queue_name, 'operation', s.operation_id, 'cron', s.cron,
         'timezone', s.timezone, 'payload', CASE WHEN $1::boolean THEN NULL ELSE s.payload END,
         'options', s.options,
         'next_run_at', s.next_run_at, 'last_run_at', s.last_run_at,
         'last_status', s.last_status,
         'last_error', CASE WHEN $1::boolean THEN NULL ELSE s.last_error END,
         'consecutive_failures', s.consecutive_failures)), '[]')::text
FROM taskmill.list_schedules(NULL) AS s
)SQL";

// Content-Security-Policy: nothing but the dashboard's own files, no inline script.
void secure_headers(httplib::Response& res) {
  res.set_header("Content-Security-Policy",
                 "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                 "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("X-Frame-Options", "DENY");
  res.set_header("Cache-Control", "no-store");
}

void json_reply(httplib::Response& res, const std::string& body, int status = 200) {
  res.status = status;
  res.set_content(body, "application/json");
}

void error_reply(httplib::Response& res, int status, const std::string& message) {
  json_reply(res, Json{{"error", message}}.dump(), status);
}

int int_param(const httplib::Request& req, const char* name, int def, int lo, int hi) {
  if (!req.has_param(name)) return def;
  auto v = req.get_param_value(name);
  try {
    std::size_t used = 0;
    int n = std::stoi(v, &used);
    if (used == v.size()) return std::clamp(n, lo, hi);
  } catch (const std::exception&) {
  }
  throw std::invalid_argument(std::string(name) + " must be an integer");
}

std::optional<std::string> text_param(const httplib::Request& req, const char* name) {
  if (!req.has_param(name)) return std::nullopt;
  auto v = req.get_param_value(name);
  if (v.empty()) return std::nullopt;
  return v;
}

RequestHeaders headers_of(const httplib::Request& req) {
  return {req.get_header_value("Host"),          req.get_header_value("Origin"),
          req.get_header_value("Cookie"),        req.get_header_value("X-CSRF-Token"),
          req.get_header_value("Authorization"), req.get_header_value("Content-Type"),
          req.get_header_value("Sec-Fetch-Site")};
}

}  // namespace

struct Dashboard::Impl {
  Client& client;
  DashboardOptions options;
  metrics::Registry registry;
  Guard guard;
  Sampler sampler;
  httplib::Server server;
  int port = 0;
  std::optional<ServingThread> serving;  // last: stopped before the rest goes

  Impl(Client& c, DashboardOptions o, std::set<std::string> hosts)
      : client(c),
        options(std::move(o)),
        guard(options.token, std::move(hosts)),
        sampler(client, registry, options.interval) {}

  // Runs an API handler: database errors become 4xx/5xx JSON replies.
  template <class F>
  void api(httplib::Response& res, F&& body) {
    try {
      body();
    } catch (const std::invalid_argument& e) {
      error_reply(res, 400, e.what());
    } catch (const Error& e) {
      int status = e.code() == ErrorCode::NotFound ? 404
                   : e.sqlstate() == "42501"       ? 403
                   : e.code() == ErrorCode::Connection ? 503
                                                       : 409;
      json_reply(res, Json{{"error", e.what()}, {"sqlstate", e.sqlstate()}}.dump(), status);
    } catch (const std::exception& e) {
      error_reply(res, 500, e.what());
    }
  }

  // The checks every action passes; false (with the reply written) when refused.
  bool allow_action(const httplib::Request& req, httplib::Response& res) {
    auto why = guard.refuse_action(headers_of(req));
    if (why.empty()) return true;
    error_reply(res, 403, why);
    return false;
  }

  Json body_of(const httplib::Request& req) {
    try {
      auto j = Json::parse(req.body);
      if (!j.is_object()) throw std::invalid_argument("the body must be a JSON object");
      return j;
    } catch (const Json::parse_error&) {
      throw std::invalid_argument("the body is not valid JSON");
    }
  }

  // Everything a GET may read but the page's shell (static files) and /api/session.
  bool read_needs_auth(const httplib::Request& req) const {
    if (req.method == "POST") return false;
    if (req.path == "/" || req.path == "/api/session") return false;
    if (req.path == "/metrics") return !options.metrics_public;
    for (auto& a : assets())
      if (req.path == a.path) return false;
    return true;
  }

  void routes();
  void routes_pages_and_session();
  void routes_reads();
  void routes_dlq_actions();
};

void Dashboard::Impl::routes() {
  routes_pages_and_session();
  routes_reads();
  routes_dlq_actions();
}

// The Host and read guards, the page and its assets, /metrics, the session (login, logout).
void Dashboard::Impl::routes_pages_and_session() {
  // Every request: an allowed Host (a page on another name resolving here is refused).
  // Every read but the page's static files and /api/session: the token or a session, when
  // the dashboard has a token (POSTs check their own: actions, login, logout).
  server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    secure_headers(res);
    if (!guard.host_allowed(req.get_header_value("Host"))) {
      error_reply(res, 421, "unknown Host header (start the dashboard with --allow-host NAME:PORT)");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (read_needs_auth(req)) {
      if (auto why = guard.refuse_read(headers_of(req)); !why.empty()) {
        res.set_header("WWW-Authenticate", "Bearer realm=\"taskmill dashboard\"");
        error_reply(res, 401, why);
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  for (auto& a : assets()) {
    std::string path(a.path);
    auto serve = [&a](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(a.body), std::string(a.content_type).c_str());
    };
    server.Get(path == "/index.html" ? "/" : path.c_str(), serve);
    if (path == "/index.html") server.Get("/index.html", serve);
  }

  server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry.expose(), kMetricsContentType);
  });

  server.Get("/api/session", [this](const httplib::Request& req, httplib::Response& res) {
    auto csrf = guard.session_csrf(req.get_header_value("Cookie"));
    json_reply(res, Json{{"read_only", guard.read_only()},
                         {"signed_in", csrf.has_value()},
                         {"csrf", csrf ? Json(*csrf) : Json(nullptr)},
                         {"redact_payloads", options.redact_payloads}}
                        .dump());
  });

  server.Post("/api/login", [this](const httplib::Request& req, httplib::Response& res) {
    api(res, [&] {
      if (guard.read_only()) return error_reply(res, 403, "the dashboard is read-only");
      if (auto why = guard.refuse_origin(headers_of(req)); !why.empty())
        return error_reply(res, 403, why);
      auto body = body_of(req);
      auto session = guard.login(body.value("token", ""));
      if (!session) {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));  // slows guessing
        return error_reply(res, 403, "wrong access token");
      }
      res.set_header("Set-Cookie", std::string(Guard::kCookie) + "=" + session->first +
                                       "; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200");
      json_reply(res, Json{{"csrf", session->second}}.dump());
    });
  });

  server.Post("/api/logout", [this](const httplib::Request& req, httplib::Response& res) {
    if (auto why = guard.refuse_origin(headers_of(req)); !why.empty())
      return error_reply(res, 403, why);
    guard.logout(req.get_header_value("Cookie"));
    res.set_header("Set-Cookie", std::string(Guard::kCookie) +
                                     "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    json_reply(res, "{}");
  });
}

// What the page reads: overview, health, the DLQ, schedules, results.
void Dashboard::Impl::routes_reads() {
  server.Get("/api/overview", [this](const httplib::Request&, httplib::Response& res) {
    json_reply(res, sampler.overview());
  });

  server.Get("/api/health", [this](const httplib::Request&, httplib::Response& res) {
    json_reply(res, sampler.health());
  });

  server.Get("/api/dlq", [this](const httplib::Request& req, httplib::Response& res) {
    api(res, [&] {
      int limit = int_param(req, "limit", 50, 1, 500);
      int offset = int_param(req, "offset", 0, 0, 1 << 30);
      auto lease = client.acquire();
      // One row more than the page says whether there is a next page.
      auto r = lease->exec(kDlqSql, text_param(req, "queue"), limit + 1, offset,
                           options.redact_payloads);
      Json rows = Json::parse(r.get(0, 0));
      bool more = static_cast<int>(rows.size()) > limit;
      if (more) rows.erase(rows.end() - 1);
      json_reply(res, Json{{"rows", rows}, {"limit", limit}, {"offset", offset}, {"more", more}}.dump());
    });
  });

  server.Get("/api/schedules", [this](const httplib::Request&, httplib::Response& res) {
    api(res, [&] {
      auto lease = client.acquire();
      json_reply(res, std::string(lease->exec(kSchedulesSql, options.redact_payloads).get(0, 0)));
    });
  });

  server.Get("/api/results", [this](const httplib::Request& req, httplib::Response& res) {
    api(res, [&] {
      int limit = int_param(req, "limit", 50, 1, 500);
      int offset = int_param(req, "offset", 0, 0, 1 << 30);
      auto lease = client.acquire();
      Result r;
      try {
        r = lease->exec(kResultsSql, text_param(req, "queue"), text_param(req, "after"),
                        text_param(req, "before"), limit + 1, offset, options.redact_payloads);
      } catch (const Error& e) {
        if (e.sqlstate().rfind("22", 0) == 0)  // a malformed time
          throw std::invalid_argument("after / before must be timestamps (2026-01-02T03:04:05Z)");
        throw;
      }
      Json rows = Json::parse(r.get(0, 0));
      bool more = static_cast<int>(rows.size()) > limit;
      if (more) rows.erase(rows.end() - 1);
      json_reply(res, Json{{"rows", rows}, {"limit", limit}, {"offset", offset}, {"more", more}}.dump());
    });
  });
}

// What the page changes: the DLQ (requeue, purge).
void Dashboard::Impl::routes_dlq_actions() {
  server.Post("/api/dlq/requeue", [this](const httplib::Request& req, httplib::Response& res) {
    if (!allow_action(req, res)) return;
    api(res, [&] {
      auto body = body_of(req);
      if (!body["ids"].is_array() || body["ids"].empty())
        throw std::invalid_argument("ids must be a non-empty array of task ids");
      Json done = Json::array(), failed = Json::array();
      auto lease = client.acquire();
      for (auto& id : body["ids"]) {
        if (!id.is_number_integer()) throw std::invalid_argument("ids must be integers");
        try {
          lease->exec("SELECT taskmill.requeue_from_dlq($1)", id.get<long long>());
          done.push_back(id);
        } catch (const Error& e) {
          failed.push_back({{"id", id}, {"error", e.what()}});
        }
      }
      json_reply(res, Json{{"requeued", done}, {"failed", failed}}.dump(),
                 done.empty() ? 409 : 200);
    });
  });

  server.Post("/api/dlq/purge", [this](const httplib::Request& req, httplib::Response& res) {
    if (!allow_action(req, res)) return;
    api(res, [&] {
      auto body = body_of(req);
      std::string queue = body.value("queue", "");
      if (queue.empty()) throw std::invalid_argument("queue is required");
      // The page asks the user to type the queue's name; the server checks it too.
      if (body.value("confirm", "") != queue)
        throw std::invalid_argument("confirm must repeat the queue name");
      auto lease = client.acquire();
      auto r = lease->exec("SELECT taskmill.purge_dlq($1)", queue);
      json_reply(res, Json{{"deleted", r.get_int64(0, 0)}, {"queue", queue}}.dump());
    });
  });
}

Dashboard::Dashboard(Client& client, DashboardOptions options) {
  const ListenAddress l = options.listen;  // a copy: options is moved below
  if (!options.token && !is_loopback(l.host))
    throw std::invalid_argument(
        "refusing to listen on " + l.text() +
        " without an access token: whoever reaches it would read every queue's payloads, "
        "results and errors (give a token, or listen on a loopback address)");
  std::set<std::string> hosts;
  auto add_port = [&](const std::string& h) { hosts.insert(h + ":" + std::to_string(l.port)); };
  hosts.insert(l.text());
  if (is_loopback(l.host) || l.host == "0.0.0.0" || l.host == "::") {
    add_port("localhost");
    add_port("127.0.0.1");
    add_port("[::1]");
  }
  for (auto& h : options.allowed_hosts) hosts.insert(h);
  impl_ = std::make_unique<Impl>(client, std::move(options), std::move(hosts));
  impl_->routes();
  if (!impl_->server.bind_to_port(l.host, l.port))
    throw std::runtime_error("cannot listen on " + l.text());
  impl_->port = l.port;
  impl_->serving.emplace(impl_->server);
}

Dashboard::~Dashboard() = default;

int Dashboard::port() const noexcept { return impl_->port; }
metrics::Registry& Dashboard::registry() noexcept { return impl_->registry; }

}  // namespace taskmill::dashboard
