// Conformance with the hex examples of integrations/PROTOCOL.md section 10: a scripted fake
// server on loopback checks that ProtocolSession sends exactly the documented HELLO and
// EXCHANGE bytes, and answers with the documented WELCOME, EXCHANGE_RESULT and ERROR frames,
// whose decoding is checked field by field.
// Run: mono WireTest.exe --protocol integrations/PROTOCOL.md
using System;
using System.Collections.Generic;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using System.Threading;
using Spikeforge.Client;

namespace Spikeforge.Tests
{
    public static class WireTest
    {
        public static int Main(string[] args)
        {
            try
            {
                Run(args);
                Console.WriteLine("wire: " + Check.Passed + " passed, 0 failed");
                return 0;
            }
            catch (Exception e)
            {
                Console.WriteLine(e.ToString());
                Console.WriteLine("wire: " + Check.Passed + " passed, 1 failed");
                return 1;
            }
        }

        /// <summary>The bytes of the code block that follows the paragraph starting with <paramref name="title"/>.</summary>
        static byte[] Example(string doc, string title)
        {
            int at = doc.IndexOf("\n" + title, StringComparison.Ordinal);
            if (at < 0) throw new Exception("PROTOCOL.md: no example titled '" + title + "'");
            int start = doc.IndexOf("```\n", at, StringComparison.Ordinal) + 4;
            int end = doc.IndexOf("```", start, StringComparison.Ordinal);
            var bytes = new List<byte>();
            foreach (var line in doc.Substring(start, end - start).Split('\n'))
                foreach (var tok in line.Trim().Split(new[] { ' ' }, StringSplitOptions.RemoveEmptyEntries))
                {
                    if (!Regex.IsMatch(tok, "^[0-9a-f]{2}$")) break; // the rest of the line is a comment
                    bytes.Add(Convert.ToByte(tok, 16));
                }
            return bytes.ToArray();
        }

        static byte[] ReadFrame(Stream s)
        {
            var head = new byte[4];
            Fill(s, head, 4);
            int len = BitConverter.ToInt32(head, 0);
            var frame = new byte[4 + len];
            Array.Copy(head, frame, 4);
            Fill(s, frame, len, 4);
            return frame;
        }

        static void Fill(Stream s, byte[] buf, int n, int off = 0)
        {
            while (n > 0)
            {
                int k = s.Read(buf, off, n);
                if (k <= 0) throw new IOException("client closed");
                off += k; n -= k;
            }
        }

        static byte[] WithSeq(byte[] frame, uint seq)
        {
            var f = (byte[])frame.Clone();
            Array.Copy(BitConverter.GetBytes(seq), 0, f, 8, 4);
            return f;
        }

        static byte[] Layout(uint seq)
        {
            var w = new FrameWriter();
            w.Begin(Wire.Layout, seq);
            w.U32(1);                                 // epoch
            w.U16(1); w.Str16("probe", "c"); w.U32(1); w.U32(0);   // one group: brain 0
            w.U32(4); w.U32(2);                       // sensor / actuator floats
            w.U16(1); w.Str16("probe", "c"); w.Str16("input", "o"); w.U32(1); w.U32(4); w.U32(0);
            w.U16(1); w.Str16("probe", "c"); w.Str16("rate", "o"); w.U32(1); w.U32(2); w.U32(0);
            int n = w.Finish();
            var res = new byte[n];
            Array.Copy(w.Data, res, n);
            return res;
        }

