// STUB RUN, NOT A UNITY RUN: the package's components compiled against the UnityEngine stub
// (Tests/UnityEngineStub), driven against a real `spikeforge serve --idle-timeout 2` to check
// the keepalive. A game paused with Time.timeScale = 0 gets Update calls but no FixedUpdate,
// so no exchange runs: for --pause seconds (longer than the server's idle timeout) only
// Update is called. The SpikeforgeWorld (keepaliveInterval 0.5 s) and a bare ProtocolSession
// calling KeepAlive(0.5) every frame must keep their sessions (no resume, same brain); a
// session that only idles (the control) is dropped by the server (idle_timeouts = 1).
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
            world.KeepaliveInterval = 0.5f;
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
            var plain = Bare(port, token, genome, "plain");
            Check.True(!kept.KeepAlive(0.5), "no PING right after a frame was sent");
            long keptExchanges = kept.Exchanges;

            // the pause: Update every ~20 ms (Unity calls it while Time.timeScale is 0), no FixedUpdate
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (clock.Elapsed.TotalSeconds < pause)
            {
                world.SendStubMessage("Update");
                kept.KeepAlive(0.5);
                Thread.Sleep(20);
            }
            foreach (var m in UnityEngine.Debug.Messages) if (m.StartsWith("exception")) throw new Exception("world logged " + m);
            Check.True(world.Keepalives >= (int)pause, "world pinged while paused (" + world.Keepalives + ")");
            Check.True(kept.KeepAlives >= (int)pause, "bare session pinged (" + kept.KeepAlives + ")");
            Check.Equal(keptExchanges, kept.Exchanges, "no exchange while paused");

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

            // the control idled past the server's timeout and was dropped
            var limits = Json.GetObject(Json.GetObject(Json.ParseObject(kept.Stats()), "server", "stats"), "limits", "server");
            Check.Equal(1, Json.GetLong(limits, "idle_timeouts", "server.limits"), "the server dropped the idle control only");
            bool disturbed;
            try { plain.Exchange(0.004); disturbed = plain.Resumes > 0; }
            catch (SpikeforgeException) { disturbed = true; }
            Check.True(disturbed, "control session was dropped (resumed or failed)");

            plain.Close(false);
            kept.Close(false);
            UnityEngine.Object.Destroy(worldGo);
        }
    }
}
