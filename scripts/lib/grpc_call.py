"""A small grpcurl: lists and calls gRPC methods through server reflection.

An independent client for the Sanshi services (it shares no code with them):

    grpc-call ADDR list                       services and their methods
    grpc-call ADDR describe SERVICE|MESSAGE   a service's methods or a message's fields
    grpc-call ADDR SERVICE/METHOD [JSON] [-H 'name: value']...

Over TLS (the gateway's federation port, mTLS): --cacert CA.pem, and
--cert/--key for the client certificate; --servername when the server's
certificate names another host than ADDR.
"""

import argparse
import json
import sys

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase


def main() -> int:
    parser = argparse.ArgumentParser(prog="grpc-call", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("address", help="host:port")
    parser.add_argument("target", help="list | describe | SERVICE/METHOD")
    parser.add_argument("rest", nargs="?", default=None, help="JSON request, or the name to describe")
    parser.add_argument("-H", "--header", action="append", default=[], help="metadata 'name: value'")
    parser.add_argument("--cacert", help="TLS: the server's CA (PEM)")
    parser.add_argument("--cert", help="TLS: the client certificate (PEM)")
    parser.add_argument("--key", help="TLS: the client certificate's key (PEM)")
    parser.add_argument("--servername", help="TLS: the name the server's certificate carries")
    args = parser.parse_args()

    if args.cacert:
        def read(path):
            with open(path, "rb") as f:
                return f.read()
        credentials = grpc.ssl_channel_credentials(
            root_certificates=read(args.cacert),
            private_key=read(args.key) if args.key else None,
            certificate_chain=read(args.cert) if args.cert else None,
        )
        options = [("grpc.ssl_target_name_override", args.servername)] if args.servername else []
        channel = grpc.secure_channel(args.address, credentials, options=options)
    else:
        channel = grpc.insecure_channel(args.address)
    database = ProtoReflectionDescriptorDatabase(channel)
    pool = descriptor_pool.DescriptorPool(database)

    if args.target == "list":
        for service in sorted(database.get_services()):
            print(service)
            if service.startswith("grpc."):
                continue
            for method in pool.FindServiceByName(service).methods:
                print(f"  {method.name}({method.input_type.name}) returns ({'stream ' if method.server_streaming else ''}{method.output_type.name})")
        return 0

    if args.target == "describe":
        name = args.rest or ""
        try:
            service = pool.FindServiceByName(name)
            for method in service.methods:
                print(f"rpc {method.name}({method.input_type.full_name}) returns ({method.output_type.full_name})")
        except KeyError:
            message = pool.FindMessageTypeByName(name)
            for field in message.fields:
                print(f"{field.name} = {field.number}  ({field.type_name if hasattr(field, 'type_name') else field.type})")
        return 0

    service_name, _, method_name = args.target.rpartition("/")
    method = pool.FindServiceByName(service_name).methods_by_name[method_name]
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    request = json_format.Parse(args.rest or "{}", request_class())
    metadata = []
    for header in args.header:
        name, _, value = header.partition(":")
        metadata.append((name.strip().lower(), value.strip()))
    path = f"/{service_name}/{method_name}"
    serialize, deserialize = request_class.SerializeToString, response_class.FromString
    try:
        if method.server_streaming:
            call = channel.unary_stream(path, request_serializer=serialize, response_deserializer=deserialize)
            for response in call(request, metadata=metadata, timeout=30):
                print(json_format.MessageToJson(response, ensure_ascii=False))
        else:
            call = channel.unary_unary(path, request_serializer=serialize, response_deserializer=deserialize)
            print(json_format.MessageToJson(call(request, metadata=metadata, timeout=30), ensure_ascii=False))
    except grpc.RpcError as error:
        print(json.dumps({"code": error.code().name, "message": error.details()}, ensure_ascii=False), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
