#include "tests/app_qr/qr_support.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <png.h>

namespace wa::test {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string temp_path(const char* what) {
  static int n = 0;
  return fmt::format("/tmp/waconn-qr-test-{}-{}-{}", ::getpid(), n++, what);
}

struct ImageFree {
  void operator()(png_image* i) const { png_image_free(i); }
};

}  // namespace

GrayImage decode_png(const std::string& png) {
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  std::unique_ptr<png_image, ImageFree> guard(&img);
  REQUIRE(png_image_begin_read_from_memory(&img, png.data(), png.size()) != 0);
  img.format = PNG_FORMAT_GRAY;
  GrayImage out;
  out.width = static_cast<int>(img.width);
  out.height = static_cast<int>(img.height);
  out.pixels.resize(PNG_IMAGE_SIZE(img));
  REQUIRE(png_image_finish_read(&img, nullptr, out.pixels.data(), 0, nullptr) != 0);
  return out;
}

app::QrMatrix matrix_from_png(const GrayImage& img, int scale) {
  REQUIRE(img.width == img.height);
  REQUIRE(img.width % scale == 0);
  const int modules = img.width / scale;
  const int q = app::kQrQuietZone;
  app::QrMatrix m;
  m.width = modules - 2 * q;
  m.dark.assign(static_cast<std::size_t>(m.width * m.width), false);
  for (int y = 0; y < modules; ++y)
    for (int x = 0; x < modules; ++x) {
      // Every pixel of the module must agree (no blur, no offset).
      const auto first = img.pixels[static_cast<std::size_t>(y * scale * img.width + x * scale)];
      bool uniform = true;
      for (int dy = 0; dy < scale; ++dy)
        for (int dx = 0; dx < scale; ++dx)
          uniform = uniform && img.pixels[static_cast<std::size_t>((y * scale + dy) * img.width + x * scale + dx)] == first;
      if (!uniform) FAIL("module (" << x << "," << y << ") is not one colour");
      if (first != 0 && first != 255) FAIL("module (" << x << "," << y << ") is grey: " << int(first));
      const bool dark = first < 128;
      if (x < q || y < q || x >= modules - q || y >= modules - q) {
        if (dark) FAIL("dark module in the quiet zone at (" << x << "," << y << ")");
        continue;
      }
      m.dark[static_cast<std::size_t>((y - q) * m.width + (x - q))] = dark;
    }
  return m;
}

app::QrMatrix matrix_from_svg(const std::string& svg) {
  std::smatch vb;
  REQUIRE(std::regex_search(svg, vb, std::regex("viewBox=\"0 0 (\\d+) (\\d+)\"")));
  const int modules = std::stoi(vb[1]);
  const int q = app::kQrQuietZone;
  app::QrMatrix m;
  m.width = modules - 2 * q;
  m.dark.assign(static_cast<std::size_t>(m.width * m.width), false);
  // Plain string scanning: libstdc++'s recursive regex matcher overflows the stack (under ASan)
  // on a path of a few thousand characters.
  const std::string open = "<path fill=\"#000000\" d=\"";
  const auto start = svg.find(open);
  REQUIRE(start != std::string::npos);
  const auto end = svg.find('"', start + open.size());
  REQUIRE(end != std::string::npos);
  const std::string path = svg.substr(start + open.size(), end - start - open.size());
  std::size_t covered = 0;
  std::size_t pos = 0;
  // Reads an unsigned decimal at pos; -1 if there is none.
  auto number = [&]() -> int {
    std::size_t digits = 0;
    int v = 0;
    while (pos < path.size() && path[pos] >= '0' && path[pos] <= '9' && digits < 6) {
      v = v * 10 + (path[pos++] - '0');
      ++digits;
    }
    return digits == 0 ? -1 : v;
  };
  auto expect = [&](std::string_view lit) {
    if (path.compare(pos, lit.size(), lit) != 0) return false;
    pos += lit.size();
    return true;
  };
  while (pos < path.size()) {
    const std::size_t run_start = pos;
    REQUIRE(expect("M"));
    const int x = number() - q;
    REQUIRE(expect(" "));
    const int y = number() - q;
    REQUIRE(expect("h"));
    const int n = number();
    REQUIRE(expect("v1h-"));
    REQUIRE(number() == n);
    REQUIRE(expect("z"));
    REQUIRE(n > 0);
    REQUIRE(x >= 0);
    REQUIRE(y >= 0);
    REQUIRE(x + n <= m.width);
    REQUIRE(y < m.width);
    for (int i = 0; i < n; ++i) m.dark[static_cast<std::size_t>(y * m.width + x + i)] = true;
    covered += pos - run_start;
  }
  REQUIRE(covered == path.size());  // nothing in the path we did not understand
  return m;
}

