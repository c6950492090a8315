// ArrayLiteral (see array_literal.hpp).
#include "array_literal.hpp"

namespace taskmill::detail {

void ArrayLiteral::quoted(std::string_view v) {
  sep();
  text_.push_back('"');
  for (char ch : v) {
    if (ch == '"' || ch == '\\') text_.push_back('\\');
    text_.push_back(ch);
  }
  text_.push_back('"');
  any_value_ = true;
}

Param ArrayLiteral::finish() {
  if (!any_value_) return Param{};
  text_.push_back('}');
  return std::move(text_);
}

}  // namespace taskmill::detail
