#include "libcommon/policy/path_glob.h"

#include <catch2/catch.hpp>

#include <string>

using lens::policy::normalizePath;
using lens::policy::PathGlob;

namespace {

// Wraps `inner` in `layers` extra rounds of percent-encoding of its '%'.
std::string encodePercentLayers(std::string inner, int layers) {
  for (int i = 0; i < layers; ++i) {
    std::string out;
    for (const char c : inner) {
      if (c == '%') {
        out += "%25";
      } else {
        out.push_back(c);
      }
    }
    inner = out;
  }
  return inner;
}

}  // namespace

TEST_CASE("normalizePath always yields a rooted path", "[policy][path_glob]") {
  CHECK(normalizePath("") == "/");
  CHECK(normalizePath("/") == "/");
  CHECK(normalizePath("//") == "/");
  CHECK(normalizePath("a/b") == "/a/b");
  CHECK(normalizePath("/a/b") == "/a/b");
}

TEST_CASE("normalizePath collapses slashes and resolves dot segments", "[policy][path_glob]") {
  CHECK(normalizePath("/a//b") == "/a/b");
  CHECK(normalizePath("///a///b///") == "/a/b");
  CHECK(normalizePath("/a/./b") == "/a/b");
  CHECK(normalizePath("/./a/.") == "/a");
  CHECK(normalizePath("/a/b/") == "/a/b");
  CHECK(normalizePath("/a/b/..") == "/a");
  CHECK(normalizePath("/a/b/../c") == "/a/c");
  CHECK(normalizePath("/../../x") == "/x");
  CHECK(normalizePath("/..") == "/");
  CHECK(normalizePath("/a/../../../b") == "/b");
  // Only exactly "." and ".." are special.
  CHECK(normalizePath("/a/.../b") == "/a/.../b");
  CHECK(normalizePath("/a/..b/.c") == "/a/..b/.c");
}

TEST_CASE("normalizePath removes the query and the fragment", "[policy][path_glob]") {
  CHECK(normalizePath("/x?y=/../z") == "/x");
  CHECK(normalizePath("/x?") == "/x");
  CHECK(normalizePath("/x#frag/../../y") == "/x");
  CHECK(normalizePath("/x/#a?b") == "/x");
  CHECK(normalizePath("?only=query") == "/");
  // An encoded '?' is part of the path, not the start of a query.
  CHECK(normalizePath("/x%3fy") == "/x%3fy");
}

TEST_CASE("normalizePath decodes encoded dots and separators", "[policy][path_glob]") {
  CHECK(normalizePath("/a/%2e%2e/b") == "/b");
  CHECK(normalizePath("/a/%2e/b") == "/a/b");
  CHECK(normalizePath("/a/.%2e/b") == "/b");
  CHECK(normalizePath("/a%2fb") == "/a/b");
  CHECK(normalizePath("/a%5cb") == "/a/b");
  CHECK(normalizePath("%2fa%2f%2fb%2f") == "/a/b");
  CHECK(normalizePath("/a/b%2f..%2f..%2fc") == "/c");
  CHECK(normalizePath("/a%2e%2eb") == "/a..b");
}

TEST_CASE("normalizePath escapes are case-insensitive", "[policy][path_glob]") {
  CHECK(normalizePath("/a/%2E%2E/b") == "/b");
  CHECK(normalizePath("/a%2Fb") == "/a/b");
  CHECK(normalizePath("/a%5Cb") == "/a/b");
  CHECK(normalizePath("/a/%2E%2F%2e%2E%2fb") == "/b");
  CHECK(normalizePath("/x/%252E%252E/y") == "/y");
}

TEST_CASE("normalizePath folds backslashes to slashes", "[policy][path_glob]") {
  CHECK(normalizePath("/a\\b") == "/a/b");
  CHECK(normalizePath("\\a\\\\b\\") == "/a/b");
  CHECK(normalizePath("/a\\..\\..\\b") == "/b");
}

