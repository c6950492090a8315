// The CLI's output helpers (output.hpp).
#include "output.hpp"

#include <algorithm>
#include <iostream>

namespace taskmill::cli {

std::string fmt_time(std::optional<Clock::time_point> t) {
  if (!t) return "";
  auto s = format_timestamp(*t);  // 2026-01-02T03:04:05.123456Z
  return s.substr(0, 10) + " " + s.substr(11, 8);
}

Json json_time(std::optional<Clock::time_point> t) {
  return t ? Json(format_timestamp(*t)) : Json(nullptr);
}

std::string short_json(const Json& j, std::size_t max) {
  if (j.is_null()) return "";
  auto s = j.dump();
  if (s.size() > max) s = s.substr(0, max - 3) + "...";
  return s;
}

void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> w(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) w[c] = header[c].size();
  for (auto& r : rows)
    for (std::size_t c = 0; c < r.size() && c < w.size(); ++c) w[c] = std::max(w[c], r[c].size());
  auto line = [&](const std::vector<std::string>& r) {
    std::string out;
    for (std::size_t c = 0; c < header.size(); ++c) {
      std::string cell = c < r.size() ? r[c] : "";
      out += cell;
      if (c + 1 < header.size()) out += std::string(w[c] - cell.size() + 2, ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    std::cout << out << "\n";
  };
  line(header);
  std::vector<std::string> dashes;
  for (auto n : w) dashes.emplace_back(n, '-');
  line(dashes);
  for (auto& r : rows) line(r);
  std::cout << "(" << rows.size() << (rows.size() == 1 ? " row)\n" : " rows)\n");
}

}  // namespace taskmill::cli
