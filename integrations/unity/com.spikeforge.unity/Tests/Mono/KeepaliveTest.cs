// STUB RUN, NOT A UNITY RUN: the package's components compiled against the UnityEngine stub
// (Tests/UnityEngineStub), driven against a real `spikeforge serve --idle-timeout 2` to check
// the keepalive. Every keepalive here is configured for 30 s (the default): they survive
// because WELCOME (protocol 1.1) announced the 2 s idle timeout, which lowers it to 1 s.
// For --pause seconds (longer than the server's idle timeout) the game loop sends NOTHING:
// no Update, no FixedUpdate, as in an unfocused game with Application.runInBackground off.
// The SpikeforgeWorld and a bare ProtocolSession with StartKeepAlive(30) are kept alive by
// their timer thread; a bare session calling KeepAlive(30) every 20 ms (the Update-style
// call) too; a session that only idles (the control) is dropped by the server
// (idle_timeouts = 1). Then a race: the timer pings every few ms while the main thread
// exchanges, with no desync, resume or error.
// Run: mono KeepaliveTest.exe --port P --token-file F --genome G --pause 5
using System;
using System.Globalization;
using System.IO;
using System.Threading;
using Spikeforge.Client;
using UnityEngine;

namespace Spikeforge.Tests
{
    public static class KeepaliveTest
    {
        public static int Main(string[] args)
        {
            try
            {
                Run(args);
                Console.WriteLine("keepalive: " + Check.Passed + " passed, 0 failed");
                return 0;
            }
            catch (Exception e)
            {
                Console.WriteLine(e.ToString());
                foreach (var m in UnityEngine.Debug.Messages) Console.WriteLine("  unity log: " + m);
                Console.WriteLine("keepalive: " + Check.Passed + " passed, 1 failed");
                return 1;
            }
        }

        static ProtocolSession Bare(int port, string token, string genome, string name)
        {
            var s = new ProtocolSession(new ProtocolSettings { Port = port, TokenFile = token, ClientName = name });
            s.Open();
            s.Spawn(s.UploadGenome(genome).Name, 1);
            s.Exchange(0.004);
            return s;
        }

        /// <summary>The timer thread and the main thread share the session: with a 2 ms keepalive the
        /// timer PINGs between (and races for) the main thread's requests for 1.5 s; every request must
        /// succeed with its own reply, without a resume, and the server must count every exchange once.</summary>
        static void Race(ProtocolSession s)
        {
            s.StartKeepAlive(0.002); // configured below the 1 s floor: the floor only bounds the announced value
            int before = s.KeepAlives;
            long exchanges0 = s.Exchanges;
            var rng = new System.Random(7);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            int stats = 0;
            while (clock.Elapsed.TotalSeconds < 1.5)
            {
                s.Sensors[0] = (float)rng.NextDouble();
                s.Exchange(0.002);
                if (rng.Next(4) == 0) { s.Stats(); stats++; }
                Thread.Sleep(rng.Next(0, 15));
            }
            s.StopKeepAlive();
            int pings = s.KeepAlives - before;
            long sent = s.Exchanges - exchanges0;
            Check.True(pings >= 20, "timer pinged during the race (" + pings + ")");
            Check.True(sent >= 50 && stats > 0, "main thread exchanged during the race (" + sent + ")");
            Check.Equal(0, s.Resumes, "no resume in the race");
            Check.True(s.LastKeepAliveError == null, "no keepalive error in the race: " + s.LastKeepAliveError);
            var session = Json.GetObject(Json.ParseObject(s.Stats()), "session", "stats");
            Check.Equal(s.Exchanges, Json.GetLong(session, "exchanges", "session"), "the server counted every exchange once");
            Console.WriteLine("race: " + pings + " timer PINGs, " + sent + " exchanges, " + stats + " STATS in 1.5 s");
        }

