// Who may read and change things through the dashboard. Without an access token the
// dashboard is read-only, and every local user reads it (it listens on loopback only). With
// one, a browser trades the token for a session (POST /api/login): an HttpOnly
// SameSite=Strict cookie plus a per-session CSRF token that every action sends back in
// X-CSRF-Token; every read needs the session too. Every request must name an allowed Host
// (no DNS rebinding); every action must come from the dashboard's own Origin with a JSON
// body (so no plain HTML form of another site can post one). Scripts (and Prometheus) may
// send "Authorization: Bearer TOKEN" instead of a session.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace taskmill::dashboard {

struct RequestHeaders {
  std::string host, origin, cookie, csrf, authorization, content_type, sec_fetch_site;
};

class Guard {
 public:
  // token: std::nullopt = read-only. allowed_hosts: "host:port" values of the Host header.
  Guard(std::optional<std::string> token, std::set<std::string> allowed_hosts);

  bool read_only() const noexcept { return !token_; }
  bool host_allowed(const std::string& host) const;

  // A new session for a correct token: {session id, csrf token}; nullopt otherwise.
  std::optional<std::pair<std::string, std::string>> login(const std::string& token);
  // The CSRF token of the request's session cookie, if it names a live session.
  std::optional<std::string> session_csrf(const std::string& cookie_header);
  void logout(const std::string& cookie_header);

  // Why a read (an API GET, /metrics) is refused ("" = allowed): never without a token;
  // with one, the bearer token or a live session cookie is needed.
  std::string refuse_read(const RequestHeaders& h);
  // Why an action request is refused ("" = allowed). Checks Origin, content type, then the
  // bearer token or the session cookie + CSRF token.
  std::string refuse_action(const RequestHeaders& h);
  // The same without the session part (for /api/login itself).
  std::string refuse_origin(const RequestHeaders& h) const;

  static constexpr const char* kCookie = "taskmill_session";
  static constexpr std::chrono::hours kSessionLifetime{12};

 private:
  struct Session {
    std::string csrf;
    std::chrono::steady_clock::time_point expires;
  };
  std::optional<std::string> session_id(const std::string& cookie_header) const;

  std::optional<std::string> token_;
  std::set<std::string> allowed_hosts_;
  std::mutex mu_;
  std::map<std::string, Session> sessions_;
};

// 32 random bytes from the kernel, as 64 hex digits.
std::string random_token();
// Equality that takes the same time wherever the strings differ.
bool constant_time_equal(const std::string& a, const std::string& b);
// Does an Authorization header carry this bearer token? (The /metrics servers' check.)
bool bearer_matches(const std::string& authorization, const std::string& token);

}  // namespace taskmill::dashboard
