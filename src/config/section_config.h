#pragma once
// PVE's section-config format, one engine for every such file (storage.cfg, domains.cfg, ...):
//
//   <type>: <id>
//   <TAB><key> <value>
//   ...
//   (blank line between sections; '#' lines are comments)
//
// Each section type is declared with an Object schema of its keys. Parsing validates values with
// the schema (booleans stored as 0/1, integers as numbers, property strings kept as text, array
// keys one line per element) and keeps section order; a bare boolean key means 1. Printing writes
// sections in order in PVE's key order (comment, a set `disable` bare, required keys sorted, then
// optional keys sorted), booleans as 0/1, empty strings not at all, and one blank line after each
// section, so parse(print(x)) == x (except that `disable 0` is not written, as in PVE).
#include <string>
#include <string_view>
#include <vector>

#include "schema/schema.h"

namespace pvx::config {

struct SectionType {
  std::string type;                // "dir", "pam", ...
  schema::SchemaRef keys;          // Object schema of the keys this type allows
  std::string id_format = "pve-configid";  // format of the section id
};

struct Section {
  std::string type;
  std::string id;
  schema::Json values = schema::Json::object();  // key -> typed value
  bool operator==(const Section&) const = default;
};

struct ParsedConfig {
  std::vector<Section> sections;
  std::vector<std::string> warnings;  // unknown types or keys, skipped as PVE skips them
  const Section* find(std::string_view id) const;
  Section* find(std::string_view id);
};

class SectionConfig {
 public:
  explicit SectionConfig(std::vector<SectionType> types);

  const SectionType* type(std::string_view name) const;
  const std::vector<SectionType>& types() const { return types_; }

  // Lenient as PVE is: unknown section types and keys are skipped with a warning; a value that
  // fails its schema is skipped with a warning naming file, line and key.
  ParsedConfig parse(std::string_view text, std::string_view filename = {}) const;
  std::string print(const ParsedConfig& config) const;

  // Strict check for API writes: throws Error 400 naming the bad key.
  void validate_section(const Section& section) const;

 private:
  std::vector<SectionType> types_;
};

}  // namespace pvx::config
