// The dashboard's access checks (security.hpp).
#include "security.hpp"

#include <sys/random.h>

#include <stdexcept>

namespace taskmill::dashboard {

std::string random_token() {
  unsigned char buf[32];
  std::size_t got = 0;
  while (got < sizeof buf) {
    ssize_t n = getrandom(buf + got, sizeof buf - got, 0);
    if (n < 0) throw std::runtime_error("getrandom failed");
    got += static_cast<std::size_t>(n);
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : buf) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}

bool constant_time_equal(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

bool bearer_matches(const std::string& authorization, const std::string& token) {
  static const std::string bearer = "Bearer ";
  return authorization.rfind(bearer, 0) == 0 &&
         constant_time_equal(authorization.substr(bearer.size()), token);
}

Guard::Guard(std::optional<std::string> token, std::set<std::string> allowed_hosts)
    : token_(std::move(token)), allowed_hosts_(std::move(allowed_hosts)) {}

bool Guard::host_allowed(const std::string& host) const { return allowed_hosts_.contains(host); }

std::optional<std::string> Guard::session_id(const std::string& cookie_header) const {
  const std::string key = std::string(kCookie) + "=";
  std::size_t pos = 0;
  while (pos < cookie_header.size()) {
    while (pos < cookie_header.size() && (cookie_header[pos] == ' ' || cookie_header[pos] == ';'))
      ++pos;
    auto end = cookie_header.find(';', pos);
    if (end == std::string::npos) end = cookie_header.size();
    auto part = cookie_header.substr(pos, end - pos);
    if (part.rfind(key, 0) == 0) return part.substr(key.size());
    pos = end;
  }
  return std::nullopt;
}

std::optional<std::pair<std::string, std::string>> Guard::login(const std::string& token) {
  if (!token_ || !constant_time_equal(token, *token_)) return std::nullopt;
  auto id = random_token(), csrf = random_token();
  std::lock_guard lk(mu_);
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(sessions_, [&](auto& kv) { return kv.second.expires < now; });
  sessions_[id] = Session{csrf, now + kSessionLifetime};
  return std::make_pair(id, csrf);
}

std::optional<std::string> Guard::session_csrf(const std::string& cookie_header) {
  auto id = session_id(cookie_header);
  if (!id || !token_) return std::nullopt;
  std::lock_guard lk(mu_);
  auto it = sessions_.find(*id);
  if (it == sessions_.end() || it->second.expires < std::chrono::steady_clock::now())
    return std::nullopt;
  return it->second.csrf;
}

void Guard::logout(const std::string& cookie_header) {
  auto id = session_id(cookie_header);
  if (!id) return;
  std::lock_guard lk(mu_);
  sessions_.erase(*id);
}

std::string Guard::refuse_origin(const RequestHeaders& h) const {
  // Browsers send Origin with every POST made by fetch(); a mismatch is another site.
  if (!h.origin.empty() && h.origin != "http://" + h.host) return "cross-origin request";
  if (!h.sec_fetch_site.empty() && h.sec_fetch_site != "same-origin" && h.sec_fetch_site != "none")
    return "cross-site request";
  // A JSON body cannot be sent cross-origin without a CORS preflight, which is never granted.
  if (h.content_type.rfind("application/json", 0) != 0) return "actions take a JSON body";
  return "";
}

std::string Guard::refuse_read(const RequestHeaders& h) {
  if (!token_) return "";
  if (!h.authorization.empty())
    return bearer_matches(h.authorization, *token_) ? "" : "wrong access token";
  if (session_csrf(h.cookie)) return "";
  return "sign in with the access token first (scripts: Authorization: Bearer TOKEN)";
}

std::string Guard::refuse_action(const RequestHeaders& h) {
  if (!token_) return "the dashboard is read-only (started without an access token)";
  if (auto why = refuse_origin(h); !why.empty()) return why;
  if (h.authorization.rfind("Bearer ", 0) == 0) {
    // Not sent by browsers on their own: no CSRF token needed.
    return bearer_matches(h.authorization, *token_) ? "" : "wrong access token";
  }
  if (h.origin.empty()) return "missing Origin header";
  auto csrf = session_csrf(h.cookie);
  if (!csrf) return "not signed in (unlock actions with the access token first)";
  if (h.csrf.empty() || !constant_time_equal(h.csrf, *csrf)) return "missing or wrong CSRF token";
  return "";
}

}  // namespace taskmill::dashboard
