"""A minimal CRI (Kubernetes' Container Runtime Interface, runtime.v1) client:
the few messages the tests need, encoded by hand in protobuf's wire format,
sent with grpcio as raw bytes.  Field numbers are those of k8s.io/cri-api's
api.proto."""

import grpc

SERVICE = "/runtime.v1.RuntimeService/"
NODE = 2          # NamespaceMode.NODE
POD = 0           # NamespaceMode.POD


def _varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def message(*fields):
    """fields: (number, value) with value bytes/str (length-delimited), int
    (varint) or None (left out); a list value repeats the field."""
    out = bytearray()
    for number, value in fields:
        values = value if isinstance(value, list) else [value]
        for v in values:
            if v is None:
                continue
            if isinstance(v, int):
                out += _varint(number << 3) + _varint(v)
            else:
                data = v.encode() if isinstance(v, str) else bytes(v)
                out += _varint(number << 3 | 2) + _varint(len(data)) + data
    return bytes(out)


def parse(data):
    """{field number: [values]} of a message (bytes for length-delimited)."""
    fields, i = {}, 0
    while i < len(data):
        key, i = _read_varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(data, i)
        elif wire == 2:
            length, i = _read_varint(data, i)
            value, i = data[i:i + length], i + length
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wire)
        fields.setdefault(number, []).append(value)
    return fields


def _read_varint(data, i):
    shift = result = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, i
        shift += 7


class RuntimeService:
    def __init__(self, address):
        self.channel = grpc.insecure_channel("unix://%s" % address)

    def call(self, method, request, timeout=60):
        fn = self.channel.unary_unary(SERVICE + method)
        return parse(fn(request, timeout=timeout))

    def close(self):
        self.channel.close()

    def version(self):
        reply = self.call("Version", message((1, "v1")))
        return reply[2][0].decode(), reply[4][0].decode()

    @staticmethod
    def sandbox_config(name, uid, log_directory):
        namespaces = message((1, NODE), (2, POD), (3, POD))   # host network, pod pid and ipc
        linux = message((2, message((1, namespaces))))
        # no hostname: a host-network pod shares the host's UTS namespace too
        return message((1, message((1, name), (2, uid), (3, "default"), (4, 0))),
                       (3, log_directory), (8, linux))

    def run_pod_sandbox(self, config, handler):
        return self.call("RunPodSandbox", message((1, config), (2, handler)), timeout=120)[1][0].decode()

    def create_container(self, sandbox_id, sandbox_config, name, image, command, log_path):
        config = message((1, message((1, name), (2, 0))), (2, message((1, image))),
                         (3, list(command)), (11, log_path))
        reply = self.call("CreateContainer", message((1, sandbox_id), (2, config), (3, sandbox_config)))
        return reply[1][0].decode()

    def start_container(self, cid):
        self.call("StartContainer", message((1, cid)))

    def exec_sync(self, cid, cmd, timeout=30):
        reply = self.call("ExecSync", message((1, cid), (2, list(cmd)), (3, timeout)))
        return (reply.get(1, [b""])[0].decode(), reply.get(2, [b""])[0].decode(),
                reply.get(3, [0])[0])

    def stop_pod_sandbox(self, sandbox_id):
        self.call("StopPodSandbox", message((1, sandbox_id)))

    def remove_pod_sandbox(self, sandbox_id):
        self.call("RemovePodSandbox", message((1, sandbox_id)))
