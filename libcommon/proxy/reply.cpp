#include "libcommon/proxy/reply.h"

namespace lens::proxy {

std::string_view statusText(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 103:
      return "Early Hints";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 404:
      return "Not Found";
    case 500:
      return "Internal Server Error";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 421:
      return "Misdirected Request";
    case 431:
      return "Request Header Fields Too Large";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:  // (HTTP/2 answers have no phrase: one for the HTTP/1.1 line)
      return status < 400 ? "Status" : "Error";
  }
}

std::string errorReply(int status, std::string_view reason, std::string_view subject,
                       std::string_view text, std::string_view tool, bool keepAlive) {
  std::string body(tool);
  body.append(": ");
  body.append(subject).append(": ").append(text).append(" (").append(reason).append(")\n");
  std::string out =
      "HTTP/1.1 " + std::to_string(status) + " " + std::string(statusText(status)) + "\r\n";
  if (!keepAlive) out.append("Connection: close\r\n");
  out.append("Content-Type: text/plain; charset=utf-8\r\nContent-Length: ")
      .append(std::to_string(body.size()))
      .append("\r\nX-Lens-Reason: ")
      .append(reason)
      .append("\r\n\r\n")
      .append(body);
  return out;
}

std::string tokenReply(int status, std::string_view json, bool keepAlive) {
  std::string out =
      "HTTP/1.1 " + std::to_string(status) + " " + std::string(statusText(status)) + "\r\n";
  if (!keepAlive) out.append("Connection: close\r\n");
  out.append(
         "Content-Type: application/json\r\nCache-Control: no-store\r\nPragma: "
         "no-cache\r\nContent-Length: ")
      .append(std::to_string(json.size()))
      .append("\r\n\r\n")
      .append(json);
  return out;
}

}  // namespace lens::proxy
