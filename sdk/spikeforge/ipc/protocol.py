"""The wire codec of ``integrations/PROTOCOL.md``: constants, limits, frame (de)coding
and the payload of every message type. Pure bytes in, values out: no sockets, no
pickle, no eval.

Frame: ``u32 length`` (bytes after this field, >= 8), ``u16 type``, ``u16 flags`` (0),
``u32 seq``, then ``length - 8`` payload bytes; everything little-endian.

Every decoder raises :class:`ProtocolError` (never anything else) on bad input, with
the error code the server sends back and a message naming the field.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from spikeforge.model.errors import MAX_REWARD

MAGIC = 0x464B5053  # bytes 53 50 4B 46 = "SPKF"
MAJOR = 1
MINOR = 2  # 1.1: WELCOME announces the server's idle timeout (idle_timeout_s); 1.2: GET_SUBSCRIPTIONS
DEFAULT_PORT = 47800  # TCP port of `spikeforge serve` and of every adapter's default

HEADER = struct.Struct("<IHHI")  # length, type, flags, seq
HEADER_SIZE = HEADER.size  # 12
MIN_LENGTH = 8

# ------------------------------------------------------------------ limits (PROTOCOL.md section 9)
MAX_FRAME_BYTES = 32 * 1024 * 1024
MAX_HELLO_BYTES = 4096
MAX_CLIENT_NAME = 256
MAX_GENOME_BYTES = 4 * 1024 * 1024
MAX_SPAWN_COUNT = 10_000
MAX_BRAINS_PER_SESSION = 100_000
MAX_WORLD_NEURONS = 4_000_000
MAX_WORLD_SYNAPSES = 100_000_000  # expected count (fixed_probability counts p * pre * post)
MAX_SUBSCRIPTIONS = 64
MAX_CIRCUITS = 1024  # registered circuits
MAX_CIRCUITS_PER_SESSION = 256  # distinct circuits one session has brains of
MAX_ORGANS_PER_CIRCUIT = 255  # sensors, and actuators, each
MAX_POPULATIONS_PER_CIRCUIT = 65535
MAX_NAME_BYTES = 1024
MAX_SPIKES_PER_BATCH = 1_000_000
MAX_CLIENTS = 64
MAX_FRAME_DT = 1.0
MAX_CONSECUTIVE_ERRORS = 32
MAX_PING_BYTES = 1024
MAX_SHM_FLOATS = 8 * 1024 * 1024
MAX_ASSET_BYTES = MAX_FRAME_BYTES - 64  # a brain file (BRAIN_ASSET, SPAWN_ASSET): one frame with its fields
MAX_ASSET_UNPACKED = 2 * MAX_ASSET_BYTES  # a brain file's arrays once unzipped (stored, so ~ its size)
HELLO_TIMEOUT_S = 5.0  # a connection must complete HELLO this soon (--hello-timeout)
MAX_PENDING = 64  # connections still before HELLO (--max-pending): the oldest is dropped beyond it
IDLE_TIMEOUT_S = 300.0  # an authenticated connection sending nothing this long is dropped (--idle-timeout; 0 = off)
FRAME_TIMEOUT_S = 30.0
KEEPALIVE_INTERVAL_S = 30.0  # the adapters' default keepalive interval (a PING after this long without a frame)
KEEPALIVE_MIN_S = 1.0  # an announced idle timeout never lowers a keepalive interval below this

FLAG_SHM = 1


class Msg(IntEnum):
    """Message types (``u16``)."""

    HELLO = 0x0001
    WELCOME = 0x0002
    ERROR = 0x0003
    OK = 0x0004
    PING = 0x0005
    PONG = 0x0006
    BYE = 0x0007
    LIST_CIRCUITS = 0x0010
    CIRCUITS = 0x0011
    UPLOAD_GENOME = 0x0012
    SPAWN = 0x0020
    SPAWNED = 0x0021
    DESPAWN = 0x0022
    LAYOUT = 0x0023
    GET_LAYOUT = 0x0024
    CLAIM = 0x0025
    EXCHANGE = 0x0030
    EXCHANGE_RESULT = 0x0031
    SUBSCRIBE = 0x0032
    SUBSCRIBED = 0x0033
    UNSUBSCRIBE = 0x0034
    GET_SUBSCRIPTIONS = 0x0035  # 1.2
    SUBSCRIPTIONS = 0x0036  # 1.2
    REWARD = 0x0040
    SET_LEARNING = 0x0041
    SAVE = 0x0050
    LOAD = 0x0051
    EXPORT_BRAIN = 0x0052
    BRAIN_ASSET = 0x0053
    SPAWN_ASSET = 0x0054
    STATS = 0x0060
    STATS_RESULT = 0x0061
    SHM_OPEN = 0x0070
    SHM_READY = 0x0071
    SHM_CLOSE = 0x0072


class Err(IntEnum):
    """Error codes carried by ERROR frames."""

    MALFORMED = 1
    UNKNOWN_TYPE = 2
    TOO_LARGE = 3
    BAD_STATE = 4
    AUTH = 5
    VERSION = 6
    NOT_FOUND = 7
    NOT_OWNER = 8
    INVALID = 9
    LIMIT = 10
    STALE_LAYOUT = 11
    UNSUPPORTED = 12
    BUSY = 13
    IO = 14
    INTERNAL = 15
    GENOME = 16
    SHUTDOWN = 17
    TIMEOUT = 18


class ProtocolError(Exception):
    """A request or frame the server refuses: ``code`` (:class:`Err`), message, fatal flag."""

    def __init__(self, code: Err, message: str, fatal: bool = False) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message
        self.fatal = fatal


class RemoteError(Exception):
    """An ERROR frame received by a client."""

    def __init__(self, code: int, message: str, fatal: bool, seq: int) -> None:
        try:
            name = Err(code).name
        except ValueError:
            name = f"code {code}"
        super().__init__(f"{name}: {message}")
        self.code = code
        self.message = message
        self.fatal = fatal
        self.seq = seq


F32 = npt.NDArray[np.float32]
U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]

_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_I64 = struct.Struct("<q")
_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")


# ------------------------------------------------------------------ primitive reader / writer
class Reader:
    """Reads little-endian fields from one payload; every short read is MALFORMED."""

    __slots__ = ("_buf", "_pos", "_what")

    def __init__(self, buf: bytes | bytearray | memoryview, what: str) -> None:
        self._buf = memoryview(buf).cast("B") if not isinstance(buf, bytes) else memoryview(buf)
        self._pos = 0
        self._what = what

    def _take(self, n: int, field_name: str) -> memoryview:
        end = self._pos + n
        if n < 0 or end > len(self._buf):
            raise ProtocolError(Err.MALFORMED, f"{self._what}.{field_name}: payload ends after {len(self._buf)} "
                                               f"bytes, {end} needed")
        view = self._buf[self._pos:end]
        self._pos = end
        return view

    def u8(self, name: str) -> int:
        """Read one little-endian ``u8`` field.

        Parameters
        ----------
        name : str
            The field's name, used in the error message.

        Returns
        -------
        int
            The value.

        Raises
        ------
        ProtocolError
            ``MALFORMED`` when the payload ends before the field.
        """
        return int(_U8.unpack(self._take(1, name))[0])

    def u16(self, name: str) -> int:
        """Read one little-endian ``u16`` field.

        Parameters
        ----------
        name : str
            The field's name, used in the error message.

        Returns
        -------
        int
            The value.

        Raises
        ------
        ProtocolError
            ``MALFORMED`` when the payload ends before the field.
        """
        return int(_U16.unpack(self._take(2, name))[0])

    def u32(self, name: str) -> int:
        """Read one little-endian ``u32`` field.

        Parameters
        ----------
        name : str
            The field's name, used in the error message.

        Returns
        -------
        int
            The value.

        Raises
        ------
        ProtocolError
            ``MALFORMED`` when the payload ends before the field.
        """
        return int(_U32.unpack(self._take(4, name))[0])

    def u64(self, name: str) -> int:
        """Read one little-endian ``u64`` field.

        Parameters
        ----------
        name : str
            The field's name, used in the error message.

        Returns
        -------
        int
            The value.

        Raises
        ------
        ProtocolError
            ``MALFORMED`` when the payload ends before the field.
        """
        return int(_U64.unpack(self._take(8, name))[0])

    def f32(self, name: str) -> float:
        """Read one little-endian ``f32`` field.

        Parameters
        ----------
        name : str
            The field's name, used in the error message.

        Returns
        -------
        float
            The value.

        Raises
        ------
        ProtocolError
            ``MALFORMED`` when the payload ends before the field.
        """
        return float(_F32.unpack(self._take(4, name))[0])

    def f64(self, name: str) -> float:
        """Read one little-endian ``f64`` field.

        Parameters
        ----------
        name : str
            The field's name, used in the error message.

        Returns
        -------
        float
            The value.

        Raises
        ------
        ProtocolError
            ``MALFORMED`` when the payload ends before the field.
        """
        return float(_F64.unpack(self._take(8, name))[0])

    def _text(self, n: int, name: str) -> str:
        raw = self._take(n, name)
        try:
            return bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(Err.MALFORMED, f"{self._what}.{name}: not valid UTF-8 ({exc.reason} at byte "
                                               f"{exc.start})") from None

    def str16(self, name: str, limit: int = 0xFFFF) -> str:
        """Read a ``str16``: a ``u16`` byte count, then that many bytes of UTF-8.

        Parameters
        ----------
        name : str
            The field's name, used in error messages.
        limit : int, optional
            Most bytes accepted (default 65535, the format's own limit).

        Returns
        -------
        str
            The decoded text.

        Raises
        ------
        ProtocolError
            ``TOO_LARGE`` above ``limit``; ``MALFORMED`` on a short payload or invalid UTF-8.
        """
        n = self.u16(name)
        if n > limit:
            raise ProtocolError(Err.TOO_LARGE, f"{self._what}.{name}: {n} bytes, at most {limit} allowed")
        return self._text(n, name)

    def str32(self, name: str, limit: int) -> str:
        """Read a ``str32``: a ``u32`` byte count, then that many bytes of UTF-8 (genome JSON, STATS).

        Parameters
        ----------
        name : str
            The field's name, used in error messages.
        limit : int
            Most bytes accepted (e.g. ``MAX_GENOME_BYTES``); checked before anything is copied.

        Returns
        -------
        str
            The decoded text.

        Raises
        ------
        ProtocolError
            ``TOO_LARGE`` above ``limit``; ``MALFORMED`` on a short payload or invalid UTF-8.
        """
        n = self.u32(name)
        if n > limit:
            raise ProtocolError(Err.TOO_LARGE, f"{self._what}.{name}: {n} bytes, at most {limit} allowed")
        return self._text(n, name)

    def raw(self, n: int, name: str) -> bytes:
        """Read ``n`` bytes as they are (e.g. a PING payload).

        Parameters
        ----------
        n : int
            Number of bytes.
        name : str
            The field's name, used in the error message.

        Returns
        -------
        bytes
            A copy of the bytes.

        Raises
        ------
        ProtocolError
            ``MALFORMED`` when fewer than ``n`` bytes remain.
        """
        return bytes(self._take(n, name))

    def array(self, dtype: str, n: int, name: str) -> np.ndarray:
        """``n`` raw little-endian elements (a read-only view of the payload)."""
        size = np.dtype(dtype).itemsize
        view = self._take(n * size, name)
        return np.frombuffer(view, dtype=dtype, count=n)

    def count(self, name: str, limit: int) -> int:
        """Read a ``u32`` element count and check it against a limit before anything is allocated.

        Parameters
        ----------
        name : str
            The field's name, used in error messages.
        limit : int
            Largest count accepted (a PROTOCOL.md section 9 limit).

        Returns
        -------
        int
            The count.

        Raises
        ------
        ProtocolError
            ``TOO_LARGE`` above ``limit``; ``MALFORMED`` on a short payload.
        """
        n = self.u32(name)
        if n > limit:
            raise ProtocolError(Err.TOO_LARGE, f"{self._what}.{name}: {n} elements, at most {limit} allowed")
        return n

    def end(self) -> None:
        """Check that the whole payload was read.

        Call it after the last field: trailing bytes mean the peer speaks another format.

        Raises
        ------
        ProtocolError
            ``MALFORMED``, naming how many bytes are left over.
        """
        if self._pos != len(self._buf):
            raise ProtocolError(Err.MALFORMED, f"{self._what}: {len(self._buf) - self._pos} unexpected bytes "
                                               f"after the last field")

    @property
    def remaining(self) -> int:
        """Bytes of the payload not read yet."""
        return len(self._buf) - self._pos


class Writer:
    """Builds one payload."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def u8(self, v: int) -> Writer:
        """Append one little-endian ``u8``.

        Parameters
        ----------
        v : int
            The value; it must fit the type (0..255), else :class:`struct.error`.

        Returns
        -------
        Writer
            ``self``, so that calls chain: ``Writer().u32(1).str16("x").buf``.
        """
        self.buf += _U8.pack(v)
        return self

    def u16(self, v: int) -> Writer:
        """Append one little-endian ``u16``.

        Parameters
        ----------
        v : int
            The value; it must fit the type (0..65535), else :class:`struct.error`.

        Returns
        -------
        Writer
            ``self``, so that calls chain: ``Writer().u32(1).str16("x").buf``.
        """
        self.buf += _U16.pack(v)
        return self

    def u32(self, v: int) -> Writer:
        """Append one little-endian ``u32``.

        Parameters
        ----------
        v : int
            The value; it must fit the type (0..2**32-1), else :class:`struct.error`.

        Returns
        -------
        Writer
            ``self``, so that calls chain: ``Writer().u32(1).str16("x").buf``.
        """
        self.buf += _U32.pack(v)
        return self

    def u64(self, v: int) -> Writer:
        """Append one little-endian ``u64``.

        Parameters
        ----------
        v : int
            The value; it must fit the type (0..2**64-1), else :class:`struct.error`.

        Returns
        -------
        Writer
            ``self``, so that calls chain: ``Writer().u32(1).str16("x").buf``.
        """
        self.buf += _U64.pack(v)
        return self

    def i64(self, v: int) -> Writer:
        """Append one little-endian ``i64``.

        Parameters
        ----------
        v : int
            The value; it must fit the type (-2**63..2**63-1), else :class:`struct.error`.

        Returns
        -------
        Writer
            ``self``, so that calls chain: ``Writer().u32(1).str16("x").buf``.
        """
        self.buf += _I64.pack(v)
        return self

    def f32(self, v: float) -> Writer:
        """Append one little-endian ``f32``.

        Parameters
        ----------
        v : float
            The value; it must fit the type (rounded to single precision), else :class:`struct.error`.

        Returns
        -------
        Writer
            ``self``, so that calls chain: ``Writer().u32(1).str16("x").buf``.
        """
        self.buf += _F32.pack(v)
        return self

    def f64(self, v: float) -> Writer:
        """Append one little-endian ``f64``.

        Parameters
        ----------
        v : float
            The value; it must fit the type (any float), else :class:`struct.error`.

        Returns
        -------
        Writer
            ``self``, so that calls chain: ``Writer().u32(1).str16("x").buf``.
        """
        self.buf += _F64.pack(v)
        return self

    def str16(self, s: str) -> Writer:
        """Append a ``str16``: the UTF-8 byte count as ``u16``, then the bytes.

        Parameters
        ----------
        s : str
            The text; at most 65535 bytes once encoded.

        Returns
        -------
        Writer
            ``self``, for chaining.

        Raises
        ------
        ValueError
            If the encoded text is longer than 65535 bytes.
        """
        b = s.encode("utf-8")
        if len(b) > 0xFFFF:
            raise ValueError(f"string of {len(b)} bytes does not fit a str16")
        self.buf += _U16.pack(len(b))
        self.buf += b
        return self

    def str32(self, s: str) -> Writer:
        """Append a ``str32``: the UTF-8 byte count as ``u32``, then the bytes (genome JSON, STATS).

        Parameters
        ----------
        s : str
            The text.

        Returns
        -------
        Writer
            ``self``, for chaining.
        """
        b = s.encode("utf-8")
        self.buf += _U32.pack(len(b))
        self.buf += b
        return self

    def array(self, a: np.ndarray, dtype: str) -> Writer:
        """Raw elements only (the count is written separately where the format says)."""
        self.buf += np.ascontiguousarray(a, dtype=dtype).tobytes()
        return self

    def raw(self, b: bytes | bytearray | memoryview) -> Writer:
        """Append bytes as they are (an already encoded part, a PING payload).

        Parameters
        ----------
        b : bytes, bytearray or memoryview
            The bytes.

        Returns
        -------
        Writer
            ``self``, for chaining.
        """
        self.buf += b
        return self


def frame(msg: int, seq: int, payload: bytes | bytearray = b"") -> bytes:
    """One complete frame: header + payload."""
    return HEADER.pack(MIN_LENGTH + len(payload), msg, 0, seq) + payload


@dataclass(frozen=True)
class Frame:
    """A frame cut from the stream (payload not yet decoded)."""

    msg: int
    flags: int
    seq: int
    payload: bytes


class FrameDecoder:
    """Incremental framing: ``feed`` bytes, get complete frames.

    Raises a fatal :class:`ProtocolError` on a length outside ``[8, max_length]``; the
    caller then sends the error and closes (the stream cannot be resynchronised). Complete
    frames before a bad length are returned first; the error is raised by the next call
    (``feed(b"")`` surfaces it).
    """

    def __init__(self, max_length: int = MAX_FRAME_BYTES) -> None:
        self.max_length = max_length
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add bytes received from the stream and return the frames they complete.

        Parameters
        ----------
        data : bytes, bytearray or memoryview
            Any number of bytes, split anywhere (TCP delivers frames in arbitrary pieces).
            ``b""`` only surfaces an error held back from the previous call.

        Returns
        -------
        list of Frame
            The complete frames, in stream order; an incomplete tail is kept for the next call.

        Raises
        ------
        ProtocolError
            Fatal ``MALFORMED`` (length below 8) or ``TOO_LARGE`` (length above ``max_length``).
        """
        self._buf += data
        out: list[Frame] = []
        buf = self._buf
        pos = 0
        n = len(buf)
        while n - pos >= 4:
            (length,) = _U32.unpack_from(buf, pos)
            if out and not MIN_LENGTH <= length <= self.max_length:
                break  # hand out the good frames first; the next feed (even of b"") raises
            if length < MIN_LENGTH:
                raise ProtocolError(Err.MALFORMED, f"frame.length: {length} is below the minimum of {MIN_LENGTH}",
                                    fatal=True)
            if length > self.max_length:
                raise ProtocolError(Err.TOO_LARGE, f"frame.length: {length} bytes exceeds the limit of "
                                                   f"{self.max_length}", fatal=True)
            if n - pos < 4 + length:
                break
            _, msg, flags, seq = HEADER.unpack_from(buf, pos)
            out.append(Frame(msg, flags, seq, bytes(buf[pos + HEADER_SIZE:pos + 4 + length])))
            pos += 4 + length
        if pos:
            del buf[:pos]
        return out


# ------------------------------------------------------------------ messages
@dataclass(frozen=True)
class Hello:
    """HELLO (0x0001): the client's first frame, opening or resuming a session.

    Attributes
    ----------
    client_name : str
        Shown in the server's logs and STATS; at most 256 bytes.
    token : str
        The server's token file content (whitespace stripped); a wrong token is a fatal ``AUTH``.
    resume_token : str
        Empty for a new session, else the ``resume_token`` of an earlier WELCOME: reconnecting with
        it within the grace period gives the client its brains, layout and subscriptions back.
    major, minor : int
        Protocol version the client speaks (1.0).
    """

    client_name: str
    token: str
    resume_token: str = ""
    major: int = MAJOR
    minor: int = MINOR

    def encode(self) -> bytes:
        """The HELLO payload (magic ``SPKF``, version, names), without the frame header."""
        return bytes(Writer().u32(MAGIC).u16(self.major).u16(self.minor).str16(self.client_name)
                     .str16(self.token).str16(self.resume_token).buf)

    @staticmethod
    def decode(payload: bytes) -> Hello:
        """Parse a HELLO payload.

        Parameters
        ----------
        payload : bytes
            The frame's payload.

        Returns
        -------
        Hello

        Raises
        ------
        ProtocolError
            Fatal ``VERSION`` on a wrong magic; ``MALFORMED`` or ``TOO_LARGE`` on bad fields.
        """
        r = Reader(payload, "HELLO")
        magic = r.u32("magic")
        if magic != MAGIC:
            raise ProtocolError(Err.VERSION, f"HELLO.magic: expected 0x{MAGIC:08X} ('SPKF'), got 0x{magic:08X}",
                                fatal=True)
        major, minor = r.u16("major"), r.u16("minor")
        name = r.str16("client_name", MAX_CLIENT_NAME)
        token = r.str16("token", 256)
        resume = r.str16("resume_token", 256)
        r.end()
        return Hello(name, token, resume, major, minor)


@dataclass(frozen=True)
class Welcome:
    """WELCOME (0x0002): the server's answer to HELLO.

    Attributes
    ----------
    session_id : int
        The session's id (> 0), unique while the server runs.
    resume_token : str
        32 hex characters; send it in a later HELLO to resume this session after a disconnect.
    resumed : bool
        True when the HELLO resumed an existing session.
    dt : float
        The World's fixed simulation step, in seconds (e.g. 0.001 = 1 ms).
    max_substeps : int
        Most simulation steps one EXCHANGE runs; the rest of a long frame is dropped and counted.
    max_frame_bytes : int
        Largest frame ``length`` the server accepts, in bytes.
    server_version : str
        The server's spikeforge version, e.g. ``"0.1.0"``.
    epoch : int
        The session's current layout epoch (0 for a new session).
    major, minor : int
        The server's protocol version; use only messages of ``min(client, server)`` minor.
    idle_timeout_s : float or None
        Seconds without a frame after which the server drops this connection (``--idle-timeout``;
        0 = never). Protocol 1.1: present when both sides speak 1.1 or later; None when the server
        (or the client's HELLO) is 1.0, i.e. the timeout is unknown.
    """

    session_id: int
    resume_token: str
    resumed: bool
    dt: float
    max_substeps: int
    max_frame_bytes: int
    server_version: str
    epoch: int
    major: int = MAJOR
    minor: int = MINOR
    idle_timeout_s: float | None = None

    def encode(self) -> bytes:
        """The WELCOME payload, without the frame header.

        ``idle_timeout_s`` (1.1) is appended only when it is not None: the server leaves it out
        for a client whose HELLO says minor 0, whose decoder expects the 1.0 payload exactly.
        """
        w = (Writer().u16(self.major).u16(self.minor).u32(self.session_id).str16(self.resume_token)
             .u8(int(self.resumed)).f64(self.dt).u32(self.max_substeps).u32(self.max_frame_bytes)
             .str16(self.server_version).u32(self.epoch))
        if self.idle_timeout_s is not None:
            w.f64(self.idle_timeout_s)
        return bytes(w.buf)

    @staticmethod
    def decode(payload: bytes, client_minor: int = MINOR) -> Welcome:
        """Parse a WELCOME payload sent in answer to a HELLO of minor ``client_minor``.

        The server sends the fields of ``min(client, server)`` minor: 1.1 appends
        ``idle_timeout_s``; fields of minors this codec does not know are ignored.

        Parameters
        ----------
        payload : bytes
            The frame's payload.
        client_minor : int
            The minor the HELLO announced (default: this codec's).

        Returns
        -------
        Welcome

        Raises
        ------
        ProtocolError
            ``MALFORMED`` on a short or over-long payload, or a negative or non-finite idle timeout.
        """
        r = Reader(payload, "WELCOME")
        major, minor, sid = r.u16("major"), r.u16("minor"), r.u32("session_id")
        token = r.str16("resume_token")
        resumed = bool(r.u8("resumed"))
        dt, subs, mfb = r.f64("dt"), r.u32("max_substeps"), r.u32("max_frame_bytes")
        ver = r.str16("server_version")
        epoch = r.u32("epoch")
        idle: float | None = None
        if min(minor, client_minor) >= 1:
            idle = r.f64("idle_timeout_s")
            if not (math.isfinite(idle) and idle >= 0):
                raise ProtocolError(Err.MALFORMED, f"WELCOME.idle_timeout_s: must be finite and >= 0 s, got {idle!r}")
        if minor <= min(client_minor, MINOR):  # a later minor may append fields we do not know
            r.end()
        return Welcome(sid, token, resumed, dt, subs, mfb, ver, epoch, major, minor, idle)


def keepalive_interval(configured: float, idle_timeout: float | None) -> float:
    """The keepalive interval a client uses: its configured one, lowered to half the idle timeout the server
    announced in WELCOME, but never below :data:`KEEPALIVE_MIN_S` on that account.

    The same rule is written in every adapter (Godot 4, Godot 3, Unity); PROTOCOL.md section 9, Keepalive.

    Parameters
    ----------
    configured : float
        The configured interval in seconds (0 or less: keepalive off).
    idle_timeout : float or None
        WELCOME's ``idle_timeout_s`` in seconds (0: the server drops no idle connection; None: not
        announced, a 1.0 server).

    Returns
    -------
    float
        Seconds without a sent frame after which to PING; 0 = never.

    Examples
    --------
    >>> keepalive_interval(30.0, 2.0), keepalive_interval(30.0, 300.0), keepalive_interval(30.0, None)
    (1.0, 30.0, 30.0)
    >>> keepalive_interval(0.5, 2.0), keepalive_interval(30.0, 0.5), keepalive_interval(0.0, 2.0)
    (0.5, 1.0, 0.0)
    """
    if not configured > 0:
        return 0.0
    if idle_timeout is None or not idle_timeout > 0:
        return float(configured)
    return float(min(configured, max(idle_timeout / 2, KEEPALIVE_MIN_S)))


def encode_error(code: Err, message: str, fatal: bool) -> bytes:
    """The payload of an ERROR frame.

    Parameters
    ----------
    code : Err
        The error code.
    message : str
        Human-readable text naming the field and the problem; cut to 4000 bytes of UTF-8.
    fatal : bool
        True when the server closes the connection after this frame.

    Returns
    -------
    bytes
    """
    msg = message.encode("utf-8")[:4000].decode("utf-8", "ignore")
    return bytes(Writer().u16(int(code)).u8(int(fatal)).str16(msg).buf)


def decode_error(payload: bytes, seq: int) -> RemoteError:
    """Parse an ERROR payload into the exception a client raises.

    Parameters
    ----------
    payload : bytes
        The frame's payload.
    seq : int
        The frame's sequence number: the request the error answers (0 for SHUTDOWN/TIMEOUT).

    Returns
    -------
    RemoteError
        Not raised here: the caller decides.
    """
    r = Reader(payload, "ERROR")
    code, fatal = r.u16("code"), bool(r.u8("fatal"))
    msg = r.str16("message")
    return RemoteError(code, msg, fatal, seq)


@dataclass(frozen=True)
class OrganInfo:
    """A sensor or actuator of a circuit as listed by CIRCUITS.

    Attributes
    ----------
    name : str
        The organ's name (``add_sensor``/``add_actuator``).
    size : int
        Sensor: channels (floats written per brain). Actuator: width (floats read per brain:
        ``channels`` for ``rate``, 1 for ``population_vector`` and ``wta``).
    low, high : float
        The organ's value range. Sensor: values are clipped into it before encoding. Actuator: the
        range of ``population_vector`` outputs; ``rate`` outputs Hz and ``wta`` a channel index,
        whatever ``low``/``high`` say.
    """

    name: str
    size: int  # channels (sensor) or width (actuator)
    low: float
    high: float


@dataclass(frozen=True)
class CircuitInfo:
    """One circuit the server knows, as listed by CIRCUITS (and after UPLOAD_GENOME).

    Attributes
    ----------
    name : str
        The circuit's name, used by SPAWN.
    neurons : int
        Neurons per brain.
    sensors, actuators : tuple of OrganInfo
        Sorted by name: the order of their blocks in the exchange arrays.
    populations : tuple of (str, int)
        ``(name, size)`` of every population, in layout order (the neuron numbering of spikes).
    """

    name: str
    neurons: int
    sensors: tuple[OrganInfo, ...]
    actuators: tuple[OrganInfo, ...]
    populations: tuple[tuple[str, int], ...]


def encode_circuits(items: list[CircuitInfo]) -> bytes:
    """The CIRCUITS payload listing ``items``.

    Parameters
    ----------
    items : list of CircuitInfo
        At most 65535 circuits.

    Returns
    -------
    bytes
    """
    w = Writer().u16(len(items))
    for c in items:
        w.str16(c.name).u32(c.neurons)
        for organs in (c.sensors, c.actuators):
            w.u16(len(organs))
            for o in organs:
                w.str16(o.name).u32(o.size).f32(o.low).f32(o.high)
        w.u16(len(c.populations))
        for pname, size in c.populations:
            w.str16(pname).u32(size)
    return bytes(w.buf)


def decode_circuits(payload: bytes) -> list[CircuitInfo]:
    """Parse a CIRCUITS payload.

    Parameters
    ----------
    payload : bytes
        The frame's payload.

    Returns
    -------
    list of CircuitInfo

    Raises
    ------
    ProtocolError
        ``MALFORMED`` on a short payload, bad UTF-8 or trailing bytes.
    """
    r = Reader(payload, "CIRCUITS")
    out = []
    for _ in range(r.u16("n_circuits")):
        name, neurons = r.str16("name"), r.u32("neurons")
        organs: list[tuple[OrganInfo, ...]] = []
        for what in ("sensors", "actuators"):
            organs.append(tuple(OrganInfo(r.str16(f"{what}.name"), r.u32(f"{what}.size"), r.f32(f"{what}.low"),
                                          r.f32(f"{what}.high")) for _ in range(r.u16(f"n_{what}"))))
        pops = tuple((r.str16("population.name"), r.u32("population.size")) for _ in range(r.u16("n_populations")))
        out.append(CircuitInfo(name, neurons, organs[0], organs[1], pops))
    r.end()
    return out


@dataclass(frozen=True)
class Block:
    """One (circuit, organ) block of the exchange arrays: rows x cols floats at ``offset``."""

    circuit: str
    organ: str
    rows: int
    cols: int
    offset: int

    @property
    def size(self) -> int:
        """Floats in the block: ``rows * cols``."""
        return self.rows * self.cols


@dataclass(frozen=True)
class LayoutInfo:
    """A client's exchange layout (PROTOCOL.md, LAYOUT)."""

    epoch: int
    groups: tuple[tuple[str, tuple[int, ...]], ...]
    sensor_floats: int
    actuator_floats: int
    sensor_blocks: tuple[Block, ...]
    actuator_blocks: tuple[Block, ...]

    @property
    def brain_ids(self) -> list[int]:
        """Every brain id of this client, ascending, over all circuits."""
        return sorted(i for _, ids in self.groups for i in ids)

    def sensor_block(self, circuit: str, organ: str) -> Block:
        """The block of the EXCHANGE sensor array that feeds one sensor of one circuit.

        Write brain ``k`` (the ``k``-th id of the circuit's group, ascending) at
        ``sensors[b.offset + k * b.cols : b.offset + (k + 1) * b.cols]``.

        Parameters
        ----------
        circuit : str
            Circuit name.
        organ : str
            Sensor name.

        Returns
        -------
        Block

        Raises
        ------
        KeyError
            If this client has no brains of ``circuit`` or the circuit has no such sensor.
        """
        for b in self.sensor_blocks:
            if b.circuit == circuit and b.organ == organ:
                return b
        raise KeyError(f"sensor: no block for circuit {circuit!r} organ {organ!r} in this layout")

    def actuator_block(self, circuit: str, organ: str) -> Block:
        """The block of the EXCHANGE_RESULT actuator array that holds one actuator of one circuit.

        Parameters
        ----------
        circuit : str
            Circuit name.
        organ : str
            Actuator name.

        Returns
        -------
        Block
            ``rows`` brains (ascending id) by ``cols`` values (the actuator's width).

        Raises
        ------
        KeyError
            If this client has no brains of ``circuit`` or the circuit has no such actuator.
        """
        for b in self.actuator_blocks:
            if b.circuit == circuit and b.organ == organ:
                return b
        raise KeyError(f"actuator: no block for circuit {circuit!r} organ {organ!r} in this layout")


def encode_layout(w: Writer, lay: LayoutInfo) -> Writer:
    """Append a LAYOUT body to ``w`` (it also follows SPAWNED).

    Parameters
    ----------
    w : Writer
        The payload being built.
    lay : LayoutInfo
        The layout.

    Returns
    -------
    Writer
        ``w``, for chaining.
    """
    w.u32(lay.epoch).u16(len(lay.groups))
    for name, ids in lay.groups:
        w.str16(name).u32(len(ids)).array(np.asarray(ids, dtype=np.uint32), "<u4")
    w.u32(lay.sensor_floats).u32(lay.actuator_floats)
    for blocks in (lay.sensor_blocks, lay.actuator_blocks):
        w.u16(len(blocks))
        for b in blocks:
            w.str16(b.circuit).str16(b.organ).u32(b.rows).u32(b.cols).u32(b.offset)
    return w


def decode_layout(r: Reader) -> LayoutInfo:
    """Read a LAYOUT body from ``r`` (LAYOUT, or the tail of SPAWNED).

    Does not call :meth:`Reader.end`: the caller does, after any fields that follow.

    Parameters
    ----------
    r : Reader
        Positioned at the LAYOUT body.

    Returns
    -------
    LayoutInfo

    Raises
    ------
    ProtocolError
        ``MALFORMED`` or ``TOO_LARGE`` on bad fields.
    """
    epoch = r.u32("epoch")
    groups = []
    for _ in range(r.u16("n_groups")):
        name = r.str16("circuit")
        n = r.count("count", MAX_BRAINS_PER_SESSION)
        groups.append((name, tuple(int(x) for x in r.array("<u4", n, "brain_ids"))))
    sf, af = r.u32("sensor_floats"), r.u32("actuator_floats")
    blocks: list[tuple[Block, ...]] = []
    for what in ("sensor_blocks", "actuator_blocks"):
        blocks.append(tuple(Block(r.str16(f"{what}.circuit"), r.str16(f"{what}.organ"), r.u32(f"{what}.rows"),
                                  r.u32(f"{what}.cols"), r.u32(f"{what}.offset"))
                            for _ in range(r.u16(f"n_{what}"))))
    return LayoutInfo(epoch, tuple(groups), sf, af, blocks[0], blocks[1])


@dataclass(frozen=True)
class Spawn:
    """SPAWN (0x0020): create ``count`` brains of a registered circuit for this client.

    Attributes
    ----------
    circuit : str
        The circuit's name (from ``--genome``, UPLOAD_GENOME or a loaded snapshot).
    count : int
        Brains to create, 1..10000 per request.
    """

    circuit: str
    count: int

    def encode(self) -> bytes:
        """The SPAWN payload, without the frame header."""
        return bytes(Writer().str16(self.circuit).u32(self.count).buf)

    @staticmethod
    def decode(payload: bytes) -> Spawn:
        """Parse and check a SPAWN payload.

        Parameters
        ----------
        payload : bytes
            The frame's payload.

        Returns
        -------
        Spawn

        Raises
        ------
        ProtocolError
            ``INVALID`` for count 0, ``LIMIT`` above ``MAX_SPAWN_COUNT``, ``MALFORMED`` on bad bytes.
        """
        r = Reader(payload, "SPAWN")
        name, count = r.str16("circuit", 1024), r.u32("count")
        r.end()
        if count < 1:
            raise ProtocolError(Err.INVALID, "SPAWN.count: must be >= 1, got 0")
        if count > MAX_SPAWN_COUNT:
            raise ProtocolError(Err.LIMIT, f"SPAWN.count: {count} exceeds the per-request limit of {MAX_SPAWN_COUNT}")
        return Spawn(name, count)


def encode_ids(ids: npt.ArrayLike) -> bytes:
    """The ``u32 n, u32 brain_ids[n]`` payload of DESPAWN, CLAIM and SPAWNED.

    Parameters
    ----------
    ids : array_like of int
        Brain ids (flattened, cast to ``uint32``).

    Returns
    -------
    bytes
    """
    a = np.asarray(ids, dtype=np.uint32).reshape(-1)
    return bytes(Writer().u32(a.size).array(a, "<u4").buf)


def decode_ids(payload: bytes, what: str) -> U32:
    """Parse a ``u32 n, u32 brain_ids[n]`` payload.

    Parameters
    ----------
    payload : bytes
        The frame's payload.
    what : str
        The message name, used in error messages (``"DESPAWN"``, ``"CLAIM"``).

    Returns
    -------
    numpy.ndarray of uint32
        The ids, in the order sent (not checked for ownership here).

    Raises
    ------
    ProtocolError
        ``TOO_LARGE`` above ``MAX_BRAINS_PER_SESSION`` ids; ``MALFORMED`` on a short or long payload.
    """
    r = Reader(payload, what)
    n = r.count("n", MAX_BRAINS_PER_SESSION)
    ids = r.array("<u4", n, "brain_ids")
    r.end()
    return ids.astype(np.uint32)


@dataclass(frozen=True)
class Exchange:
    """EXCHANGE (0x0030): one game frame for all of a client's brains.

    The server writes the sensors, advances this session's clock by ``frame_dt`` and runs the whole
    steps due (``floor(accumulated / dt)``, at most ``max_substeps``), then answers EXCHANGE_RESULT.

    Attributes
    ----------
    epoch : int
        The layout epoch the sensor array was built for; another epoch gets ``STALE_LAYOUT`` and runs nothing.
    frame_dt : float
        Game frame time in seconds, finite, in ``[0, 1]``.
    flags : int
        Bit 0 (``FLAG_SHM``): the sensors are in the shared-memory block.
    sensors : numpy.ndarray of float32
        ``sensor_floats`` values in layout order; empty with ``FLAG_SHM``.
    """

    epoch: int
    frame_dt: float
    flags: int
    sensors: F32  # empty with FLAG_SHM

    def encode(self) -> bytes:
        """The EXCHANGE payload (a 20-byte head, then the sensor floats)."""
        s = np.ascontiguousarray(self.sensors, dtype="<f4").reshape(-1)
        return b"".join((_EX_HEAD.pack(self.epoch, self.frame_dt, self.flags, s.size), s.tobytes()))

    @staticmethod
    def decode(payload: bytes) -> Exchange:
        """Parse and check an EXCHANGE payload; the sensors are a zero-copy view of ``payload``.

        Parameters
        ----------
        payload : bytes
            The frame's payload.

        Returns
        -------
        Exchange

        Raises
        ------
        ProtocolError
            ``MALFORMED`` if ``n`` does not match the payload size; ``INVALID`` for unknown flags,
            sensors sent inline together with ``FLAG_SHM``, or a ``frame_dt`` outside ``[0, 1]`` s.
            The sensor values' finiteness is checked by the server, not here.
        """
        if len(payload) < _EX_HEAD.size:
            raise ProtocolError(Err.MALFORMED, f"EXCHANGE: payload of {len(payload)} bytes is shorter than the "
                                               f"{_EX_HEAD.size}-byte header")
        epoch, dt, flags, n = _EX_HEAD.unpack_from(payload, 0)
        if len(payload) != _EX_HEAD.size + 4 * n:
            raise ProtocolError(Err.MALFORMED, f"EXCHANGE.n: {n} floats need {4 * n} bytes, payload has "
                                               f"{len(payload) - _EX_HEAD.size}")
        if flags & ~FLAG_SHM:
            raise ProtocolError(Err.INVALID, f"EXCHANGE.flags: unknown bits 0x{flags & ~FLAG_SHM:x}")
        if flags & FLAG_SHM and n:
            raise ProtocolError(Err.INVALID, f"EXCHANGE.n: must be 0 with the shared-memory flag, got {n}")
        if not (math.isfinite(dt) and 0.0 <= dt <= MAX_FRAME_DT):
            raise ProtocolError(Err.INVALID, f"EXCHANGE.frame_dt: must be a finite number of seconds in "
                                             f"[0, {MAX_FRAME_DT}], got {dt!r}")
        sensors = np.frombuffer(payload, dtype="<f4", count=n, offset=_EX_HEAD.size)
        return Exchange(epoch, dt, flags, sensors)


_EX_HEAD = struct.Struct("<IdII")
_RES_HEAD = struct.Struct("<IIfIII")


@dataclass(frozen=True)
class SpikeBatch:
    """Spikes of one subscription in one exchange."""

    sub_id: int
    truncated: bool
    steps: I64
    brains: U32
    neurons: U32

    def __len__(self) -> int:
        return int(self.steps.size)


@dataclass(frozen=True)
class ExchangeResult:
    """EXCHANGE_RESULT (0x0031): what one EXCHANGE produced.

    Attributes
    ----------
    epoch : int
        The layout epoch of the actuator array.
    steps : int
        Simulation steps this exchange ran (0 when ``frame_dt`` did not complete a step).
    alpha : float
        Leftover fraction of a step in the session clock, in ``[0, 1)``: interpolate visuals with it.
    flags : int
        Bit 0 (``FLAG_SHM``): the actuators are in the shared-memory block.
    sim_us : int
        Server time spent simulating, in microseconds.
    actuators : numpy.ndarray of float32
        ``actuator_floats`` values in layout order (empty with ``FLAG_SHM``); decoded over the steps of
        this exchange, unchanged when ``steps`` is 0.
    batches : tuple of SpikeBatch
        One per subscription, in SUBSCRIBE order (also when empty).
    """

    epoch: int
    steps: int
    alpha: float
    flags: int
    sim_us: int
    actuators: F32
    batches: tuple[SpikeBatch, ...] = field(default_factory=tuple)

    def encode_parts(self) -> list[bytes]:
        """The payload as a list of byte strings, to be written without joining them (large spike batches)."""
        a = np.ascontiguousarray(self.actuators, dtype="<f4").reshape(-1)
        parts = [_RES_HEAD.pack(self.epoch, self.steps, self.alpha, self.flags, min(self.sim_us, 0xFFFFFFFF),
                                a.size), a.tobytes(), _U16.pack(len(self.batches))]
        for b in self.batches:
            parts.append(struct.pack("<IBI", b.sub_id, int(b.truncated), b.steps.size))
            parts.append(np.ascontiguousarray(b.steps, "<i8").tobytes())
            parts.append(np.ascontiguousarray(b.brains, "<u4").tobytes())
            parts.append(np.ascontiguousarray(b.neurons, "<u4").tobytes())
        return parts

    def encode(self) -> bytes:
        """The EXCHANGE_RESULT payload as one byte string."""
        return b"".join(self.encode_parts())

    @staticmethod
    def decode(payload: bytes) -> ExchangeResult:
        """Parse an EXCHANGE_RESULT payload; arrays are zero-copy views of ``payload``.

        Parameters
        ----------
        payload : bytes
            The frame's payload.

        Returns
        -------
        ExchangeResult

        Raises
        ------
        ProtocolError
            ``MALFORMED`` or ``TOO_LARGE`` on bad fields.
        """
        r = Reader(payload, "EXCHANGE_RESULT")
        epoch, steps, alpha, flags, sim_us = (r.u32("epoch"), r.u32("steps"), r.f32("alpha"), r.u32("flags"),
                                              r.u32("sim_us"))
        n = r.count("n", MAX_FRAME_BYTES // 4)
        act = r.array("<f4", n, "actuators")
        batches = []
        for _ in range(r.u16("n_batches")):
            sid, trunc = r.u32("sub_id"), bool(r.u8("truncated"))
            c = r.count("count", MAX_SPIKES_PER_BATCH)
            batches.append(SpikeBatch(sid, trunc, r.array("<i8", c, "steps"), r.array("<u4", c, "brains"),
                                      r.array("<u4", c, "neurons")))
        r.end()
        return ExchangeResult(epoch, steps, alpha, flags, sim_us, act, tuple(batches))


@dataclass(frozen=True)
class Subscribe:
    """SUBSCRIBE (0x0032): receive the spikes of a population with every EXCHANGE_RESULT.

    Attributes
    ----------
    population : str
        A population name, or ``""`` for every neuron of the brain.
    brain_ids : numpy.ndarray of uint32
        The brains to watch (the client's own); empty = all of them, also those spawned later.
    """

    population: str
    brain_ids: U32

    def encode(self) -> bytes:
        """The SUBSCRIBE payload, without the frame header."""
        return bytes(Writer().str16(self.population).raw(encode_ids(self.brain_ids)).buf)

    @staticmethod
    def decode(payload: bytes) -> Subscribe:
        """Parse a SUBSCRIBE payload.

        Parameters
        ----------
        payload : bytes
            The frame's payload.

        Returns
        -------
        Subscribe

        Raises
        ------
        ProtocolError
            ``MALFORMED`` or ``TOO_LARGE`` on bad fields.
        """
        r = Reader(payload, "SUBSCRIBE")
        pop = r.str16("population", 1024)
        n = r.count("n", MAX_BRAINS_PER_SESSION)
        ids = r.array("<u4", n, "brain_ids").astype(np.uint32)
        r.end()
        return Subscribe(pop, ids)


@dataclass(frozen=True)
class SubscriptionInfo:
    """One subscription of a session, as SUBSCRIPTIONS lists it.

    Attributes
    ----------
    sub_id : int
        The id SUBSCRIBED returned.
    population : str
        The population name, ``""`` for every neuron of the brain.
    brain_ids : tuple of int
        The brains it watches (ascending); empty = all of the session's brains.
    """

    sub_id: int
    population: str
    brain_ids: tuple[int, ...]


def encode_subscriptions(subs: Sequence[SubscriptionInfo]) -> bytes:
    """The SUBSCRIPTIONS (0x0036, protocol 1.2) payload: the session's subscriptions in SUBSCRIBE order.

    Parameters
    ----------
    subs : sequence of SubscriptionInfo
        At most ``MAX_SUBSCRIPTIONS``.

    Returns
    -------
    bytes
    """
    w = Writer().u16(len(subs))
    for s in subs:
        w.u32(s.sub_id).str16(s.population).raw(encode_ids(s.brain_ids))
    return bytes(w.buf)


def decode_subscriptions(payload: bytes) -> list[SubscriptionInfo]:
    """Parse a SUBSCRIPTIONS payload (the reply to GET_SUBSCRIPTIONS).

    Parameters
    ----------
    payload : bytes
        The frame's payload.

    Returns
    -------
    list of SubscriptionInfo
        In SUBSCRIBE order, which is the order of EXCHANGE_RESULT's batches.

    Raises
    ------
    ProtocolError
        ``MALFORMED`` or ``TOO_LARGE`` on bad fields.
    """
    r = Reader(payload, "SUBSCRIPTIONS")
    n = r.u16("n")
    if n > MAX_SUBSCRIPTIONS:
        raise ProtocolError(Err.TOO_LARGE, f"SUBSCRIPTIONS.n: {n} exceeds {MAX_SUBSCRIPTIONS}")
    out = []
    for _ in range(n):
        sid = r.u32("sub_id")
        pop = r.str16("population", 1024)
        k = r.count("count", MAX_BRAINS_PER_SESSION)
        out.append(SubscriptionInfo(sid, pop, tuple(int(x) for x in r.array("<u4", k, "brain_ids"))))
    r.end()
    return out


@dataclass(frozen=True)
class Reward:
    """REWARD (0x0040): reward signals for reward-modulated plasticity, one per brain.

    The values reach :meth:`spikeforge.World.reward` and act during the next EXCHANGE.

    Attributes
    ----------
    brain_ids : numpy.ndarray of uint32
        The client's own brains.
    values : numpy.ndarray of float32
        One finite reward per brain, added to its dopamine level: reward-STDP synapses that were just
        active together (positive eligibility) are strengthened by a positive reward, weakened by a negative one.
    """

    brain_ids: U32
    values: F32

    def encode(self) -> bytes:
        """The REWARD payload.

        Raises
        ------
        ValueError
            If ``brain_ids`` and ``values`` differ in length.
        """
        ids = np.asarray(self.brain_ids, np.uint32).reshape(-1)
        vals = np.asarray(self.values, np.float32).reshape(-1)
        if ids.size != vals.size:
            raise ValueError(f"reward: {ids.size} brain ids but {vals.size} values")
        return bytes(Writer().u32(ids.size).array(ids, "<u4").array(vals, "<f4").buf)

    @staticmethod
    def decode(payload: bytes) -> Reward:
        """Parse and check a REWARD payload.

        Parameters
        ----------
        payload : bytes
            The frame's payload.

        Returns
        -------
        Reward

        Raises
        ------
        ProtocolError
            ``INVALID`` for a non-finite reward (naming its index); ``MALFORMED``/``TOO_LARGE`` on bad fields.
        """
        r = Reader(payload, "REWARD")
        n = r.count("n", MAX_BRAINS_PER_SESSION)
        ids = r.array("<u4", n, "brain_ids").astype(np.uint32)
        vals = r.array("<f4", n, "rewards").astype(np.float32)
        r.end()
        if not np.isfinite(vals).all():
            i = int(np.flatnonzero(~np.isfinite(vals))[0])
            raise ProtocolError(Err.INVALID, f"REWARD.rewards[{i}]: must be finite, got {float(vals[i])!r}")
        if n and float(np.abs(vals).max()) > MAX_REWARD:  # the genome rules' bound (model/errors.py)
            i = int(np.argmax(np.abs(vals)))
            raise ProtocolError(Err.INVALID, f"REWARD.rewards[{i}]: |reward| must be <= {MAX_REWARD:g}, "
                                             f"got {float(vals[i])!r}")
        return Reward(ids, vals)


@dataclass(frozen=True)
class ShmReady:
    """SHM_READY (0x0071): where the shared-memory block of a session lives (PROTOCOL.md section 8).

    Attributes
    ----------
    path : str
        Absolute path of the file to map, e.g. ``/dev/shm/spikeforge-<pid>-<session>-<random>``.
    size_bytes : int
        Size of the file, in bytes.
    sensor_offset : int
        Byte offset of the sensor floats.
    sensor_capacity : int
        Sensor floats the block holds.
    actuator_offset : int
        Byte offset of the actuator floats.
    actuator_capacity : int
        Actuator floats the block holds.
    """

    path: str
    size_bytes: int
    sensor_offset: int
    sensor_capacity: int
    actuator_offset: int
    actuator_capacity: int

    def encode(self) -> bytes:
        """The SHM_READY payload, without the frame header."""
        return bytes(Writer().str16(self.path).u32(self.size_bytes).u32(self.sensor_offset)
                     .u32(self.sensor_capacity).u32(self.actuator_offset).u32(self.actuator_capacity).buf)

    @staticmethod
    def decode(payload: bytes) -> ShmReady:
        """Parse a SHM_READY payload.

        Parameters
        ----------
        payload : bytes
            The frame's payload.

        Returns
        -------
        ShmReady

        Raises
        ------
        ProtocolError
            ``MALFORMED`` on a short or long payload.
        """
        r = Reader(payload, "SHM_READY")
        out = ShmReady(r.str16("path"), r.u32("size_bytes"), r.u32("sensor_offset"), r.u32("sensor_capacity"),
                       r.u32("actuator_offset"), r.u32("actuator_capacity"))
        r.end()
        return out


@dataclass(frozen=True)
class ExportBrain:
    """EXPORT_BRAIN (0x0052): ask for one of this client's brains as a brain file.

    The reply is BRAIN_ASSET: the bytes of the file ``Brain.save`` writes (versioned,
    checksummed; see :mod:`spikeforge.runtime.brain_asset`). The game keeps them as its own
    asset and spawns them later, in this or another server or process, with SPAWN_ASSET or
    ``World.spawn_from``.

    Attributes
    ----------
    brain_id : int
        A brain of this client.
    with_state : bool
        Include all dynamic state and the brain's RNG stream position, so that the spawned
        brain continues bit for bit; False saves wiring, weights and learned thresholds only.
    """

    brain_id: int
    with_state: bool = True

    def encode(self) -> bytes:
        """The EXPORT_BRAIN payload (``u32 brain_id, u8 with_state``)."""
        return bytes(Writer().u32(self.brain_id).u8(int(self.with_state)).buf)

    @staticmethod
    def decode(payload: bytes) -> ExportBrain:
        """Parse and check an EXPORT_BRAIN payload.

        Parameters
        ----------
        payload : bytes
            The frame's payload.

        Returns
        -------
        ExportBrain

        Raises
        ------
        ProtocolError
            ``INVALID`` for ``with_state`` other than 0 or 1; ``MALFORMED`` on a short or long payload.
        """
        r = Reader(payload, "EXPORT_BRAIN")
        bid, ws = r.u32("brain_id"), r.u8("with_state")
        r.end()
        if ws > 1:
            raise ProtocolError(Err.INVALID, f"EXPORT_BRAIN.with_state: must be 0 or 1, got {ws}")
        return ExportBrain(bid, bool(ws))


@dataclass(frozen=True)
class BrainAsset:
    """BRAIN_ASSET (0x0053): the server's answer to EXPORT_BRAIN.

    Attributes
    ----------
    brain_id : int
        The exported brain.
    data : bytes
        The brain file, exactly as ``Brain.save`` writes it (a zip archive of format
        ``spikeforge-brain``); at most ``MAX_ASSET_BYTES``.
    """

    brain_id: int
    data: bytes

    def encode(self) -> bytes:
        """The BRAIN_ASSET payload (``u32 brain_id, u32 nbytes, nbytes bytes``)."""
        return bytes(Writer().u32(self.brain_id).u32(len(self.data)).raw(self.data).buf)

    @staticmethod
    def decode(payload: bytes) -> BrainAsset:
        """Parse a BRAIN_ASSET payload.

        Parameters
        ----------
        payload : bytes
            The frame's payload.

        Returns
        -------
        BrainAsset

        Raises
        ------
        ProtocolError
            ``TOO_LARGE`` above ``MAX_ASSET_BYTES``; ``MALFORMED`` on a short or long payload.
        """
        r = Reader(payload, "BRAIN_ASSET")
        bid = r.u32("brain_id")
        n = r.count("nbytes", MAX_ASSET_BYTES)
        data = r.raw(n, "data")
        r.end()
        return BrainAsset(bid, data)


@dataclass(frozen=True)
class SpawnAsset:
    """SPAWN_ASSET (0x0054): spawn one brain from a brain file's bytes for this client.

    The reply is SPAWNED (one id, then the session's new LAYOUT), as for SPAWN. The file is
    verified completely (format, version, every SHA-256, every size and index, the world's
    ``dt``) before anything is spawned: a bad file spawns nothing.

    Attributes
    ----------
    data : bytes
        A brain file (BRAIN_ASSET data, or a file written by ``Brain.save``); at most ``MAX_ASSET_BYTES``.
    with_state : bool
        Use the file's state (if it has any): the brain continues bit for bit. False spawns
        the saved wiring, weights and thresholds with fresh state.
    """

    data: bytes
    with_state: bool = True

    def encode(self) -> bytes:
        """The SPAWN_ASSET payload (``u8 with_state, u32 nbytes, nbytes bytes``)."""
        return bytes(Writer().u8(int(self.with_state)).u32(len(self.data)).raw(self.data).buf)

    @staticmethod
    def decode(payload: bytes) -> SpawnAsset:
        """Parse and check a SPAWN_ASSET payload (the file itself is checked by the server).

        Parameters
        ----------
        payload : bytes
            The frame's payload.

        Returns
        -------
        SpawnAsset

        Raises
        ------
        ProtocolError
            ``INVALID`` for ``with_state`` other than 0 or 1; ``TOO_LARGE`` above ``MAX_ASSET_BYTES``;
            ``MALFORMED`` on a short or long payload.
        """
        r = Reader(payload, "SPAWN_ASSET")
        ws = r.u8("with_state")
        n = r.count("nbytes", MAX_ASSET_BYTES)
        data = r.raw(n, "data")
        r.end()
        if ws > 1:
            raise ProtocolError(Err.INVALID, f"SPAWN_ASSET.with_state: must be 0 or 1, got {ws}")
        return SpawnAsset(data, bool(ws))


def decode_name(payload: bytes, what: str) -> str:
    """Parse a payload that is one ``str16`` name (SAVE, LOAD: a snapshot name).

    Parameters
    ----------
    payload : bytes
        The frame's payload.
    what : str
        The message name, used in error messages.

    Returns
    -------
    str
        The name (at most 1024 bytes; its characters are checked by the server).

    Raises
    ------
    ProtocolError
        ``MALFORMED`` or ``TOO_LARGE``.
    """
    r = Reader(payload, what)
    name = r.str16("name", 1024)
    r.end()
    return name


def decode_empty(payload: bytes, what: str) -> None:
    """Check that a message that carries nothing (LIST_CIRCUITS, GET_LAYOUT, STATS) has an empty payload.

    Parameters
    ----------
    payload : bytes
        The frame's payload.
    what : str
        The message name, used in the error message.

    Raises
    ------
    ProtocolError
        ``MALFORMED`` if the payload is not empty.
    """
    Reader(payload, what).end()


__all__ = [
    "MAGIC",
    "MAJOR",
    "MINOR",
    "Block",
    "BrainAsset",
    "CircuitInfo",
    "Err",
    "Exchange",
    "ExchangeResult",
    "ExportBrain",
    "Frame",
    "FrameDecoder",
    "Hello",
    "LayoutInfo",
    "Msg",
    "OrganInfo",
    "ProtocolError",
    "Reader",
    "RemoteError",
    "Reward",
    "ShmReady",
    "Spawn",
    "SpawnAsset",
    "SpikeBatch",
    "Subscribe",
    "SubscriptionInfo",
    "Welcome",
    "Writer",
    "decode_circuits",
    "decode_empty",
    "decode_error",
    "decode_ids",
    "decode_layout",
    "decode_name",
    "decode_subscriptions",
    "encode_circuits",
    "encode_error",
    "encode_ids",
    "encode_layout",
    "encode_subscriptions",
    "frame",
    "keepalive_interval",
]