TEST_CASE("normalizePath decodes double encodings over several passes", "[policy][path_glob]") {
  CHECK(normalizePath("%252e%252e") == "/");
  CHECK(normalizePath("/a/%252e%252e/b") == "/b");
  CHECK(normalizePath("/a%252fb") == "/a/b");
  CHECK(normalizePath("/a%255cb") == "/a/b");
  CHECK(normalizePath("/a/%25252e%25252e/b") == "/b");

  SECTION("up to eight passes") {
    // Seven extra layers need eight passes: fully decoded.
    const std::string seven = encodePercentLayers("%2e%2e", 7);
    CHECK(normalizePath("/a/" + seven + "/b") == "/b");
    // Eight extra layers need nine: the last layer stays encoded and is an
    // ordinary segment, which no ".." rule or literal ".." can confuse.
    const std::string eight = encodePercentLayers("%2e%2e", 8);
    CHECK(normalizePath("/a/" + eight + "/b") == "/a/%2e%2e/b");
  }
}

TEST_CASE("normalizePath leaves other escapes and malformed ones alone", "[policy][path_glob]") {
  CHECK(normalizePath("%20") == "/%20");
  CHECK(normalizePath("/a%20b") == "/a%20b");
  CHECK(normalizePath("/caf%C3%A9") == "/caf%C3%A9");
  CHECK(normalizePath("/a%2") == "/a%2");
  CHECK(normalizePath("/a%2/b") == "/a%2/b");
  CHECK(normalizePath("/a%") == "/a%");
  CHECK(normalizePath("/a%zz") == "/a%zz");
  CHECK(normalizePath("/a%2g") == "/a%2g");
  CHECK(normalizePath("/a%%2e") == "/a%.");
  // %25 decodes to '%', then "%20" is another escape that stays encoded.
  CHECK(normalizePath("/a%2520") == "/a%20");
}

TEST_CASE("normalizePath defeats deny-rule bypass attempts", "[policy][path_glob]") {
  CHECK(normalizePath("/public/%2e%2e/admin") == "/admin");
  CHECK(normalizePath("/public/%252e%252e/admin") == "/admin");
  CHECK(normalizePath("/public/..%2fadmin") == "/admin");
  CHECK(normalizePath("/public/..%5cadmin") == "/admin");
  CHECK(normalizePath("/public\\..\\admin") == "/admin");
  CHECK(normalizePath("//admin//") == "/admin");
  CHECK(normalizePath("/./admin/.") == "/admin");

  const PathGlob adminArea("/admin/**");
  const PathGlob publicArea("/public/**");
  for (const char* attempt : {"/public/%2e%2e/admin", "/public/%2E%2E/admin/users",
                              "/public/%252e%252e/admin", "/public/..%2Fadmin?x=/public"}) {
    CAPTURE(attempt);
    const std::string path = normalizePath(attempt);
    CHECK(adminArea.matches(path));
    CHECK_FALSE(publicArea.matches(path));
  }
}

TEST_CASE("PathGlob \"**\" matches zero or more segments", "[policy][path_glob]") {
  const PathGlob glob("/api/**");
  CHECK(glob.matches("/api"));
  CHECK(glob.matches("/api/v1"));
  CHECK(glob.matches("/api/v1/x"));
  CHECK(glob.matches("/api/v1/x/y/z"));
  CHECK_FALSE(glob.matches("/"));
  CHECK_FALSE(glob.matches("/apix"));
  CHECK_FALSE(glob.matches("/ap"));
  CHECK_FALSE(glob.matches("/other/api"));
  CHECK_FALSE(glob.matches("/API/v1"));
}

TEST_CASE("PathGlob \"*\" matches exactly one segment", "[policy][path_glob]") {
  const PathGlob glob("/api/v1/*");
  CHECK(glob.matches("/api/v1/foo"));
  CHECK(glob.matches("/api/v1/bar"));
  CHECK_FALSE(glob.matches("/api/v1"));
  CHECK_FALSE(glob.matches("/api/v1/foo/bar"));
  CHECK_FALSE(glob.matches("/api/v2/foo"));
  // The one segment may be empty: the trailing slash of an unnormalised path.
  CHECK(glob.matches("/api/v1/"));

  const PathGlob middle("/users/*/repos");
  CHECK(middle.matches("/users/alice/repos"));
  CHECK_FALSE(middle.matches("/users/repos"));
  CHECK_FALSE(middle.matches("/users/alice/bob/repos"));
  CHECK_FALSE(middle.matches("/users/alice/repos/x"));
}

