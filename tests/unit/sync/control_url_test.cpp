#include <catch2/catch.hpp>

#include "libcommon/sync/control_socket.h"
#include "libcommon/sync/token.h"

TEST_CASE("control-plane URLs", "[sync][url]") {
  auto plain = lens::sync::parseControlUrl("ws://cp.example/v1/sync?sandbox=7");
  REQUIRE(plain.ok());
  CHECK_FALSE(plain->secure);
  CHECK(plain->host == "cp.example");
  CHECK(plain->port == 80);
  CHECK(plain->target == "/v1/sync?sandbox=7");
  CHECK(plain->text() == "ws://cp.example/v1/sync?sandbox=7");

  auto tls = lens::sync::parseControlUrl("WSS://[2001:db8::1]:8443");
  REQUIRE(tls.ok());
  CHECK(tls->secure);
  CHECK(tls->host == "2001:db8::1");
  CHECK(tls->port == 8443);
  CHECK(tls->target == "/");
  CHECK(tls->text() == "wss://[2001:db8::1]:8443/");

  const char* bad[] = {"http://cp.example/", "cp.example",    "ws://",           "ws://:80/",
                       "ws://h:0/",          "ws://h:65536/", "ws://user:pw@h/", "ws://[::1/",
                       "ws://[nothost]/",    "ws://h /x"};
  for (const char* url : bad) {
    INFO(url);
    auto r = lens::sync::parseControlUrl(url);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == lens::ErrorCode::kInvalidArgument);
  }
  CHECK(lens::sync::parseControlUrl("ws://user@h/")
            .error()
            .message.find("--token-file or LENS_TOKEN") != std::string::npos);
}

TEST_CASE("the token comes from the file first, then LENS_TOKEN", "[sync][token]") {
  char tmpl[] = "/tmp/lens-token-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  REQUIRE(fd >= 0);
  REQUIRE(::write(fd, "from-file\n", 10) == 10);
  ::close(fd);
  CHECK(*lens::sync::loadToken(tmpl, "from-env") == "from-file");
  CHECK(*lens::sync::loadToken("", "from-env") == "from-env");
  auto none = lens::sync::loadToken("", nullptr);
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().message == "no token: give --token-file FILE or set LENS_TOKEN");
  auto spaced = lens::sync::loadToken("", "two words");
  REQUIRE_FALSE(spaced.ok());
  CHECK(spaced.error().message.find("two words") == std::string::npos);  // never echo the token
  auto missing = lens::sync::loadToken("/nonexistent/token", nullptr);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == lens::ErrorCode::kIo);
  ::unlink(tmpl);
}
