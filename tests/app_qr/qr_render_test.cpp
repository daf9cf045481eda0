// QR rendering: every output (PNG, SVG, terminal half blocks) is read back into modules and must
// equal libqrencode's symbol; the PNG must also be decoded by an independent QR reader (zbarimg).
#include <string>

#include <catch2/catch.hpp>

#include "app/qr_render.h"
#include "tests/app_qr/qr_support.h"

using wa::app::QrMatrix;

namespace {

// The whatsmeow form: ref, noise pub, identity pub, adv secret (base64 with padding), platform.
std::string pairing_string(char variant) {
  std::string ref = "2@";
  for (int i = 0; i < 86; ++i) ref += static_cast<char>('A' + (i * 7 + variant) % 26);
  const std::string b64 = std::string(43, variant) + "=";
  return "https://wa.me/settings/linked_devices#" + ref + "," + b64 + "," + b64 + "," + b64 + ",9";
}

bool same(const QrMatrix& a, const QrMatrix& b) { return a.width == b.width && a.dark == b.dark; }

}  // namespace

TEST_CASE("encode_qr bounds its input and yields a valid symbol", "[qr]") {
  CHECK_THROWS_AS(wa::app::encode_qr(""), wa::app::QrRenderError);
  CHECK_THROWS_WITH(wa::app::encode_qr(std::string(wa::app::kMaxQrTextBytes + 1, 'a')),
                    Catch::Contains("more than the 1024 allowed"));
  CHECK_NOTHROW(wa::app::encode_qr(std::string(wa::app::kMaxQrTextBytes, 'a')));

  const auto m = wa::app::encode_qr(pairing_string('Q'));
  REQUIRE(m.width >= 21);
  CHECK((m.width - 17) % 4 == 0);  // versions are 21, 25, 29, ... modules wide
  // The three finder patterns: dark 7x7 ring, light ring inside, dark 3x3 centre.
  for (auto [ox, oy] : {std::pair{0, 0}, std::pair{m.width - 7, 0}, std::pair{0, m.width - 7}}) {
    for (int i = 0; i < 7; ++i) {
      CHECK(m.at(ox + i, oy));
      CHECK(m.at(ox + i, oy + 6));
      CHECK(m.at(ox, oy + i));
      CHECK(m.at(ox + 6, oy + i));
    }
    CHECK_FALSE(m.at(ox + 1, oy + 1));
    CHECK(m.at(ox + 3, oy + 3));
  }
}

TEST_CASE("PNG renders the symbol pixel-exact with a quiet zone and zbarimg decodes it", "[qr]") {
  for (char v : {'A', 'x', '7'}) {
    const auto text = pairing_string(v);
    const auto m = wa::app::encode_qr(text);
    for (int scale : {1, 4, 8}) {
      const auto png = wa::app::render_png(m, scale);
      REQUIRE(png.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
      const auto img = wa::test::decode_png(png);
      CHECK(img.width == (m.width + 2 * wa::app::kQrQuietZone) * scale);
      CHECK(same(wa::test::matrix_from_png(img, scale), m));
    }
    // An independent decoder reads back the very string.
    CHECK(wa::test::zbar_decode_png(wa::app::render_png(m, 6)) == text);
  }
  CHECK_THROWS_AS(wa::app::render_png(wa::app::encode_qr("x"), 0), wa::app::QrRenderError);
  CHECK_THROWS_AS(wa::app::render_png(wa::app::encode_qr("x"), 33), wa::app::QrRenderError);
  CHECK_THROWS_AS(wa::app::render_png(QrMatrix{}, 4), wa::app::QrRenderError);
}

TEST_CASE("SVG path covers exactly the dark modules", "[qr]") {
  const auto m = wa::app::encode_qr(pairing_string('B'));
  const auto svg = wa::app::render_svg(m, 8);
  CHECK(svg.find("<svg xmlns=\"http://www.w3.org/2000/svg\"") != std::string::npos);
  CHECK(svg.find("<rect width=") != std::string::npos);  // white background (light quiet zone)
  CHECK(same(wa::test::matrix_from_svg(svg), m));
  CHECK_THROWS_AS(wa::app::render_svg(m, 0), wa::app::QrRenderError);
}

TEST_CASE("terminal rendering draws light modules as half blocks with the quiet zone", "[qr]") {
  for (char v : {'C', 'd'}) {
    const auto m = wa::app::encode_qr(pairing_string(v));
    for (int quiet : {wa::app::kQrQuietZone, 1, 2}) {  // odd and even total heights
      const auto text = wa::app::render_terminal(m, quiet);
      CHECK(same(wa::test::matrix_from_terminal(text, quiet), m));
    }
    // The quiet zone's light rows are full blocks; dark modules are blanks.
    const auto text = wa::app::render_terminal(m, wa::app::kQrQuietZone);
    const auto first_line = text.substr(0, text.find('\n'));
    std::string all_full;
    for (int i = 0; i < m.width + 2 * wa::app::kQrQuietZone; ++i) all_full += "\u2588";
    CHECK(first_line == all_full);
    CHECK(text.find(' ') != std::string::npos);
  }
  CHECK_THROWS_AS(wa::app::render_terminal(wa::app::encode_qr("x"), -1), wa::app::QrRenderError);
}
