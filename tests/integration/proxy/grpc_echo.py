#!/usr/bin/env python3
"""gRPC through lens-proxy's interception, with python3-grpcio and generic
byte handlers (no protoc):

  server --listen ADDR:PORT --tls CERT KEY --ready FILE
      /echo.Echo/Unary         answers the request bytes, upper-cased, with
                               trailing metadata x-trailer: done and the
                               request's authorization metadata as x-saw-auth
      /echo.Echo/Stream        answers N messages ("part i") for a request "N"
      /echo.Echo/Fail          fails with NOT_FOUND, details "no such thing"
      /echo.Echo/Secret        (the policy refuses it before it gets here)
  client --proxy HOST:PORT --ca CA --target HOST:PORT METHOD [ARG]
      prints "code NAME", "reply ...", "trailer NAME: VALUE", "details ..."
"""
import argparse
import sys
from concurrent import futures

import grpc


def identity(b):
    return b


def serve(args):
    def unary(request, context):
        auth = dict(context.invocation_metadata()).get("authorization", "-")
        context.set_trailing_metadata((("x-trailer", "done"), ("x-saw-auth", auth)))
        return request.upper()

    def stream(request, context):
        for i in range(int(request.decode() or "3")):
            yield f"part {i}".encode()

    def failing(request, context):
        context.abort(grpc.StatusCode.NOT_FOUND, "no such thing")

    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary, identity, identity),
        "Stream": grpc.unary_stream_rpc_method_handler(stream, identity, identity),
        "Fail": grpc.unary_unary_rpc_method_handler(failing, identity, identity),
        "Secret": grpc.unary_unary_rpc_method_handler(unary, identity, identity),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("echo.Echo", handlers),))
    cert, key = (open(p, "rb").read() for p in args.tls)
    server.add_secure_port(args.listen, grpc.ssl_server_credentials([(key, cert)]))
    server.start()
    open(args.ready, "w").close()
    server.wait_for_termination()


def client(args):
    creds = grpc.ssl_channel_credentials(root_certificates=open(args.ca, "rb").read())
    options = [("grpc.http_proxy", f"http://{args.proxy}"), ("grpc.enable_http_proxy", 1)]
    with grpc.secure_channel(args.target, creds, options=options) as channel:
        path = "/echo.Echo/" + args.method
        try:
            if args.method == "Stream":
                call = channel.unary_stream(path, identity, identity)(args.arg.encode(), timeout=10)
                for reply in call:
                    print("reply", reply.decode())
                print("code", call.code().name)
            else:
                # The placeholder goes where the injection covers it only (a
                # placeholder anywhere else is refused: placeholder-leak).
                metadata = (("authorization", "Bearer __lens_cred:gh__"),) if args.method == "Unary" else ()
                reply, call = channel.unary_unary(path, identity, identity).with_call(
                    args.arg.encode(), timeout=10, metadata=metadata)
                print("reply", reply.decode())
                print("code", call.code().name)
                for name, value in call.trailing_metadata():
                    print(f"trailer {name}: {value}")
        except grpc.RpcError as e:
            print("code", e.code().name)
            print("details", e.details())


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("--listen", required=True)
    s.add_argument("--tls", nargs=2, required=True)
    s.add_argument("--ready", required=True)
    c = sub.add_parser("client")
    c.add_argument("--proxy", required=True)
    c.add_argument("--ca", required=True)
    c.add_argument("--target", required=True)
    c.add_argument("method")
    c.add_argument("arg", nargs="?", default="")
    args = p.parse_args()
    serve(args) if args.mode == "server" else client(args)


if __name__ == "__main__":
    sys.exit(main())
