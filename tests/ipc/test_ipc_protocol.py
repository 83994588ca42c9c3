"""The codec: round trips, the hex examples of PROTOCOL.md, framing edge cases."""

from __future__ import annotations

import re
import struct
from pathlib import Path

import numpy as np
import pytest

from spikeforge.ipc import protocol as P
from spikeforge.ipc.protocol import Err, Msg, ProtocolError

DOC = Path(__file__).resolve().parents[2] / "integrations" / "PROTOCOL.md"
TOKEN = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def doc_hex(title_start: str) -> bytes:
    """The bytes of the hex example that follows the paragraph starting with ``title_start``."""
    text = DOC.read_text(encoding="utf-8")
    i = text.index(title_start)
    block = text[text.index("```", i) + 3:]
    block = block[:block.index("```")]
    out = bytearray()
    for line in block.splitlines():
        # hex pairs before the annotation (annotations are words, not 2-hex-digit tokens)
        m = re.match(r"^\s*((?:[0-9a-f]{2}\s+)*[0-9a-f]{2})(\s|$)", line)
        if m:
            out += bytes.fromhex(m.group(1))
    return bytes(out)


def test_doc_hello_example_matches_encoder() -> None:
    want = P.frame(Msg.HELLO, 1, P.Hello("godot-npc", TOKEN, "").encode())
    assert doc_hex("HELLO from client") == want
    assert len(want) == 99


def test_doc_welcome_example_matches_encoder() -> None:
    w = P.Welcome(7, "0123456789abcdef0123456789abcdef", False, 0.001, 64, P.MAX_FRAME_BYTES, "0.1.0", 0,
                  idle_timeout_s=300.0)
    assert doc_hex("WELCOME, session 7") == P.frame(Msg.WELCOME, 1, w.encode())
    assert len(doc_hex("WELCOME, session 7")) == 90
    assert P.Welcome.decode(w.encode()) == w


def test_welcome_idle_timeout_follows_the_lower_minor() -> None:
    # 1.1 appends f64 idle_timeout_s; a 1.0 peer on either side means the 1.0 payload, exactly
    base = dict(session_id=7, resume_token="t" * 32, resumed=False, dt=0.001, max_substeps=64,
                max_frame_bytes=P.MAX_FRAME_BYTES, server_version="0.1.0", epoch=0)
    new = P.Welcome(**base, idle_timeout_s=20.0)  # type: ignore[arg-type]
    v10 = P.Welcome(**base, minor=0)  # type: ignore[arg-type]
    assert len(new.encode()) == len(v10.encode()) + 8
    assert P.Welcome.decode(new.encode()).idle_timeout_s == 20.0
    # a 1.1 server answering a 1.0 HELLO leaves the field out (the 1.0 decoders check the end)
    old_client = P.Welcome(**base)  # type: ignore[arg-type]
    assert P.Welcome.decode(old_client.encode(), client_minor=0) == old_client
    assert old_client.encode()[4:] == v10.encode()[4:]
    # a 1.1 client and a 1.0 server: no field, timeout unknown
    assert P.Welcome.decode(v10.encode()).idle_timeout_s is None
    with pytest.raises(ProtocolError, match="WELCOME"):  # a 1.1 WELCOME without the field is short
        P.Welcome.decode(old_client.encode())
    with pytest.raises(ProtocolError, match="idle_timeout_s"):
        P.Welcome.decode(P.Welcome(**base, idle_timeout_s=-1.0).encode())  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="unexpected bytes"):
        P.Welcome.decode(new.encode() + b"x")
    # a later minor may append fields this codec does not know: ignored
    later = P.Welcome(**base, minor=P.MINOR + 1, idle_timeout_s=5.0)  # type: ignore[arg-type]
    assert P.Welcome.decode(later.encode() + b"\0" * 8).idle_timeout_s == 5.0


