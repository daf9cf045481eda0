// Percentiles of latency samples, printed the same way by every bench program: "n= p50= p99= max=".
// Nearest-rank percentiles (no interpolation), so every printed number is a measured sample.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

namespace wa::bench {

// The nearest-rank p-th percentile of `sorted` (ascending, not empty).
inline std::int64_t percentile(const std::vector<std::int64_t>& sorted, double p) {
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

// One line "<prefix><what padded to width> n=.. p50=.. ms p99=.. ms max=.. ms" (or "no samples").
inline void report_ms(const std::string& prefix, const std::string& what, std::size_t width,
                      std::vector<std::int64_t> v) {
  const std::string label = prefix + what + std::string(what.size() < width ? width - what.size() : 0, ' ');
  if (v.empty()) {
    std::cout << label << " no samples\n";
    return;
  }
  std::sort(v.begin(), v.end());
  std::cout << label
            << fmt::format(" n={:<4} p50={:>5} ms  p99={:>5} ms  max={:>5} ms\n", v.size(), percentile(v, 50),
                           percentile(v, 99), v.back());
}

}  // namespace wa::bench