app::QrMatrix matrix_from_terminal(const std::string& text, int quiet) {
  // Decode each line into glyph codes: 0 blank, 1 upper, 2 lower, 3 full.
  std::vector<std::vector<int>> lines;
  std::vector<int> cur;
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] == '\n') {
      lines.push_back(cur);
      cur.clear();
      ++i;
    } else if (text[i] == ' ') {
      cur.push_back(0);
      ++i;
    } else if (text.compare(i, 3, "\u2580") == 0) {
      cur.push_back(1);
      i += 3;
    } else if (text.compare(i, 3, "\u2584") == 0) {
      cur.push_back(2);
      i += 3;
    } else if (text.compare(i, 3, "\u2588") == 0) {
      cur.push_back(3);
      i += 3;
    } else {
      FAIL("unexpected byte in the terminal QR at offset " << i);
    }
  }
  REQUIRE(cur.empty());  // ends with a newline
  REQUIRE_FALSE(lines.empty());
  const int size = static_cast<int>(lines[0].size());
  for (const auto& l : lines) REQUIRE(static_cast<int>(l.size()) == size);
  REQUIRE(static_cast<int>(lines.size()) == (size + 1) / 2);
  // Light rows: upper half = row 2k, lower half = row 2k+1.
  auto light = [&](int x, int y) {
    const int g = lines[static_cast<std::size_t>(y / 2)][static_cast<std::size_t>(x)];
    return (y % 2 == 0) ? (g == 1 || g == 3) : (g == 2 || g == 3);
  };
  app::QrMatrix m;
  m.width = size - 2 * quiet;
  m.dark.assign(static_cast<std::size_t>(m.width * m.width), false);
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      if (x < quiet || y < quiet || x >= size - quiet || y >= size - quiet) {
        if (!light(x, y)) FAIL("dark module in the terminal quiet zone at (" << x << "," << y << ")");
        continue;
      }
      m.dark[static_cast<std::size_t>((y - quiet) * m.width + (x - quiet))] = !light(x, y);
    }
  return m;
}

std::string zbar_decode_png(const std::string& png) {
  if (std::system("command -v zbarimg >/dev/null 2>&1") != 0)
    FAIL("zbarimg is not installed (Debian package zbar-tools; scripts/install-deps.sh installs it)");
  const auto in = temp_path("qr.png");
  const auto out = temp_path("zbar.txt");
  {
    std::ofstream f(in, std::ios::binary);
    f << png;
  }
  const auto err = temp_path("zbar.err");
  // stderr apart: zbarimg also complains there about a missing D-Bus, which is harmless.
  const int rc = std::system(fmt::format("zbarimg --quiet --raw {} > {} 2> {}", in, out, err).c_str());
  std::string text = slurp(out);
  INFO("zbarimg stderr: " << slurp(err));
  std::remove(err.c_str());
  std::remove(in.c_str());
  std::remove(out.c_str());
  INFO("zbarimg output: " << text);
  REQUIRE(rc == 0);
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

std::string bin_dir() {
  if (const char* d = std::getenv("WACONN_BIN_DIR"); d != nullptr && *d != '\0') return d;
  char buf[4096] = {};
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  std::string self = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  return self.substr(0, self.rfind('/'));
}

Child::Child(const std::vector<std::string>& argv) : out_path_(temp_path("out")), err_path_(temp_path("err")) {
  REQUIRE(::access(argv.at(0).c_str(), X_OK) == 0);
  pid_ = ::fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    const int o = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int e = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (o < 0 || e < 0) ::_exit(127);
    ::dup2(o, 1);
    ::dup2(e, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
}

Child::~Child() {
  if (pid_ > 0 && status_ < 0) {
    ::kill(pid_, SIGKILL);
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
  std::remove(out_path_.c_str());
  std::remove(err_path_.c_str());
}

int Child::wait(int timeout_ms) {
  if (status_ >= 0) return status_;
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int st = 0;
    const pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return status_;
    }
    if (std::chrono::steady_clock::now() >= end) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::string Child::out() const { return slurp(out_path_); }
std::string Child::err() const { return slurp(err_path_); }

bool eventually(const std::function<bool()>& cond, int timeout_ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!cond()) {
    if (std::chrono::steady_clock::now() >= end) return cond();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace wa::test
