// ArrayLiteral: PostgreSQL's text form of a one-dimensional array ("{1,NULL,\"a b\"}"),
// built element by element. The one encoder of the library: the Enqueuer's per-field
// arrays (taskmill.enqueue_arrays) and the Worker's ack_many / release arguments.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "taskmill/connection.hpp"

namespace taskmill::detail {

class ArrayLiteral {
 public:
  explicit ArrayLiteral(std::size_t reserve = 0) {
    text_.reserve(reserve + 2);
    text_.push_back('{');
  }
  void null() {
    sep();
    text_ += "NULL";
  }
  // Numbers, t / f: nothing to quote.
  void plain(std::string_view v) {
    sep();
    text_ += v;
    any_value_ = true;
  }
  // Anything else: double-quoted, with " and \ escaped.
  void quoted(std::string_view v);
  // A parameter's text: NULL for std::nullopt (SQL NULL), else quoted.
  void element(const Param& v) {
    if (v)
      quoted(*v);
    else
      null();
  }
  // The literal; or SQL NULL when every element was NULL (the server's default then
  // applies to the whole array), or there was none.
  Param finish();

 private:
  void sep() {
    if (!first_) text_.push_back(',');
    first_ = false;
  }
  std::string text_{};
  bool first_ = true;
  bool any_value_ = false;
};

}  // namespace taskmill::detail