def test_keepalive_interval_rule() -> None:
    assert P.keepalive_interval(30.0, 300.0) == 30.0
    assert P.keepalive_interval(30.0, 20.0) == 10.0
    assert P.keepalive_interval(30.0, 2.0) == 1.0
    assert P.keepalive_interval(30.0, 0.5) == P.KEEPALIVE_MIN_S == 1.0  # never below 1 s on the server's account
    assert P.keepalive_interval(0.5, 2.0) == 0.5  # a shorter configured interval stays
    assert P.keepalive_interval(30.0, 0.0) == 30.0  # the server never drops idle connections
    assert P.keepalive_interval(30.0, None) == 30.0  # a 1.0 server: unknown
    assert P.keepalive_interval(0.0, 2.0) == 0.0  # off stays off


def test_doc_exchange_examples_match_encoder() -> None:
    ex = P.Exchange(1, 1 / 60, 0, np.array([0.5, 1.0, 0.0, 0.25], np.float32))
    assert doc_hex("EXCHANGE, seq 42") == P.frame(Msg.EXCHANGE, 42, ex.encode())
    res = P.ExchangeResult(1, 16, float(np.float32(2 / 3)), 0, 850, np.array([12.5, 0.0], np.float32))
    assert doc_hex("EXCHANGE_RESULT, seq 42") == P.frame(Msg.EXCHANGE_RESULT, 42, res.encode())
    err = P.encode_error(Err.STALE_LAYOUT, "stale layout", False)
    assert doc_hex("ERROR, seq 5") == P.frame(Msg.ERROR, 5, err)


def test_hello_roundtrip_and_bad_magic() -> None:
    h = P.Hello("unity", "tok", "resume", 1, 3)
    assert P.Hello.decode(h.encode()) == h
    bad = b"XXXX" + h.encode()[4:]
    with pytest.raises(ProtocolError) as ei:
        P.Hello.decode(bad)
    assert ei.value.code == Err.VERSION and ei.value.fatal


def test_truncated_and_trailing_payloads_are_malformed() -> None:
    payload = P.Spawn("probe", 3).encode()
    for cut in range(len(payload)):
        with pytest.raises(ProtocolError) as ei:
            P.Spawn.decode(payload[:cut])
        assert ei.value.code == Err.MALFORMED
        assert "SPAWN." in ei.value.message
    with pytest.raises(ProtocolError) as ei:
        P.Spawn.decode(payload + b"\0")
    assert ei.value.code == Err.MALFORMED


def test_spawn_limits() -> None:
    with pytest.raises(ProtocolError) as ei:
        P.Spawn.decode(P.Spawn("x", 0).encode())
    assert ei.value.code == Err.INVALID
    with pytest.raises(ProtocolError) as ei:
        P.Spawn.decode(P.Spawn("x", P.MAX_SPAWN_COUNT + 1).encode())
    assert ei.value.code == Err.LIMIT


def test_exchange_decode_checks() -> None:
    good = P.Exchange(3, 0.016, 0, np.arange(5, dtype=np.float32)).encode()
    got = P.Exchange.decode(good)
    assert got.epoch == 3 and got.frame_dt == 0.016 and got.sensors.tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ProtocolError, match=r"EXCHANGE\.n"):
        P.Exchange.decode(good[:-1])
    for dt in (float("nan"), -0.1, 2.0, float("inf")):
        with pytest.raises(ProtocolError, match="frame_dt") as ei:
            P.Exchange.decode(P.Exchange(3, dt, 0, np.zeros(0, np.float32)).encode())
        assert ei.value.code == Err.INVALID
    with pytest.raises(ProtocolError, match="flags"):
        P.Exchange.decode(P.Exchange(3, 0.01, 4, np.zeros(0, np.float32)).encode())
    with pytest.raises(ProtocolError, match="shared-memory"):
        P.Exchange.decode(P.Exchange(3, 0.01, P.FLAG_SHM, np.zeros(2, np.float32)).encode())


def test_exchange_result_roundtrip_with_spikes() -> None:
    b = P.SpikeBatch(2, False, np.array([5, 6], np.int64), np.array([1, 9], np.uint32), np.array([0, 3], np.uint32))
    res = P.ExchangeResult(4, 17, 0.25, 0, 99, np.array([1.5, -2.0, 3.0], np.float32), (b,))
    got = P.ExchangeResult.decode(res.encode())
    assert got.epoch == 4 and got.steps == 17 and got.alpha == 0.25 and got.sim_us == 99
    assert got.actuators.tolist() == [1.5, -2.0, 3.0]
    assert got.batches[0].steps.tolist() == [5, 6] and got.batches[0].brains.tolist() == [1, 9]
    assert got.batches[0].neurons.tolist() == [0, 3] and got.batches[0].sub_id == 2


