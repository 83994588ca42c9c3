// The codec of integrations/PROTOCOL.md (version 1.0): message numbers, error codes, and
// little-endian frame building and parsing over reusable byte buffers (no per-frame garbage).
using System;
using System.Text;

namespace Spikeforge.Client
{
    /// <summary>Constants of the wire protocol (PROTOCOL.md sections 5-7).</summary>
    public static class Wire
    {
        public const uint Magic = 0x464B5053; // "SPKF"
        public const ushort Major = 1;
        public const ushort Minor = 0;
        public const int HeaderSize = 12;      // u32 length, u16 type, u16 flags, u32 seq
        public const int MaxHelloLength = 4096;
        public const int DefaultPort = 47800;

        public const ushort Hello = 0x0001, Welcome = 0x0002, Error = 0x0003, Ok = 0x0004, Ping = 0x0005, Pong = 0x0006, Bye = 0x0007;
        public const ushort ListCircuits = 0x0010, Circuits = 0x0011, UploadGenome = 0x0012;
        public const ushort Spawn = 0x0020, Spawned = 0x0021, Despawn = 0x0022, Layout = 0x0023, GetLayout = 0x0024, Claim = 0x0025;
        public const ushort Exchange = 0x0030, ExchangeResult = 0x0031, Subscribe = 0x0032, Subscribed = 0x0033, Unsubscribe = 0x0034;
        public const ushort Reward = 0x0040, SetLearning = 0x0041;
        public const ushort Save = 0x0050, Load = 0x0051;
        public const ushort Stats = 0x0060, StatsResult = 0x0061;
        public const ushort ShmOpen = 0x0070, ShmReady = 0x0071, ShmClose = 0x0072;

        static readonly string[] ErrorNames =
        {
            "UNKNOWN", "MALFORMED", "UNKNOWN_TYPE", "TOO_LARGE", "BAD_STATE", "AUTH", "VERSION", "NOT_FOUND", "NOT_OWNER",
            "INVALID", "LIMIT", "STALE_LAYOUT", "UNSUPPORTED", "BUSY", "IO", "INTERNAL", "GENOME", "SHUTDOWN", "TIMEOUT",
        };

        /// <summary>Name of a protocol error code (e.g. 11 -> "STALE_LAYOUT").</summary>
        public static string ErrorName(int code)
        {
            return code > 0 && code < ErrorNames.Length ? ErrorNames[code] : "ERROR_" + code;
        }

        public static string TypeName(ushort type)
        {
            switch (type)
            {
                case Hello: return "HELLO"; case Welcome: return "WELCOME"; case Error: return "ERROR"; case Ok: return "OK";
                case Ping: return "PING"; case Pong: return "PONG"; case Bye: return "BYE";
                case ListCircuits: return "LIST_CIRCUITS"; case Circuits: return "CIRCUITS"; case UploadGenome: return "UPLOAD_GENOME";
                case Spawn: return "SPAWN"; case Spawned: return "SPAWNED"; case Despawn: return "DESPAWN"; case Layout: return "LAYOUT";
                case GetLayout: return "GET_LAYOUT"; case Claim: return "CLAIM";
                case Exchange: return "EXCHANGE"; case ExchangeResult: return "EXCHANGE_RESULT"; case Subscribe: return "SUBSCRIBE";
                case Subscribed: return "SUBSCRIBED"; case Unsubscribe: return "UNSUBSCRIBE";
                case Reward: return "REWARD"; case SetLearning: return "SET_LEARNING"; case Save: return "SAVE"; case Load: return "LOAD";
                case Stats: return "STATS"; case StatsResult: return "STATS_RESULT";
                case ShmOpen: return "SHM_OPEN"; case ShmReady: return "SHM_READY"; case ShmClose: return "SHM_CLOSE";
                default: return "0x" + type.ToString("x4");
            }
        }
    }

    /// <summary>An ERROR frame from the server.</summary>
    public sealed class ProtocolErrorException : SpikeforgeException
    {
        public readonly int ErrorCode;
        public readonly bool Fatal;

        public ProtocolErrorException(int code, bool fatal, string message, string request)
            : base(Wire.ErrorName(code), request + ": " + Wire.ErrorName(code) + (fatal ? " (fatal)" : "") + ": " + message)
        {
            ErrorCode = code;
            Fatal = fatal;
        }
    }

    /// <summary>Builds one frame in a reusable buffer (little-endian; header written by <see cref="Begin"/>).</summary>
    public sealed unsafe class FrameWriter
    {
        public byte[] Data = new byte[4096];
        public int Length;

        public void Begin(ushort type, uint seq)
        {
            Length = 0;
            Ensure(Wire.HeaderSize);
            Length = Wire.HeaderSize;
            fixed (byte* p = Data)
            {
                *(ushort*)(p + 4) = type;
                *(ushort*)(p + 6) = 0;
                *(uint*)(p + 8) = seq;
            }
        }

        /// <summary>Writes the length field; returns the total bytes to send.</summary>
        public int Finish()
        {
            fixed (byte* p = Data) *(uint*)p = (uint)(Length - 4);
            return Length;
        }

        public void Ensure(int extra)
        {
            if (Length + extra <= Data.Length) return;
            int cap = Data.Length;
            while (cap < Length + extra) cap *= 2;
            var n = new byte[cap];
            Buffer.BlockCopy(Data, 0, n, 0, Length);
            Data = n;
        }