        static void Run(string[] args)
        {
            int port = int.Parse(Check.Arg(args, "--port", null), CultureInfo.InvariantCulture);
            string token = Check.Arg(args, "--token-file", null);
            string genome = File.ReadAllText(Check.Arg(args, "--genome", null));
            double pause = double.Parse(Check.Arg(args, "--pause", "5"), CultureInfo.InvariantCulture);

            var worldGo = new GameObject("World");
            worldGo.SetActive(false);
            var world = worldGo.AddComponent<SpikeforgeWorld>();
            world.Configure(SpikeforgeWorld.ConnectionKind.ConnectToServer, true, "", token, port, SpikeforgeWorld.StepMode.FixedUpdate);
            Check.True(world.KeepaliveInterval == 30f, "default keepalive interval 30 s");
            worldGo.SetActive(true);
            var npc = new GameObject("npc");
            npc.SetActive(false);
            var agent = npc.AddComponent<BrainAgent>();
            agent.SetGenome(genome);
            agent.SetWorld(world);
            npc.SetActive(true);
            for (int i = 0; i < 5; i++) world.SendStubMessage("FixedUpdate");
            var ws = (ProtocolSession)world.Session;
            long brain = agent.BrainId;
            uint worldSession = ws.SessionId;
            Check.True(brain >= 0, "agent has a brain");

            var kept = Bare(port, token, genome, "kept");
            var timed = Bare(port, token, genome, "timed");
            var plain = Bare(port, token, genome, "plain");
            Check.True(ws.IdleTimeout == 2.0 && kept.IdleTimeout == 2.0, "WELCOME announced the 2 s idle timeout");
            Check.True(Keepalive.Interval(30, 2) == 1.0 && Keepalive.Interval(30, 0) == 30 && Keepalive.Interval(30, -1) == 30
                       && Keepalive.Interval(0.5, 2) == 0.5 && Keepalive.Interval(30, 0.5) == 1.0 && Keepalive.Interval(0, 2) == 0,
                       "Keepalive.Interval rule");
            Check.True(!kept.KeepAlive(30), "no PING right after a frame was sent");
            timed.StartKeepAlive(30);
            long keptExchanges = kept.Exchanges, timedExchanges = timed.Exchanges;

            // the pause: the game loop is stopped (no Update, no FixedUpdate); only "kept" is called, every ~20 ms
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (clock.Elapsed.TotalSeconds < pause)
            {
                kept.KeepAlive(30);
                Thread.Sleep(20);
            }
            foreach (var m in UnityEngine.Debug.Messages) if (m.StartsWith("exception")) throw new Exception("world logged " + m);
            int lo = (int)pause - 2, hi = (int)pause + 1; // one PING per second of pause
            Check.True(world.Keepalives >= lo && world.Keepalives <= hi, "world's timer pinged without Update (" + world.Keepalives + ")");
            Check.True(timed.KeepAlives >= lo && timed.KeepAlives <= hi, "bare session's timer pinged (" + timed.KeepAlives + ")");
            Check.True(kept.KeepAlives >= lo && kept.KeepAlives <= hi, "bare session pinged from its loop (" + kept.KeepAlives + ")");
            Check.Equal(keptExchanges, kept.Exchanges, "no exchange while paused");
            Check.Equal(timedExchanges, timed.Exchanges, "no exchange while paused (timer)");

            // resume: same sessions and brains, no reconnect
            for (int i = 0; i < 5; i++) world.SendStubMessage("FixedUpdate");
            foreach (var m in UnityEngine.Debug.Messages) if (m.StartsWith("exception")) throw new Exception("world logged " + m);
            Check.True(ReferenceEquals(ws, world.Session) && world.Recoveries == 0, "world kept its session object");
            Check.Equal(0, ws.Resumes, "world did not need to resume");
            Check.Equal(worldSession, ws.SessionId, "world session id");
            Check.Equal(brain, agent.BrainId, "agent kept its brain");
            Check.True(world.LastFrame.Steps > 0, "world exchanges after the pause");
            kept.Exchange(0.004);
            Check.Equal(0, kept.Resumes, "bare session did not need to resume");
            timed.Exchange(0.004);
            Check.Equal(0, timed.Resumes, "timer session did not need to resume");
            Check.True(timed.LastKeepAliveError == null && ws.LastKeepAliveError == null, "no keepalive error");

            // the control idled past the server's timeout and was dropped
            var limits = Json.GetObject(Json.GetObject(Json.ParseObject(kept.Stats()), "server", "stats"), "limits", "server");
            Check.Equal(1, Json.GetLong(limits, "idle_timeouts", "server.limits"), "the server dropped the idle control only");
            bool disturbed;
            try { plain.Exchange(0.004); disturbed = plain.Resumes > 0; }
            catch (SpikeforgeException) { disturbed = true; }
            Check.True(disturbed, "control session was dropped (resumed or failed)");

            Race(timed);

            plain.Close(false);
            kept.Close(false);
            timed.Close(false);
            int after = timed.KeepAlives;
            Thread.Sleep(100);
            Check.Equal(after, timed.KeepAlives, "Close stopped the timer");
            UnityEngine.Object.Destroy(worldGo);
        }
    }
}
