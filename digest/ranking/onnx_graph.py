"""Pure: rewrite a weight-only int8 ONNX model so embedding tables are looked up before they
are dequantised, read and written as protobuf wire bytes (no onnx package).

The bundled MiniLM stores each weight as int8 with a per-row scale and turns it back into
float32 in the graph (``Cast`` then ``Mul``). For the word-embedding table that is 30522 x 384
floats (45 MiB) made for every batch, or kept resident when onnxruntime folds it at load,
to look up a few hundred rows. `gather_before_dequantize` turns every
``Gather(Mul(Cast(q), scale), ids)`` into ``Mul(Cast(Gather(q, ids)), Gather(scale, ids))``:
the same products of the same numbers, for the rows asked for only. Everything else in the
file is copied byte for byte.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

# field numbers and wire types from onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto)
_MODEL_GRAPH, _GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_OUTPUT = 7, 1, 5, 12
_TENSOR_DIMS, _TENSOR_NAME = 1, 8
_NODE_INPUT, _NODE_OUTPUT, _NODE_OP = 1, 2, 4
_NODE_ATTRIBUTE = 5
_ATTR_NAME, _ATTR_I, _ATTR_TYPE, _ATTR_INT = 1, 3, 20, 2
_VALUE_NAME = 1
_FLOAT = 1  # TensorProto.FLOAT
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


def _varint(buf: memoryview, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(buf):
            raise ValueError("truncated protobuf varint")
        byte = buf[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _fields(buf: memoryview) -> list[tuple[int, int, memoryview | int, memoryview]]:
    """(field number, wire type, value, the field's raw bytes) for each field of a message;
    views into `buf`, never copies (the model's weights are most of its bytes)."""
    out: list[tuple[int, int, memoryview | int, memoryview]] = []
    at = 0
    while at < len(buf):
        start = at
        key, at = _varint(buf, at)
        number, wire = key >> 3, key & 7
        value: memoryview | int
        if wire == _VARINT:
            value, at = _varint(buf, at)
        elif wire == _LEN:
            size, at = _varint(buf, at)
            if at + size > len(buf):
                raise ValueError("truncated protobuf field")
            value, at = buf[at : at + size], at + size
        elif wire in (_I64, _I32):
            at += 8 if wire == _I64 else 4
            value = buf[start:at]
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        out.append((number, wire, value, buf[start:at]))
    return out


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _len_field(number: int, value: bytes) -> bytes:
    """A length-delimited field (for the small messages made here)."""
    return _encode_varint(number << 3 | _LEN) + _encode_varint(len(value)) + value


def _varint_field(number: int, value: int) -> bytes:
    return _encode_varint(number << 3 | _VARINT) + _encode_varint(value)


@dataclass(frozen=True, slots=True)
class _Node:
    raw: memoryview
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def _node(raw: memoryview) -> _Node:
    op, inputs, outputs = "", [], []
    for number, _, value, _ in _fields(raw):
        if isinstance(value, memoryview):
            if number == _NODE_OP:
                op = bytes(value).decode()
            elif number == _NODE_INPUT:
                inputs.append(bytes(value).decode())
            elif number == _NODE_OUTPUT:
                outputs.append(bytes(value).decode())
    return _Node(raw, op, tuple(inputs), tuple(outputs))


def _make_node(op: str, inputs: tuple[str, ...], output: str, attributes: bytes = b"") -> bytes:
    body = b"".join(_len_field(_NODE_INPUT, i.encode()) for i in inputs)
    body += _len_field(_NODE_OUTPUT, output.encode()) + _len_field(_NODE_OP, op.encode())
    return _len_field(_GRAPH_NODE, body + attributes)


def _cast_to_float() -> bytes:
    attribute = (
        _len_field(_ATTR_NAME, b"to")
        + _varint_field(_ATTR_I, _FLOAT)
        + _varint_field(_ATTR_TYPE, _ATTR_INT)
    )
    return _len_field(_NODE_ATTRIBUTE, attribute)


def _axis_zero(gather: memoryview) -> bool:
    """True when the Gather looks up along axis 0 (the default)."""
    for number, _, value, _ in _fields(gather):
        if number == _NODE_ATTRIBUTE and isinstance(value, memoryview):
            attribute = {n: v for n, _, v, _ in _fields(value)}
            name = attribute.get(_ATTR_NAME)
            if isinstance(name, memoryview) and name.tobytes() == b"axis":
                return attribute.get(_ATTR_I, 0) == 0
    return True


def _shapes(
    fields: list[tuple[int, int, memoryview | int, memoryview]],
) -> dict[str, tuple[int, ...]]:
    """Each initializer's dims by name."""
    shapes: dict[str, tuple[int, ...]] = {}
    for number, _, value, _ in fields:
        if number != _GRAPH_INITIALIZER or not isinstance(value, memoryview):
            continue
        name, dims = "", []
        for n, _, v, _ in _fields(value):
            if n == _TENSOR_NAME and isinstance(v, memoryview):
                name = bytes(v).decode()
            elif n == _TENSOR_DIMS and isinstance(v, int):
                dims.append(v)
            elif n == _TENSOR_DIMS and isinstance(v, memoryview):  # packed
                at = 0
                while at < len(v):
                    dim, at = _varint(v, at)
                    dims.append(dim)
        shapes[name] = tuple(dims)
    return shapes


def _per_row(table: tuple[int, ...] | None, scale: tuple[int, ...] | None) -> bool:
    """True when `scale` holds one factor per row of the 2-D `table`."""
    return table is not None and len(table) == 2 and scale == (table[0], 1)


def _rewrite_graph(graph: memoryview) -> list[bytes | memoryview] | None:
    """The graph's fields with each matching Gather replaced, or None when none matches."""
    fields = _fields(graph)
    nodes = {
        i: _node(v)
        for i, (n, _, v, _) in enumerate(fields)
        if n == _GRAPH_NODE and isinstance(v, memoryview)
    }
    made = {out: i for i, node in nodes.items() for out in node.outputs}
    uses = Counter(name for node in nodes.values() for name in node.inputs)
    for number, _, value, _ in fields:
        if number == _GRAPH_OUTPUT and isinstance(value, memoryview):
            for n, _, name, _ in _fields(value):
                if n == _VALUE_NAME and isinstance(name, memoryview):
                    uses[bytes(name).decode()] += 1
    shapes = _shapes(fields)
    replace: dict[int, bytes] = {}
    drop: set[int] = set()
    for i, node in nodes.items():
        if node.op != "Gather" or len(node.inputs) != 2 or len(node.outputs) != 1:
            continue
        mul_at = made.get(node.inputs[0])
        if mul_at is None or nodes[mul_at].op != "Mul" or uses[node.inputs[0]] != 1:
            continue
        mul = nodes[mul_at]
        cast_at = made.get(mul.inputs[0]) if len(mul.inputs) == 2 else None
        if cast_at is None or nodes[cast_at].op != "Cast" or uses[mul.inputs[0]] != 1:
            continue
        table, scale = nodes[cast_at].inputs[0], mul.inputs[1]
        if not _axis_zero(node.raw) or not _per_row(shapes.get(table), shapes.get(scale)):
            continue
        ids, out = node.inputs[1], node.outputs[0]
        replace[i] = b"".join(
            (
                _make_node("Gather", (table, ids), f"{out}/rows_q"),
                _make_node("Gather", (scale, ids), f"{out}/rows_scale"),
                _make_node("Cast", (f"{out}/rows_q",), f"{out}/rows_f", _cast_to_float()),
                _make_node("Mul", (f"{out}/rows_f", f"{out}/rows_scale"), out),
            )
        )
        drop |= {mul_at, cast_at}
    if not replace:
        return None
    return [replace.get(i, b"" if i in drop else raw) for i, (_, _, _, raw) in enumerate(fields)]


def gather_before_dequantize(model: bytes) -> bytes:
    """`model` with each dequantised table looked up row-wise first; the same bytes when the
    model has no such table. ValueError when the bytes are not a protobuf message."""
    view = memoryview(model)
    out: list[bytes | memoryview] = []
    changed = False
    for number, _, value, raw in _fields(view):
        if number == _MODEL_GRAPH and isinstance(value, memoryview):
            graph = _rewrite_graph(value)
            if graph is not None:
                size = sum(len(piece) for piece in graph)
                out.append(_encode_varint(_MODEL_GRAPH << 3 | _LEN) + _encode_varint(size))
                out.extend(graph)
                changed = True
                continue
        out.append(raw)
    return b"".join(out) if changed else model
