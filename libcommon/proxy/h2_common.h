#pragma once

// What the two nghttp2 sessions (h2_session: clients; h2_origin: origins)
// share. Included by their sources only: it brings nghttp2.h.

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "libcommon/proxy/h2_translate.h"

namespace lens::proxy::h2 {

// A field for nghttp2, which copies it (NGHTTP2_NV_FLAG_NONE) and never
// writes through the pointers.
inline nghttp2_nv field(std::string_view name, std::string_view value) {
  return nghttp2_nv{const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(name.data())),
                    const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(value.data())),
                    name.size(), value.size(), NGHTTP2_NV_FLAG_NONE};
}

inline std::vector<nghttp2_nv> fields(const std::vector<H2Field>& list) {
  std::vector<nghttp2_nv> out;
  out.reserve(list.size());
  for (const H2Field& f : list) out.push_back(field(f.name, f.value));
  return out;
}

// Body bytes onto an HTTP/1.1 message: as they are, or (`chunked`) as one
// chunk (nothing for none: an empty chunk would end the body).
void appendBody(std::string& out, std::string_view data, bool chunked);

// A body on its way out as DATA frames: what is waiting, whether more
// comes, the trailers after it.
struct Outgoing {
  std::string body;
  bool ended = false;
  std::vector<H2Field> trailers;
  bool deferred = false;  // the data provider waits for more (resume when it comes)
};

// The data provider's read callback for `out`: copies what is waiting; at
// the end sets EOF (and, with trailers, NO_END_STREAM and submits them);
// with nothing waiting yet, NGHTTP2_ERR_DEFERRED.
ssize_t provide(nghttp2_session* session, std::int32_t id, Outgoing& out, std::uint8_t* buf,
                std::size_t length, std::uint32_t* flags);

}  // namespace lens::proxy::h2
