#include "core/binary/node_json.h"

namespace wa::binary {
namespace {

[[noreturn]] void shape_error(const std::string& path, const std::string& what) {
  throw JsonError("node JSON: " + path + ": " + what);
}

const std::string& expect_string(const Json& j, const std::string& path) {
  if (j.type != Json::Type::string) shape_error(path, std::string("expected a string, got ") + to_string(j.type));
  return j.text;
}

// Strings that contain '@' are JIDs when they parse as one (Baileys' rule).
Value to_value(const std::string& s) {
  if (s.find('@') != std::string::npos)
    if (auto jid = Jid::parse(s)) return *jid;
  return s;
}

Node from_json(const Json& j, const std::string& path) {
  if (j.type != Json::Type::object) shape_error(path, std::string("expected a node object, got ") + to_string(j.type));
  Node n;
  const Json* tag = j.find("tag");
  if (tag == nullptr) shape_error(path, "missing \"tag\"");
  n.tag = expect_string(*tag, path + ".tag");
  if (n.tag.empty()) shape_error(path + ".tag", "empty tag");
  for (const auto& [k, v] : j.members)
    if (k != "tag" && k != "attrs" && k != "content") shape_error(path, "unknown member \"" + k + "\"");
  if (const Json* attrs = j.find("attrs"); attrs != nullptr) {
    if (attrs->type == Json::Type::array) {
      for (std::size_t i = 0; i < attrs->items.size(); ++i) {
        const std::string p = path + ".attrs[" + std::to_string(i) + "]";
        const Json& pair = attrs->items[i];
        if (pair.type != Json::Type::array || pair.items.size() != 2) shape_error(p, "expected a [key, value] pair");
        n.attrs.push_back(Attr{expect_string(pair.items[0], p + "[0]"), to_value(expect_string(pair.items[1], p + "[1]"))});
      }
    } else if (attrs->type == Json::Type::object) {
      for (const auto& [k, v] : attrs->members)
        n.attrs.push_back(Attr{k, to_value(expect_string(v, path + ".attrs." + k))});
    } else if (attrs->type != Json::Type::null) {
      shape_error(path + ".attrs", "expected a list of [key, value] pairs");
    }
  }
  if (const Json* c = j.find("content"); c != nullptr) {
    const std::string p = path + ".content";
    switch (c->type) {
      case Json::Type::null: break;
      case Json::Type::array: {
        NodeList list;
        list.reserve(c->items.size());
        for (std::size_t i = 0; i < c->items.size(); ++i)
          list.push_back(from_json(c->items[i], p + "[" + std::to_string(i) + "]"));
        n.content = std::move(list);
        break;
      }
      case Json::Type::string: {
        Value v = to_value(c->text);
        if (auto* s = std::get_if<std::string>(&v)) {
          n.content = std::move(*s);
        } else {
          n.content = std::move(std::get<Jid>(v));
        }
        break;
      }
      case Json::Type::object: {
        const Json* hex = c->find("bytes_hex");
        if (hex == nullptr || c->members.size() != 1) shape_error(p, "expected {\"bytes_hex\": \"...\"}");
        try {
          n.content = from_hex(expect_string(*hex, p + ".bytes_hex"));
        } catch (const JsonError& e) {
          shape_error(p + ".bytes_hex", e.what());
        }
        break;
      }
      default: shape_error(p, std::string("expected a list of nodes, a string or {\"bytes_hex\"}, got ") + to_string(c->type));
    }
  }
  return n;
}

void to_json(const Node& n, std::string& out) {
  out += "{\"tag\":";
  append_json_string(out, n.tag);
  out += ",\"attrs\":[";
  for (std::size_t i = 0; i < n.attrs.size(); ++i) {
    if (i > 0) out += ',';
    out += '[';
    append_json_string(out, n.attrs[i].key);
    out += ',';
    append_json_string(out, value_text(n.attrs[i].value));
    out += ']';
  }
  out += ']';
  if (const auto* list = std::get_if<NodeList>(&n.content)) {
    out += ",\"content\":[";
    for (std::size_t i = 0; i < list->size(); ++i) {
      if (i > 0) out += ',';
      to_json((*list)[i], out);
    }
    out += ']';
  } else if (const auto* b = std::get_if<Bytes>(&n.content)) {
    out += ",\"content\":{\"bytes_hex\":\"";
    out += to_hex(*b);
    out += "\"}";
  } else if (const auto* s = std::get_if<std::string>(&n.content)) {
    out += ",\"content\":";
    append_json_string(out, *s);
  } else if (const auto* jid = std::get_if<Jid>(&n.content)) {
    out += ",\"content\":";
    append_json_string(out, jid->to_string());
  }
  out += '}';
}

}  // namespace

Node node_from_json(const Json& j) { return from_json(j, "$"); }

Node node_from_json_text(std::string_view text, const JsonLimits& limits) {
  return node_from_json(parse_json(text, limits));
}

std::string node_to_json(const Node& n) {
  std::string out;
  to_json(n, out);
  return out;
}

Bytes from_hex(std::string_view hex) {
  try {
    return wa::from_hex(hex);
  } catch (const std::invalid_argument& e) {
    throw JsonError(e.what());
  }
}

}  // namespace wa::binary
