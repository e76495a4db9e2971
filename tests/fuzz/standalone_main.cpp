// A GCC-buildable driver for the libFuzzer targets, so that CI runs them without clang: it
// feeds LLVMFuzzerTestOneInput a deterministic stream of inputs, each a stack of random
// mutations (bit flips, interesting bytes and integers, inserts, deletes, copies,
// crossovers) of the target's seed inputs (tern_fuzz_seeds()) and of earlier mutants. No
// coverage feedback: it is a bounded smoke run, libFuzzer does the deep work.
//
//   fuzz_x_standalone [--seconds S] [--iterations N] [--seed X] [--max-len L] [FILE...]
//
// With FILEs it runs each file once (to reproduce a crash) and exits. On a crash (abort,
// signal or sanitizer report) it prints the seed, the iteration and the input in hex.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define TERN_FUZZ_SANITIZER 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TERN_FUZZ_SANITIZER 1
#endif
#ifdef TERN_FUZZ_SANITIZER
#include <sanitizer/common_interface_defs.h>
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
// Defined by a target that has seeds; weak so that a target without seeds still links.
std::vector<std::string> tern_fuzz_seeds() __attribute__((weak));

namespace {

// The input being run, for the crash report. A signal handler can only read plain data.
const std::uint8_t* g_input = nullptr;
std::size_t g_input_size = 0;
std::uint64_t g_seed = 0;
std::uint64_t g_iteration = 0;

void write_all(const char* s, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(2, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<std::size_t>(w);
  }
}

void write_number(std::uint64_t v) {
  char buf[24];
  std::size_t i = sizeof buf;
  do {
    buf[--i] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  write_all(buf + i, sizeof buf - i);
}

// Async-signal-safe: only write(2).
void report_crash() {
  static const char kHex[] = "0123456789abcdef";
  write_all("\n== fuzz crash: seed ", 21);
  write_number(g_seed);
  write_all(" iteration ", 11);
  write_number(g_iteration);
  write_all(" size ", 6);
  write_number(g_input_size);
  write_all("\n== input (hex): ", 17);
  for (std::size_t i = 0; i < g_input_size && g_input != nullptr; ++i) {
    const char h[2] = {kHex[g_input[i] >> 4], kHex[g_input[i] & 15]};
    write_all(h, 2);
  }
  write_all("\n", 1);
}

void on_signal(int sig) {
  report_crash();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

// splitmix64: small, fast, and the same sequence everywhere.
struct Rng {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(next() % n); }
};

constexpr std::uint8_t kBytes[] = {0x00, 0x01, 0x02, 0x7D, 0x7E, 0x7F, 0x80, 0x81, 0x82,
                                   0x88, 0x89, 0x8A, 0xC0, 0xE0, 0xF0, 0xFE, 0xFF, '\r',
                                   '\n', ':', ' ', ','};
constexpr std::uint64_t kInts[] = {0,     1,     125,        126,        127,       128,
                                   255,   256,   1000,       1001,       1004,      1005,
                                   65535, 65536, 16383,      16384,      2097151,   268435455,
                                   268435456,    0x7FFFFFFFFFFFFFFFull, 0x8000000000000000ull,
                                   0xFFFFFFFFFFFFFFFFull};

void mutate(std::string& s, const std::vector<std::string>& pool, Rng& r, std::size_t max_len) {
  switch (r.below(11)) {
    case 0:  // flip a bit
      if (!s.empty()) s[r.below(s.size())] ^= static_cast<char>(1u << r.below(8));
      break;
    case 1:  // a random byte
      if (!s.empty()) s[r.below(s.size())] = static_cast<char>(r.next());
      break;
    case 2:  // an interesting byte
      if (!s.empty()) s[r.below(s.size())] = static_cast<char>(kBytes[r.below(sizeof kBytes)]);
      break;
    case 3: {  // an interesting big-endian integer of 1, 2, 4 or 8 bytes
      const std::size_t w = std::size_t{1} << r.below(4);
      if (s.size() < w) break;
      const std::size_t at = r.below(s.size() - w + 1);
      const std::uint64_t v = kInts[r.below(std::size(kInts))];
      for (std::size_t i = 0; i < w; ++i) s[at + i] = static_cast<char>(v >> (8 * (w - 1 - i)));
      break;
    }
    case 4: {  // insert random bytes
      const std::size_t n = 1 + r.below(8);
      std::string ins(n, '\0');
      for (auto& c : ins) c = static_cast<char>(r.next());
      s.insert(r.below(s.size() + 1), ins);
      break;
    }
    case 5:  // delete a range
      if (!s.empty()) {
        const std::size_t at = r.below(s.size());
        s.erase(at, 1 + r.below(std::min<std::size_t>(16, s.size() - at)));
      }
      break;
    case 6:  // copy a range elsewhere
      if (!s.empty()) {
        const std::size_t at = r.below(s.size());
        const std::string piece = s.substr(at, 1 + r.below(32));
        s.insert(r.below(s.size() + 1), piece);
      }
      break;
    case 7: {  // crossover: our prefix, another input's suffix
      const std::string& o = pool[r.below(pool.size())];
      s = s.substr(0, r.below(s.size() + 1)) + o.substr(r.below(o.size() + 1));
      break;
    }
    case 8: {  // insert a piece of another input
      const std::string& o = pool[r.below(pool.size())];
      if (o.empty()) break;
      const std::size_t at = r.below(o.size());
      s.insert(r.below(s.size() + 1), o.substr(at, 1 + r.below(64)));
      break;
    }
    case 9:  // truncate
      s.resize(r.below(s.size() + 1));
      break;
    default:  // repeat a range (long runs, many small frames)
      if (!s.empty()) {
        const std::size_t at = r.below(s.size());
        const std::string piece = s.substr(at, 1 + r.below(16));
        const std::size_t times = 1 + r.below(32);
        std::string rep;
        for (std::size_t i = 0; i < times; ++i) rep += piece;
        s.insert(at, rep);
      }
      break;
  }
  if (s.size() > max_len) s.resize(max_len);
}

void run(const std::string& in) {
  g_input = reinterpret_cast<const std::uint8_t*>(in.data());
  g_input_size = in.size();
  LLVMFuzzerTestOneInput(g_input, g_input_size);
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--seconds S] [--iterations N] [--seed X] [--max-len L] [FILE...]\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 10;
  std::uint64_t iterations = 1000000;
  std::uint64_t seed = 1;
  std::size_t max_len = 4096;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--seconds" && (v = value())) {
      seconds = std::strtod(v, nullptr);
    } else if (a == "--iterations" && (v = value())) {
      iterations = std::strtoull(v, nullptr, 10);
    } else if (a == "--seed" && (v = value())) {
      seed = std::strtoull(v, nullptr, 10);
    } else if (a == "--max-len" && (v = value())) {
      max_len = std::strtoull(v, nullptr, 10);
    } else if (!a.empty() && a[0] != '-') {
      files.emplace_back(a);
    } else {
      return usage(argv[0]);
    }
  }
  g_seed = seed;
  std::signal(SIGABRT, on_signal);
  std::signal(SIGSEGV, on_signal);
  std::signal(SIGBUS, on_signal);
  std::signal(SIGFPE, on_signal);
  std::signal(SIGILL, on_signal);
