// The dashboard's static files (HTML, CSS, JS, icon), compiled into the binary from
// client/dashboard/assets/ by embed.cmake.
#pragma once

#include <string_view>
#include <vector>

namespace taskmill::dashboard {

struct Asset {
  std::string_view path;          // "/app.js"
  std::string_view content_type;
  std::string_view body;
};

const std::vector<Asset>& assets();

}  // namespace taskmill::dashboard
