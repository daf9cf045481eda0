// Renders a pairing QR string (the whatsmeow form "https://wa.me/settings/linked_devices#...")
// as a QR symbol: PNG (libqrencode + libpng), SVG, or UTF-8 half blocks for a terminal.
// The string comes from the database, so encode_qr() bounds it before libqrencode sees it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace wa::app {

// The string cannot be rendered (empty, too long, not encodable).
using QrRenderError = wa::Error<struct QrRenderErrorTag>;

// Longest string encode_qr() accepts. A real pairing string is ~170-250 bytes; this leaves room
// and keeps the symbol (version <= 25 at level L) scannable from a screen.
inline constexpr std::size_t kMaxQrTextBytes = 1024;
// The quiet zone the QR standard asks for, in modules, around every rendering.
inline constexpr int kQrQuietZone = 4;

// A QR symbol: width x width modules, row-major, true = dark.
struct QrMatrix {
  int width = 0;
  std::vector<bool> dark;
  bool at(int x, int y) const { return dark[static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)]; }
};

// Byte mode, error correction level L (as the phones' WhatsApp scanners are used to), smallest
// version that fits. Throws QrRenderError.
QrMatrix encode_qr(std::string_view text);

// Grayscale 8-bit PNG, `scale` pixels per module (1..32), quiet zone included. Throws QrRenderError.
std::string render_png(const QrMatrix& m, int scale = 8);

// A standalone SVG document (one path of dark modules on a white background, quiet zone
// included); `module_px` is the module size in the width/height attributes (1..64).
std::string render_svg(const QrMatrix& m, int module_px = 8);

// UTF-8 half blocks, two module rows per text line, ending in '\n'. LIGHT modules (and the quiet
// zone) are drawn with the block glyphs and dark modules are left blank, so the symbol reads
// correctly on the usual dark terminal background (light foreground glyphs = light modules).
std::string render_terminal(const QrMatrix& m, int quiet_zone = kQrQuietZone);

}  // namespace wa::app
