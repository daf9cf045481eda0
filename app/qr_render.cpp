#include "app/qr_render.h"

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

#include <fmt/format.h>
#include <png.h>
#include <qrencode.h>

namespace wa::app {
namespace {

struct QrcodeDeleter {
  void operator()(QRcode* q) const { QRcode_free(q); }
};

// libpng reports errors by longjmp; this keeps its message for the exception thrown afterwards.
struct PngState {
  std::string* out = nullptr;
  char error[160] = {};
};

void png_write_cb(png_structp png, png_bytep data, png_size_t len) {
  auto* st = static_cast<PngState*>(png_get_io_ptr(png));
  bool ok = true;
  try {
    st->out->append(reinterpret_cast<const char*>(data), len);
  } catch (...) {
    ok = false;
  }
  // Outside the catch block: png_error() longjmps and must not skip an exception's cleanup.
  if (!ok) png_error(png, "out of memory");
}

void png_flush_cb(png_structp) {}

void png_error_cb(png_structp png, png_const_charp msg) {
  // The io pointer is set before anything can fail (png_set_write_fn right after creation).
  if (auto* st = static_cast<PngState*>(png_get_io_ptr(png)); st != nullptr)
    std::snprintf(st->error, sizeof st->error, "%s", msg != nullptr ? msg : "unknown error");
  png_longjmp(png, 1);
}

void png_warning_cb(png_structp, png_const_charp) {}

// Destroys the write and info structs however the write ended.
struct PngWriter {
  png_structp png = nullptr;
  png_infop info = nullptr;
  PngWriter() {
    png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, png_error_cb, png_warning_cb);
    if (png != nullptr) info = png_create_info_struct(png);
  }
  ~PngWriter() { png_destroy_write_struct(png != nullptr ? &png : nullptr, info != nullptr ? &info : nullptr); }
  PngWriter(const PngWriter&) = delete;
  PngWriter& operator=(const PngWriter&) = delete;
};

// Only trivially destructible locals live in this frame: a longjmp back to its setjmp skips no
// destructor.
bool write_png_rows(png_structp png, png_infop info, png_uint_32 size, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_IHDR(png, info, size, size, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows);
  png_write_end(png, nullptr);
  return true;
}

// Dark at (x, y) in quiet-zone coordinates; the quiet zone is light.
bool dark_with_quiet(const QrMatrix& m, int quiet, int x, int y) {
  const int mx = x - quiet;
  const int my = y - quiet;
  if (mx < 0 || my < 0 || mx >= m.width || my >= m.width) return false;
  return m.at(mx, my);
}

void check_matrix(const QrMatrix& m) {
  if (m.width <= 0 || m.dark.size() != static_cast<std::size_t>(m.width) * static_cast<std::size_t>(m.width))
    throw QrRenderError("QR matrix is empty or inconsistent");
}

}  // namespace

QrMatrix encode_qr(std::string_view text) {
  if (text.empty()) throw QrRenderError("QR text is empty");
  if (text.size() > kMaxQrTextBytes)
    throw QrRenderError(fmt::format("QR text is {} bytes, more than the {} allowed", text.size(), kMaxQrTextBytes));
  std::unique_ptr<QRcode, QrcodeDeleter> q(QRcode_encodeData(static_cast<int>(text.size()),
                                                             reinterpret_cast<const unsigned char*>(text.data()), 0,
                                                             QR_ECLEVEL_L));
  if (!q) throw QrRenderError(fmt::format("libqrencode cannot encode the text: {}", std::strerror(errno)));
  QrMatrix m;
  m.width = q->width;
  m.dark.resize(static_cast<std::size_t>(m.width) * static_cast<std::size_t>(m.width));
  // Bit 0 of each byte is the module's colour (1 = dark); the other bits are libqrencode's
  // bookkeeping.
  for (std::size_t i = 0; i < m.dark.size(); ++i) m.dark[i] = (q->data[i] & 1) != 0;
  return m;
}

std::string render_png(const QrMatrix& m, int scale) {
  check_matrix(m);
  if (scale < 1 || scale > 32) throw QrRenderError(fmt::format("PNG scale {} is outside 1..32", scale));
  const int modules = m.width + 2 * kQrQuietZone;
  const int size = modules * scale;
  if (size > 8192) throw QrRenderError(fmt::format("PNG would be {} pixels wide", size));

  const auto side = static_cast<std::size_t>(size);
  std::vector<png_byte> pixels(side * side);
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x)
      pixels[static_cast<std::size_t>(y) * side + static_cast<std::size_t>(x)] =
          dark_with_quiet(m, kQrQuietZone, x / scale, y / scale) ? 0x00 : 0xff;
  std::vector<png_bytep> rows(side);
  for (std::size_t y = 0; y < side; ++y) rows[y] = pixels.data() + y * side;

  std::string out;
  out.reserve(side * side / 16 + 256);
  PngState st;
  st.out = &out;
  PngWriter w;
  if (w.png == nullptr || w.info == nullptr) throw QrRenderError("libpng: cannot create the write structs");
  png_set_write_fn(w.png, &st, png_write_cb, png_flush_cb);
  if (!write_png_rows(w.png, w.info, static_cast<png_uint_32>(size), rows.data()))
    throw QrRenderError(fmt::format("libpng: {}", st.error));
  return out;
}

std::string render_svg(const QrMatrix& m, int module_px) {
  check_matrix(m);
  if (module_px < 1 || module_px > 64) throw QrRenderError(fmt::format("SVG module size {} is outside 1..64", module_px));
  const int modules = m.width + 2 * kQrQuietZone;
  std::string path;
  // One subpath per horizontal run of dark modules keeps the document small.
  for (int y = 0; y < m.width; ++y) {
    for (int x = 0; x < m.width;) {
      if (!m.at(x, y)) {
        ++x;
        continue;
      }
      int run = 1;
      while (x + run < m.width && m.at(x + run, y)) ++run;
      path += fmt::format("M{} {}h{}v1h-{}z", x + kQrQuietZone, y + kQrQuietZone, run, run);
      x += run;
    }
  }
  return fmt::format(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{0}\" viewBox=\"0 0 {1} {1}\" "
      "shape-rendering=\"crispEdges\">\n"
      "<rect width=\"{1}\" height=\"{1}\" fill=\"#ffffff\"/>\n"
      "<path fill=\"#000000\" d=\"{2}\"/>\n"
      "</svg>\n",
      modules * module_px, modules, path);
}

std::string render_terminal(const QrMatrix& m, int quiet_zone) {
  check_matrix(m);
  if (quiet_zone < 0 || quiet_zone > 8) throw QrRenderError(fmt::format("quiet zone {} is outside 0..8", quiet_zone));
  const int size = m.width + 2 * quiet_zone;
  std::string out;
  out.reserve(static_cast<std::size_t>(size) * static_cast<std::size_t>(size / 2 + 1) * 3);
  for (int y = 0; y < size; y += 2) {
    for (int x = 0; x < size; ++x) {
      const bool top_light = !dark_with_quiet(m, quiet_zone, x, y);
      // Past the last row there is nothing to draw: treat it as dark (terminal background).
      const bool bottom_light = y + 1 < size && !dark_with_quiet(m, quiet_zone, x, y + 1);
      if (top_light && bottom_light)
        out += "\u2588";  // full block
      else if (top_light)
        out += "\u2580";  // upper half block
      else if (bottom_light)
        out += "\u2584";  // lower half block
      else
        out += ' ';
    }
    out += '\n';
  }
  return out;
}

}  // namespace wa::app