        static void Run(string[] args)
        {
            string doc = File.ReadAllText(Check.Arg(args, "--protocol", null)).Replace("\r\n", "\n");
            byte[] hello = Example(doc, "HELLO from client");
            byte[] welcome = Example(doc, "WELCOME, session 7");
            byte[] exchange = Example(doc, "EXCHANGE, seq 42");
            byte[] result = Example(doc, "EXCHANGE_RESULT, seq 42");
            byte[] error = Example(doc, "ERROR, seq 5");
            Check.Equal(99, hello.Length, "HELLO example length");
            Check.Equal(90, welcome.Length, "WELCOME example length (1.1: with idle_timeout_s)");
            Check.Equal(48, exchange.Length, "EXCHANGE example length");
            Check.Equal(46, result.Length, "EXCHANGE_RESULT example length");
            Check.Equal(29, error.Length, "ERROR example length");

            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            int port = ((IPEndPoint)listener.LocalEndpoint).Port;
            var got = new List<byte[]>();
            Exception serverError = null;
            var server = new Thread(() =>
            {
                try
                {
                    using (var c = listener.AcceptTcpClient())
                    using (var s = c.GetStream())
                    {
                        got.Add(ReadFrame(s)); s.Write(welcome, 0, welcome.Length);                          // HELLO
                        var gl = ReadFrame(s); got.Add(gl); var lay = Layout(BitConverter.ToUInt32(gl, 8)); s.Write(lay, 0, lay.Length);
                        var ex = ReadFrame(s); got.Add(ex); var r = WithSeq(result, BitConverter.ToUInt32(ex, 8)); s.Write(r, 0, r.Length);
                        var ex2 = ReadFrame(s); got.Add(ex2); var e = WithSeq(error, BitConverter.ToUInt32(ex2, 8)); s.Write(e, 0, e.Length);
                        var gl2 = ReadFrame(s); got.Add(gl2); lay = Layout(BitConverter.ToUInt32(gl2, 8)); s.Write(lay, 0, lay.Length);
                        ReadFrame(s); // BYE
                        var ok = new FrameWriter(); ok.Begin(Wire.Ok, 0); int n = ok.Finish(); s.Write(ok.Data, 0, n);
                    }
                }
                catch (Exception ex) { serverError = ex; }
            });
            server.Start();

            var session = new ProtocolSession(new ProtocolSettings
            {
                Port = port, ClientName = "godot-npc", Reconnect = false,
                Token = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\n",
            });
            session.Open();
            Check.BitEqual(Floats(hello), Floats(got[0]), "HELLO bytes as documented");
            Check.Equal(7, session.SessionId, "WELCOME.session_id");
            Check.True(session.Dt == 0.001, "WELCOME.dt");
            Check.Equal(64, session.MaxSubsteps, "WELCOME.max_substeps");
            Check.Equal("0.1.0", session.ServerVersion, "WELCOME.server_version");
            Check.True(session.IdleTimeout == 300.0, "WELCOME.idle_timeout_s");

            session.RefreshLayout();
            Check.Equal(1, session.Layout.Epoch, "LAYOUT.epoch");
            Array.Copy(new[] { 0.5f, 1.0f, 0.0f, 0.25f }, session.Sensors, 4);
            var info = session.Exchange(1.0 / 60.0);
            var sent = WithSeq(got[2], 42);
            Check.BitEqual(Floats(exchange), Floats(sent), "EXCHANGE bytes as documented (seq aside)");
            Check.Equal(16, info.Steps, "EXCHANGE_RESULT.steps");
            Check.True((float)info.Alpha == 0.6666667f, "EXCHANGE_RESULT.alpha");
            Check.True(info.SimMicroseconds == 850, "EXCHANGE_RESULT.sim_us");
            Check.BitEqual(new[] { 12.5f, 0f }, session.Actuators, "EXCHANGE_RESULT actuators");

            var err = Check.Throws<ProtocolErrorException>(() => session.Exchange(1.0 / 60.0), "documented ERROR frame");
            Check.Equal(11, err.ErrorCode, "ERROR.code");
            Check.Equal("STALE_LAYOUT", err.Code, "ERROR code name");
            Check.True(!err.Fatal && err.Message.EndsWith("stale layout", StringComparison.Ordinal), "ERROR message: " + err.Message);
            Check.True(session.IsOpen, "a non-fatal error keeps the session");
            Check.Equal(Wire.GetLayout, BitConverter.ToUInt16(got[4], 4), "STALE_LAYOUT makes the client fetch the layout");
            session.Close(false);
            server.Join(5000);
            listener.Stop();
            if (serverError != null) throw new Exception("fake server: " + serverError.Message, serverError);
        }

        /// <summary>Bytes as floats-of-one-byte for a readable BitEqual diff.</summary>
        static float[] Floats(byte[] b)
        {
            var f = new float[b.Length];
            for (int i = 0; i < b.Length; i++) f[i] = b[i];
            return f;
        }
    }
}
