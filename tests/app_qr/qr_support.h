// Helpers for the QR tests: read renderings back into a module matrix, decode PNGs (libpng and
// zbarimg), run the waconnector binary with captured output.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "app/qr_render.h"

namespace wa::test {

// PNG bytes -> grayscale pixels (libpng's simplified reader). FAILs the test on a bad PNG.
struct GrayImage {
  int width = 0;
  int height = 0;
  std::vector<unsigned char> pixels;
};
GrayImage decode_png(const std::string& png);

// Samples a decoded rendering back into modules (quiet zone kQrQuietZone, `scale` px per module).
app::QrMatrix matrix_from_png(const GrayImage& img, int scale);
// Parses render_svg()'s path back into modules.
app::QrMatrix matrix_from_svg(const std::string& svg);
// Parses render_terminal()'s half blocks (light drawn) back into modules; `quiet` is stripped
// after checking that it is all light.
app::QrMatrix matrix_from_terminal(const std::string& text, int quiet);

// Runs zbarimg on the PNG and returns what it decoded (without the trailing newline). FAILs the
// test when zbarimg is not installed (Debian package zbar-tools).
std::string zbar_decode_png(const std::string& png);

// Directory holding the waconnector binary: env WACONN_BIN_DIR, else this executable's own.
std::string bin_dir();

// A child process with stdout and stderr captured to files; killed on destruction.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  // Waits at most timeout_ms for the exit; returns the exit code, or -1 on timeout.
  int wait(int timeout_ms);
  std::string out() const;  // stdout so far
  std::string err() const;  // stderr so far

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::string out_path_, err_path_;
};

// Polls `cond` every 10 ms until true or timeout; returns its last value.
bool eventually(const std::function<bool()>& cond, int timeout_ms);

}  // namespace wa::test
