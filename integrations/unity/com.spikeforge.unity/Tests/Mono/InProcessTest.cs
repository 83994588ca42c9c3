// In-process mode test: embeds CPython through pythonnet (as Unity would), runs the shared
// scenario on an SDK World, writes the actuator record for the Python side to compare, and
// checks spawn/despawn, subscriptions, rewards, snapshots and error reporting.
// Run: mono InProcessTest.exe --python .venv/bin/python --genome G --out record.bin [--frames N --brains N]
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using Spikeforge.Client;

namespace Spikeforge.Tests
{
    public static class InProcessTest
    {
        public static int Main(string[] args)
        {
            try
            {
                Run(args);
                Console.WriteLine("inprocess: " + Check.Passed + " passed, 0 failed");
                return 0;
            }
            catch (Exception e)
            {
                Console.WriteLine(e.ToString());
                Console.WriteLine("inprocess: " + Check.Passed + " passed, 1 failed");
                return 1;
            }
        }

        static void Run(string[] args)
        {
            string python = Check.Arg(args, "--python", null);
            string genome = File.ReadAllText(Check.Arg(args, "--genome", null));
            string outPath = Check.Arg(args, "--out", null);
            int frames = int.Parse(Check.Arg(args, "--frames", "200"), CultureInfo.InvariantCulture);
            int brains = int.Parse(Check.Arg(args, "--brains", "100"), CultureInfo.InvariantCulture);
            double frameDt = double.Parse(Check.Arg(args, "--frame-dt", "0.004"), CultureInfo.InvariantCulture);
            int seed = int.Parse(Check.Arg(args, "--seed", "7"), CultureInfo.InvariantCulture);
            string backend = Check.Arg(args, "--backend", "numpy");

            var env = PythonEnvironment.FromExecutable(python);
            Check.True(File.Exists(env.PythonDll), "libpython resolved: " + env.PythonDll);
            var settings = new InProcessSettings
            {
                Python = env, Dt = 0.001, Backend = backend, Seed = seed,
                SnapshotDir = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(outPath)), "snapshots"),
            };
            using (var s = new InProcessSession(settings))
            {
                s.Open();
                Check.Equal("inprocess", s.Mode, "mode");
                Check.True(Math.Abs(s.Dt - 0.001) < 1e-12, "dt from the world");
                var bad = Check.Throws<SpikeforgeException>(() => s.UploadGenome("{\"format\": \"nope\"}"), "bad genome");
                Check.True(bad.Message.Contains("format"), "bad genome error names the field: " + bad.Message);
                var info = s.UploadGenome(genome);
                var circuits = new Dictionary<string, CircuitInfo> { { info.Name, info } };
                Check.Throws<SpikeforgeException>(() => s.Spawn("no-such-circuit", 1), "unknown circuit");
                long[] ids = s.Spawn(info.Name, brains);
                Check.Equal(brains, ids.Length, "spawned ids");
                Check.Equal(brains, s.Layout.BrainCount, "layout brains");
                int sub = s.Subscribe("", null);

                long spikes = 0;
                var sw = new Stopwatch();
                double simUs = 0;
                using (var w = new BinaryWriter(File.Create(outPath)))
                using (var sp = new BinaryWriter(File.Create(outPath + ".spikes")))
                {
                    for (int f = 0; f < frames; f++)
                    {
                        Scenario.FillSensors(s, circuits, f);
                        sw.Start();
                        var fi = s.Exchange(frameDt);
                        sw.Stop();
                        simUs += fi.SimMicroseconds;
                        var batch = s.GetSpikes(sub);
                        for (int i = 0; i < batch.Count; i++)
                        {
                            if (!s.Layout.Contains(batch.Brains[i])) throw new Exception("spike from unknown brain " + batch.Brains[i]);
                            if (batch.Neurons[i] < 0 || batch.Neurons[i] >= info.Neurons) throw new Exception("spike neuron out of range");
                        }
                        spikes += batch.Count;
                        Scenario.RecordSpikes(batch, sp);
                        Scenario.Record(s, circuits, w);
                    }
                }
                Check.True(spikes > 0, "spikes were delivered (" + spikes + ")");
                Console.WriteLine("inprocess: " + frames + " frames, exchange overhead " +
                                  ((sw.Elapsed.TotalMilliseconds * 1000 - simUs) / frames).ToString("F1", CultureInfo.InvariantCulture) + " us/frame");

                // bad input is refused with the field named, and nothing runs
                s.Sensors[0] = float.NaN;
                var nan = Check.Throws<ArgumentException>(() => s.Exchange(frameDt), "NaN sensor");
                Check.True(nan.Message.Contains("sensors[0]"), "NaN error names the index");
                s.Sensors[0] = 0;
                Check.Throws<ArgumentException>(() => s.Exchange(-1), "negative frame_dt");

                // rewards reach the world (dopamine), unknown brains are refused
                s.Reward(new[] { ids[0], ids[1] }, new[] { 1.0f, 0.5f });
                Check.Throws<SpikeforgeException>(() => s.Reward(new[] { 999999L }, new[] { 1f }), "reward unknown brain");
                s.SetLearning(true);
                Check.True(s.Stats().Contains("\"exchanges\": " + frames), "stats counts exchanges");

                // snapshot: save, run on, load, run the same frames again -> identical actuators
                s.Save("unity-inprocess");
                var after = new List<float[]>();
                for (int f = 0; f < 5; f++) { Scenario.FillSensors(s, circuits, frames + f); s.Exchange(frameDt); after.Add((float[])s.Actuators.Clone()); }
                s.Load("unity-inprocess");
                Check.Equal(brains, s.Layout.BrainCount, "brains after load");
                for (int f = 0; f < 5; f++)
                {
                    Scenario.FillSensors(s, circuits, frames + f);
                    s.Exchange(frameDt);
                    Check.BitEqual(after[f], s.Actuators, "resumed frame " + f);
                }
                Check.Throws<SpikeforgeException>(() => s.Load("../etc"), "bad snapshot name");

                // despawn keeps the others; their sensor spans move with them
                s.Despawn(new[] { ids[0], ids[2] });
                Check.Equal(brains - 2, s.Layout.BrainCount, "brains after despawn");
                Check.True(!s.Layout.Contains(ids[0]) && s.Layout.Contains(ids[1]), "despawned ids gone");
                s.Exchange(frameDt);
            }
            InProcessSession.ShutdownPython();
            var again = new InProcessSession(settings);
            var refused = Check.Throws<SpikeforgeException>(() => again.Open(), "open after shutdown");
            Check.True(refused.Message.Contains("cannot be restarted"), "shutdown is final: " + refused.Message);
        }
    }
}
