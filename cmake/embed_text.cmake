# cmake -DINPUT=<file> -DOUTPUT=<file.cc> -DSYMBOL=<name> -DNAMESPACE=<ns> -P embed_text.cmake
# Writes a .cc defining `const std::string_view <NAMESPACE>::<SYMBOL>` holding the bytes of INPUT
# (every byte hex-escaped, so any content is safe inside the literal).
file(READ "${INPUT}" content HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" escaped "${content}")
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${INPUT} by cmake/embed_text.cmake; do not edit.\n"
  "#include <string_view>\n\n"
  "namespace ${NAMESPACE} {\n"
  "extern const std::string_view ${SYMBOL};\n"
  "namespace {\nconstexpr char kData[] = \"${escaped}\";\n}  // namespace\n"
  "const std::string_view ${SYMBOL}(kData, sizeof(kData) - 1);\n"
  "}  // namespace ${NAMESPACE}\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