        public void U8(byte v) { Ensure(1); Data[Length++] = v; }
        public void U16(ushort v) { Ensure(2); fixed (byte* p = Data) *(ushort*)(p + Length) = v; Length += 2; }
        public void U32(uint v) { Ensure(4); fixed (byte* p = Data) *(uint*)(p + Length) = v; Length += 4; }
        public void F32(float v) { Ensure(4); fixed (byte* p = Data) *(float*)(p + Length) = v; Length += 4; }
        public void F64(double v) { Ensure(8); fixed (byte* p = Data) *(double*)(p + Length) = v; Length += 8; }

        public void Str16(string s, string field)
        {
            byte[] b = Encoding.UTF8.GetBytes(s ?? "");
            if (b.Length > ushort.MaxValue) throw new ArgumentException(field + ": " + b.Length + " bytes of UTF-8 is more than 65535");
            U16((ushort)b.Length);
            Bytes(b, b.Length);
        }

        public void Str32(string s)
        {
            byte[] b = Encoding.UTF8.GetBytes(s ?? "");
            U32((uint)b.Length);
            Bytes(b, b.Length);
        }

        public void Bytes(byte[] b, int n)
        {
            Ensure(n);
            Buffer.BlockCopy(b, 0, Data, Length, n);
            Length += n;
        }

        public void Floats(float[] src, int count)
        {
            int n = count * 4;
            Ensure(n);
            Buffer.BlockCopy(src, 0, Data, Length, n);
            Length += n;
        }

        public void Ids(long[] ids, string field)
        {
            Ensure(4 * ids.Length);
            fixed (byte* p = Data)
            {
                uint* q = (uint*)(p + Length);
                for (int i = 0; i < ids.Length; i++)
                {
                    if (ids[i] < 0 || ids[i] > uint.MaxValue) throw new ArgumentException(field + "[" + i + "]: " + ids[i] + " is not a brain id");
                    q[i] = (uint)ids[i];
                }
            }
            Length += 4 * ids.Length;
        }
    }

    /// <summary>Reads the payload of one received frame, checking every field against the payload's end.</summary>
    public sealed unsafe class FrameReader
    {
        public byte[] Data = new byte[4096];
        public int Pos;
        public int End;
        public ushort Type;
        public uint Seq;
        string what = "";

        public void Reset(ushort type, uint seq, int payloadLength)
        {
            Type = type;
            Seq = seq;
            Pos = 0;
            End = payloadLength;
            what = Wire.TypeName(type);
        }

        void Need(int n, string field)
        {
            if (End - Pos < n)
                throw new SpikeforgeException("MALFORMED", what + "." + field + ": reply ends " + (n - (End - Pos)) + " bytes short");
        }

        public void ExpectEnd()
        {
            if (Pos != End) throw new SpikeforgeException("MALFORMED", what + ": " + (End - Pos) + " unexpected bytes at the end of the reply");
        }

        public byte U8(string f) { Need(1, f); return Data[Pos++]; }
        public ushort U16(string f) { Need(2, f); ushort v; fixed (byte* p = Data) v = *(ushort*)(p + Pos); Pos += 2; return v; }
        public uint U32(string f) { Need(4, f); uint v; fixed (byte* p = Data) v = *(uint*)(p + Pos); Pos += 4; return v; }
        public long I64(string f) { Need(8, f); long v; fixed (byte* p = Data) v = *(long*)(p + Pos); Pos += 8; return v; }
        public float F32(string f) { Need(4, f); float v; fixed (byte* p = Data) v = *(float*)(p + Pos); Pos += 4; return v; }
        public double F64(string f) { Need(8, f); double v; fixed (byte* p = Data) v = *(double*)(p + Pos); Pos += 8; return v; }

        public string Str16(string f)
        {
            int n = U16(f);
            Need(n, f);
            string s = Encoding.UTF8.GetString(Data, Pos, n);
            Pos += n;
            return s;
        }

        public string Str32(string f)
        {
            uint n = U32(f);
            if (n > int.MaxValue) throw new SpikeforgeException("MALFORMED", what + "." + f + ": length " + n + " is too large");
            Need((int)n, f);
            string s = Encoding.UTF8.GetString(Data, Pos, (int)n);
            Pos += (int)n;
            return s;
        }

        public void Floats(float[] dst, int n, string f)
        {
            Need(4 * n, f);
            Buffer.BlockCopy(Data, Pos, dst, 0, 4 * n);
            Pos += 4 * n;
        }

        public long[] Ids(int n, string f)
        {
            Need(4 * n, f);
            var res = new long[n];
            fixed (byte* p = Data)
            {
                uint* q = (uint*)(p + Pos);
                for (int i = 0; i < n; i++) res[i] = q[i];
            }
            Pos += 4 * n;
            return res;
        }

        /// <summary>Reads count i64 values then count u32 values then count u32 values (a spike batch).</summary>
        public void Spikes(SpikeBatch b, int count)
        {
            Need(16 * count, "spikes");
            b.EnsureCapacity(count);
            fixed (byte* p = Data)
            {
                long* st = (long*)(p + Pos);
                uint* br = (uint*)(p + Pos + 8 * count);
                uint* ne = (uint*)(p + Pos + 12 * count);
                long[] s = b.Steps, bb = b.Brains;
                int[] nn = b.Neurons;
                for (int i = 0; i < count; i++)
                {
                    s[i] = st[i];
                    bb[i] = br[i];
                    nn[i] = (int)ne[i];
                }
            }
            Pos += 16 * count;
            b.Count = count;
        }
    }
}
