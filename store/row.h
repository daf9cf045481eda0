// Typed reads of result rows, in the manner of libpqxx's row.to(): the columns of a SELECT, in
// order, into the fields of a struct, each read by the field's own type. A fill is one call in
// the SELECT's order, so there is no column number to get wrong when a column is added.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/pg.h"

namespace wa::pg {

namespace detail {

inline void read_column(const Result& r, int row, int col, std::string& v) { v = std::string(r.text(row, col)); }
inline void read_column(const Result& r, int row, int col, std::optional<std::string>& v) { v = r.opt(row, col); }
inline void read_column(const Result& r, int row, int col, std::int64_t& v) { v = r.i64(row, col); }
// int fields hold counts and pids the SQL keeps in int columns.
inline void read_column(const Result& r, int row, int col, int& v) { v = static_cast<int>(r.i64(row, col)); }
inline void read_column(const Result& r, int row, int col, bool& v) { v = r.boolean(row, col); }
inline void read_column(const Result& r, int row, int col, std::vector<std::uint8_t>& v) { v = r.bytes(row, col); }
inline void read_column(const Result& r, int row, int col, std::optional<std::int64_t>& v) {
  v = r.is_null(row, col) ? std::nullopt : std::optional<std::int64_t>(r.i64(row, col));
}

}  // namespace detail

// Reads columns 0, 1, ... of `row` into `fields`, in order (NULL reads as nullopt into an
// optional field).
template <class... Fields>
void read_row(const Result& r, int row, Fields&... fields) {
  int col = 0;
  (detail::read_column(r, row, col++, fields), ...);
}

// One T per row of r, each made by make(r, row).
template <class T, class Make>
std::vector<T> read_rows(const Result& r, Make&& make) {
  std::vector<T> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) out.push_back(make(r, i));
  return out;
}

// One T per row of r, the row's columns read in order into the given members of T:
//   read_rows_into<Pairing>(r, &Pairing::jid, &Pairing::epoch, ...)
template <class T, class... Members>
std::vector<T> read_rows_into(const Result& r, Members T::*... fields) {
  return read_rows<T>(r, [&](const Result& res, int i) {
    T t;
    read_row(res, i, (t.*fields)...);
    return t;
  });
}

}  // namespace wa::pg