TEST_CASE("PathGlob \"*\" or \"**\" alone match every path", "[policy][path_glob]") {
  for (const char* pattern : {"*", "**", "/**"}) {
    CAPTURE(pattern);
    const PathGlob glob(pattern);
    CHECK(glob.matches("/"));
    CHECK(glob.matches("/a"));
    CHECK(glob.matches("/a/b/c/d"));
  }
}

TEST_CASE("PathGlob \"**\" in the middle and at the start", "[policy][path_glob]") {
  const PathGlob middle("/a/**/b");
  CHECK(middle.matches("/a/b"));
  CHECK(middle.matches("/a/x/b"));
  CHECK(middle.matches("/a/x/y/b"));
  CHECK(middle.matches("/a/b/b"));
  CHECK_FALSE(middle.matches("/a/x/c"));
  CHECK_FALSE(middle.matches("/a/b/c"));
  CHECK_FALSE(middle.matches("/a"));

  const PathGlob leading("/**/secret");
  CHECK(leading.matches("/secret"));
  CHECK(leading.matches("/x/y/secret"));
  CHECK_FALSE(leading.matches("/secret/x"));

  const PathGlob mixed("/**/*/end/**");
  CHECK(mixed.matches("/x/end"));
  CHECK(mixed.matches("/a/b/x/end/tail"));
  CHECK_FALSE(mixed.matches("/end"));
}

TEST_CASE("PathGlob literal patterns compare whole segments", "[policy][path_glob]") {
  const PathGlob glob("/api/v1");
  CHECK(glob.matches("/api/v1"));
  CHECK_FALSE(glob.matches("/api/v1/x"));
  CHECK_FALSE(glob.matches("/api"));
  CHECK_FALSE(glob.matches("/api/v10"));
  CHECK_FALSE(glob.matches("/Api/v1"));
  // Glob characters inside a segment are not wildcards.
  const PathGlob partial("/files/*.json");
  CHECK(partial.matches("/files/*.json"));
  CHECK_FALSE(partial.matches("/files/a.json"));
}

TEST_CASE("PathGlob reads a pattern as its normalised form", "[policy][path_glob]") {
  CHECK(PathGlob("/api/").matches("/api"));
  CHECK(PathGlob("/api//v1").matches("/api/v1"));
  CHECK(PathGlob("api/v1").matches("/api/v1"));

  const PathGlob root("/");
  CHECK(root.matches("/"));
  CHECK_FALSE(root.matches("/a"));
  CHECK(PathGlob("").matches("/"));
  CHECK_FALSE(PathGlob("").matches("/a"));

  CHECK(PathGlob("/*").matches("/"));
  CHECK(PathGlob("/*").matches("/a"));
  CHECK_FALSE(PathGlob("/*").matches("/a/b"));
}

TEST_CASE("PathGlob keeps the pattern text", "[policy][path_glob]") {
  CHECK(PathGlob("/api/**").text() == "/api/**");
  CHECK(PathGlob("/api/").text() == "/api/");
  CHECK(PathGlob("**").text() == "**");
  CHECK(PathGlob().text().empty());
}

TEST_CASE("PathGlob default-constructed matches nothing", "[policy][path_glob]") {
  const PathGlob glob;
  CHECK_FALSE(glob.matches("/"));
  CHECK_FALSE(glob.matches("/a"));
}

TEST_CASE("PathGlob matching stays fast on adversarial input", "[policy][path_glob]") {
  std::string pattern;
  for (int i = 0; i < 32; ++i) pattern += "/**/a";
  pattern += "/z";
  std::string path;
  for (int i = 0; i < 2000; ++i) path += "/a";
  const PathGlob glob(pattern);
  CHECK_FALSE(glob.matches(path));
  CHECK(glob.matches(path + "/z"));
}
