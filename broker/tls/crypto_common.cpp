// Backend-independent parts of crypto.hpp.
#include "broker/tls/crypto.hpp"

namespace tern::tls {

bool constant_time_equal(std::string_view a, std::string_view b) {
  // The length is not secret (hashes have a fixed size); the contents are.
  if (a.size() != b.size()) return false;
  volatile unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = static_cast<unsigned char>(diff | (static_cast<unsigned char>(a[i]) ^
                                              static_cast<unsigned char>(b[i])));
  }
  return diff == 0;
}

}  // namespace tern::tls
