#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lens::util {

std::string toLower(std::string_view s);
std::string toUpper(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool startsWith(std::string_view s, std::string_view prefix);
bool endsWith(std::string_view s, std::string_view suffix);
std::vector<std::string_view> split(std::string_view s, char sep);
// `s` without the spaces and tabs at either end (HTTP's optional whitespace).
std::string_view trimOws(std::string_view s);

// `value` as one POSIX shell word: 'single quoted', with ' written '\''.
std::string shellQuote(std::string_view value);
// `value` as one fish word: 'single quoted', with \ written \\ and ' written
// \' (the only escapes fish reads inside single quotes).
std::string fishQuote(std::string_view value);

// A name glob: `*` any run of characters (none too), `?` one character,
// anything else itself; case-sensitive. One backtrack point: at worst
// pattern × text steps, never exponential.
[[nodiscard]] bool globMatch(std::string_view pattern, std::string_view text);

// The value of a hex digit of either case, or -1 for another character.
int hexDigitValue(char c);
// One name or value of an application/x-www-form-urlencoded body: '+' is a
// space, %XX a byte. nullopt when a '%' is not followed by two hex digits.
std::optional<std::string> formDecode(std::string_view s);

// True when every character is 0-9 or a-f (lower-case hex, as SigV4 writes
// hashes and signatures); true for "".
bool isLowerHex(std::string_view s);

// Parses a 32-bit number written in decimal or as 0x-hex ("0x4e585553").
std::optional<std::uint32_t> parseUint32(std::string_view s);

// Parses a decimal number without sign or leading zeros ("0" is allowed).
std::optional<unsigned long> parseDecimal(std::string_view s, unsigned long max);

// Edit distance counting insertions, deletions, substitutions and swaps of
// two adjacent characters (optimal string alignment), case-insensitive.
std::size_t editDistance(std::string_view a, std::string_view b);

// The candidate closest to `word` when it is close enough to be a likely
// typo (distance <= max(1, len/3)), compared case-insensitively.
std::optional<std::string_view> closestMatch(std::string_view word,
                                             std::span<const std::string_view> candidates);

}  // namespace lens::util