#ifdef TERN_FUZZ_SANITIZER
  __sanitizer_set_death_callback(report_crash);
#endif

  if (!files.empty()) {
    for (const auto& f : files) {
      std::ifstream is(f, std::ios::binary);
      if (!is) {
        std::fprintf(stderr, "cannot read %s\n", f.c_str());
        return 2;
      }
      const std::string in((std::istreambuf_iterator<char>(is)), std::istreambuf_iterator<char>());
      run(in);
    }
    std::printf("ran %zu file(s)\n", files.size());
    return 0;
  }

  std::vector<std::string> seeds;
  if (tern_fuzz_seeds) seeds = tern_fuzz_seeds();
  seeds.emplace_back();  // the empty input
  for (const auto& s : seeds) run(s);

  // Mutants join a bounded pool, so that mutations stack up over time.
  constexpr std::size_t kPool = 256;
  std::vector<std::string> pool = seeds;
  Rng r{seed};
  const auto start = std::chrono::steady_clock::now();
  const auto limit = std::chrono::duration<double>(seconds);
  std::uint64_t it = 0;
  std::string in;
  for (; it < iterations; ++it) {
    if ((it & 255) == 0 && std::chrono::steady_clock::now() - start > limit) break;
    g_iteration = it;
    in = (r.below(2) == 0) ? seeds[r.below(seeds.size())] : pool[r.below(pool.size())];
    const std::size_t n = 1 + r.below(6);
    for (std::size_t m = 0; m < n; ++m) mutate(in, pool, r, max_len);
    run(in);
    if (pool.size() < kPool) {
      pool.push_back(in);
    } else {
      // Seeds stay; mutants replace mutants.
      const std::size_t first = std::min(seeds.size(), kPool - 1);
      pool[first + r.below(pool.size() - first)] = in;
    }
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%llu inputs from %zu seeds in %.1f s, seed %llu: no crash\n",
              static_cast<unsigned long long>(it), seeds.size(), secs,
              static_cast<unsigned long long>(seed));
  return 0;
}