def test_layout_roundtrip() -> None:
    lay = P.LayoutInfo(2, (("a", (0, 4)), ("b", (7,))), 10, 3,
                       (P.Block("a", "eye", 2, 4, 0), P.Block("b", "ear", 1, 2, 8)), (P.Block("a", "go", 2, 1, 0),
                                                                                       P.Block("b", "go", 1, 1, 2)))
    r = P.Reader(bytes(P.encode_layout(P.Writer(), lay).buf), "LAYOUT")
    assert P.decode_layout(r) == lay
    r.end()
    assert lay.brain_ids == [0, 4, 7]
    assert lay.sensor_block("b", "ear").offset == 8
    with pytest.raises(KeyError, match="nose"):
        lay.sensor_block("a", "nose")


def test_circuits_roundtrip() -> None:
    c = P.CircuitInfo("w", 12, (P.OrganInfo("eye", 3, 0.0, 1.0),), (P.OrganInfo("go", 1, -1.0, 1.0),),
                      (("in", 6), ("out", 6)))
    assert P.decode_circuits(P.encode_circuits([c, c])) == [c, c]


def test_reward_rejects_nonfinite() -> None:
    enc = P.Reward(np.array([1, 2], np.uint32), np.array([0.5, np.nan], np.float32)).encode()
    with pytest.raises(ProtocolError, match=r"rewards\[1\]"):
        P.Reward.decode(enc)


def test_bad_utf8_is_malformed() -> None:
    payload = struct.pack("<H", 2) + b"\xff\xfe" + struct.pack("<I", 1)
    with pytest.raises(ProtocolError, match="UTF-8") as ei:
        P.Spawn.decode(payload)
    assert ei.value.code == Err.MALFORMED


def test_frame_decoder_any_split() -> None:
    stream = b"".join(P.frame(Msg.PING, i, bytes(range(i))) for i in range(1, 6))
    for step in (1, 2, 3, 7, 64):
        dec = P.FrameDecoder()
        got: list[P.Frame] = []
        for k in range(0, len(stream), step):
            got += dec.feed(stream[k:k + step])
        assert [(f.msg, f.seq, f.payload) for f in got] == [(Msg.PING, i, bytes(range(i))) for i in range(1, 6)]
        assert dec.pending == 0


def test_frame_decoder_rejects_bad_lengths() -> None:
    dec = P.FrameDecoder(max_length=100)
    with pytest.raises(ProtocolError) as ei:
        dec.feed(struct.pack("<I", 101))
    assert ei.value.code == Err.TOO_LARGE and ei.value.fatal
    with pytest.raises(ProtocolError) as ei:
        P.FrameDecoder().feed(struct.pack("<I", 7) + b"\0" * 7)
    assert ei.value.code == Err.MALFORMED and ei.value.fatal


def test_frame_decoder_returns_good_frames_before_a_bad_length() -> None:
    dec = P.FrameDecoder(max_length=100)
    got = dec.feed(P.frame(Msg.PING, 1, b"a") + struct.pack("<IHHI", 5000, Msg.PING, 0, 2))
    assert [f.seq for f in got] == [1]
    with pytest.raises(ProtocolError) as ei:
        dec.feed(b"")
    assert ei.value.code == Err.TOO_LARGE


def test_doc_tables_list_every_message_type_and_error_code() -> None:
    text = DOC.read_text(encoding="utf-8")
    for m in Msg:
        assert re.search(rf"\| 0x{int(m):04X} \| {m.name} \|", text), f"PROTOCOL.md lacks message {m.name}"
    for e in Err:
        assert re.search(rf"\| {int(e)} \| {e.name} \|", text), f"PROTOCOL.md lacks error code {e.name}"
    assert f"`length <= {P.MAX_FRAME_BYTES}`" in text and f"`length <= {P.MAX_HELLO_BYTES}`" in text
