#pragma once
// Splits a line into words as a POSIX shell would, without running anything: the `args:` key of a
// VM config is written as a shell fragment (PVE splits it with Text::ParseWords).
#include <string>
#include <string_view>
#include <vector>

namespace pvx::guest::qemu {

// Blanks separate words; '...' is literal; "..." keeps blanks and honours \" \\ \$ \` and
// backslash-newline; a backslash outside quotes takes the next character literally.
// Throws Error 500 "unable to parse args: unterminated quote" on an open quote.
std::vector<std::string> split_shell_words(std::string_view line);

}  // namespace pvx::guest::qemu
