// One scripted session (upload, spawn, subscribe, exchanges with sensor values, rewards,
// learning switches, errors, save/load, despawn, claim, close) through one transport, with
// every reply frame recorded (ProtocolSettings.ReplyLog). The pytest side runs it over TCP
// against `spikeforge serve` and in process (pythonnet) on an identically seeded world and
// compares the two recordings byte for byte.
// Run: mono ScriptedSessionTest.exe --mode tcp --port P --token-file F --genome G --out replies.bin
//      mono ScriptedSessionTest.exe --mode inprocess --python PY --seed S --backend B --genome-dir D --genome G --out replies.bin
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using Spikeforge.Client;

namespace Spikeforge.Tests
{
    public static class ScriptedSessionTest
    {
        public static int Main(string[] args)
        {
            try
            {
                Run(args);
                Console.WriteLine("scripted: " + Check.Passed + " passed, 0 failed");
                return 0;
            }
            catch (Exception e)
            {
                Console.WriteLine(e.ToString());
                Console.WriteLine("scripted: " + Check.Passed + " passed, 1 failed");
                return 1;
            }
        }

        static void Run(string[] args)
        {
            string mode = Check.Arg(args, "--mode", "tcp");
            string genome = File.ReadAllText(Check.Arg(args, "--genome", null));
            string outPath = Check.Arg(args, "--out", null);
            using (var log = File.Create(outPath))
            {
                ISpikeforgeSession s;
                if (mode == "tcp")
                {
                    s = new ProtocolSession(new ProtocolSettings
                    {
                        Port = int.Parse(Check.Arg(args, "--port", null), CultureInfo.InvariantCulture),
                        TokenFile = Check.Arg(args, "--token-file", null), ReplyLog = log, Reconnect = false,
                    });
                }
                else
                {
                    s = OpenInProcess(args, log, outPath);
                }
                using (s)
                {
                    Script(s, genome);
                    s.Close(false);
                }
            }
#if SPIKEFORGE_PYTHONNET
            InProcessSession.ShutdownPython();
#endif
        }

        static ISpikeforgeSession OpenInProcess(string[] args, Stream log, string outPath)
        {
#if SPIKEFORGE_PYTHONNET
            return new InProcessSession(new InProcessSettings
            {
                Python = PythonEnvironment.FromExecutable(Check.Arg(args, "--python", null)), Dt = 0.001,
                Backend = Check.Arg(args, "--backend", "numpy"),
                Seed = int.Parse(Check.Arg(args, "--seed", "0"), CultureInfo.InvariantCulture),
                GenomePaths = new[] { Check.Arg(args, "--genome-dir", null) },
                SnapshotDir = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(outPath)), "snapshots"), ReplyLog = log,
            });
#else
            throw new ArgumentException("--mode inprocess: built without SPIKEFORGE_PYTHONNET");
#endif
        }

        static void Script(ISpikeforgeSession s, string genome)
        {
            s.Open();
            s.ListCircuits();
            var info = s.UploadGenome(genome);
            var circuits = new Dictionary<string, CircuitInfo> { { info.Name, info } };
            Check.Throws<ProtocolErrorException>(() => s.Spawn("no-such-circuit", 1), "unknown circuit");
            long[] ids = s.Spawn(info.Name, 12);
            int all = s.Subscribe("", null);
            s.Subscribe("", new[] { ids[1], ids[4] });
            int frame = 0;
            for (int k = 0; k < 3; k++)
            {
                for (int f = 0; f < 20; f++, frame++)
                {
                    Scenario.FillSensors(s, circuits, frame);
                    s.Exchange(f % 3 == 0 ? 1.0 / 60 : 0.004);
                }
                var vals = new float[ids.Length];
                for (int i = 0; i < vals.Length; i++) vals[i] = (i % 5 - 2) * 0.5f;
                s.Reward(ids, vals);
            }
            s.SetLearning(false);
            for (int f = 0; f < 10; f++, frame++) { Scenario.FillSensors(s, circuits, frame); s.Exchange(1.0 / 60); }
            s.SetLearning(true);
            Check.Throws<ProtocolErrorException>(() => s.Reward(new[] { 999999L }, new[] { 1f }), "reward unknown brain");
            s.Save("scripted");
            for (int f = 0; f < 5; f++, frame++) { Scenario.FillSensors(s, circuits, frame); s.Exchange(1.0 / 60); }
            s.Load("scripted");
            for (int f = 0; f < 5; f++, frame++) { Scenario.FillSensors(s, circuits, frame); s.Exchange(1.0 / 60); }
            s.Despawn(new[] { ids[0], ids[3] });
            s.Spawn(info.Name, 1);
            s.Claim(new long[0]);
            s.Unsubscribe(all);
            for (int f = 0; f < 10; f++, frame++) { Scenario.FillSensors(s, circuits, frame); s.Exchange(1.0 / 60); }
            Check.True(s.Exchanges == 90, "exchanges: " + s.Exchanges);
        }
    }
}
