// Listen addresses of the CLI's HTTP servers (dashboard, worker metrics): "HOST:PORT",
// "[IPv6]:PORT" or ":PORT" (loopback).
#pragma once

#include <string>

namespace taskmill::dashboard {

struct ListenAddress {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string text() const;  // "127.0.0.1:8080", "[::1]:8080"
};

// Throws std::invalid_argument with a message naming the bad part.
ListenAddress parse_listen(const std::string& text);

// 127.0.0.0/8, ::1, localhost.
bool is_loopback(const std::string& host);

}  // namespace taskmill::dashboard
