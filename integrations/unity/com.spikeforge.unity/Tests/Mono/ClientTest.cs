// Protocol client test against a real `spikeforge serve`: runs the shared scenario over TCP or
// shared memory, writes the actuator record for the Python side to compare (bit-equal), and
// checks resume after a dropped connection, rewards, snapshots, subscriptions and errors.
// Run: mono ClientTest.exe --port P --token-file F --genome G --mode tcp|shm --out record.bin
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using Spikeforge.Client;

namespace Spikeforge.Tests
{
    public static class ClientTest
    {
        public static int Main(string[] args)
        {
            string mode = Check.Arg(args, "--mode", "tcp");
            try
            {
                Run(args, mode);
                Console.WriteLine(mode + ": " + Check.Passed + " passed, 0 failed");
                return 0;
            }
            catch (Exception e)
            {
                Console.WriteLine(e.ToString());
                Console.WriteLine(mode + ": " + Check.Passed + " passed, 1 failed");
                return 1;
            }
        }

        static void Run(string[] args, string mode)
        {
            var settings = new ProtocolSettings
            {
                Host = Check.Arg(args, "--host", "127.0.0.1"),
                Port = int.Parse(Check.Arg(args, "--port", null), CultureInfo.InvariantCulture),
                TokenFile = Check.Arg(args, "--token-file", null),
                ClientName = "unity-test-" + mode,
                UseSharedMemory = mode == "shm",
                TimeoutMs = 60000,
            };
            string genome = File.ReadAllText(Check.Arg(args, "--genome", null));
            string outPath = Check.Arg(args, "--out", null);
            int frames = int.Parse(Check.Arg(args, "--frames", "1000"), CultureInfo.InvariantCulture);
            int brains = int.Parse(Check.Arg(args, "--brains", "100"), CultureInfo.InvariantCulture);
            double frameDt = double.Parse(Check.Arg(args, "--frame-dt", "0.004"), CultureInfo.InvariantCulture);

            // a wrong token is refused (fatal AUTH) before anything else
            var wrong = new ProtocolSettings { Host = settings.Host, Port = settings.Port, Token = "00", Reconnect = false };
            var auth = Check.Throws<ProtocolErrorException>(() => new ProtocolSession(wrong).Open(), "wrong token");
            Check.Equal("AUTH", auth.Code, "wrong token code");

            using (var s = new ProtocolSession(settings))
            {
                s.Open();
                Check.Equal(mode, s.Mode, "mode");
                Check.True(s.Dt > 0, "dt from WELCOME");
                var bad = Check.Throws<ProtocolErrorException>(() => s.UploadGenome("{\"format\": \"nope\"}"), "bad genome");
                Check.Equal("GENOME", bad.Code, "bad genome code (" + bad.Message + ")");
                var info = s.UploadGenome(genome);
                var circuits = new Dictionary<string, CircuitInfo> { { info.Name, info } };
                bool listed = false;
                foreach (var c in s.ListCircuits()) listed |= c.Name == info.Name;
                Check.True(listed, "uploaded circuit is listed");
                var nf = Check.Throws<ProtocolErrorException>(() => s.Spawn("no-such-circuit", 1), "unknown circuit");
                Check.Equal("NOT_FOUND", nf.Code, "unknown circuit code");

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
                        if (f == frames / 2)
                        {
                            // the connection dies between frames: the next exchange resumes the session
                            s.DropConnectionForTest();
                        }
                        Scenario.FillSensors(s, circuits, f);
                        sw.Start();
                        var fi = s.Exchange(frameDt);
                        sw.Stop();
                        Check.True(!fi.ReplyLost, "frame " + f + " reply");
                        simUs += fi.SimMicroseconds;
                        var batch = s.GetSpikes(sub);
                        for (int i = 0; i < batch.Count; i++)
                            if (!s.Layout.Contains(batch.Brains[i]) || batch.Neurons[i] < 0 || batch.Neurons[i] >= info.Neurons)
                                throw new Exception("bad spike: brain " + batch.Brains[i] + " neuron " + batch.Neurons[i]);
                        spikes += batch.Count;
                        Scenario.RecordSpikes(batch, sp);
                        Scenario.Record(s, circuits, w);
                    }
                }
                Check.Equal(1, s.Resumes, "resumed once after the drop");
                Check.True(spikes > 0, "spikes were delivered (" + spikes + ")");
                Console.WriteLine(mode + ": " + frames + " frames, exchange overhead " +
                                  ((sw.Elapsed.TotalMilliseconds * 1000 - simUs) / frames).ToString("F1", CultureInfo.InvariantCulture) + " us/frame");

                // dropped with the request in flight: never run twice, counted once
                long before = s.Exchanges;
                s.DropAfterNextSendForTest();
                var lost = s.Exchange(frameDt);
                Check.Equal(2, s.Resumes, "resumed after an in-flight drop");
                Check.Equal(before + 1, s.Exchanges, "in-flight exchange counted once");
                Check.True(lost.ReplyLost == (mode == "tcp"), "reply lost only inline (ReplyLost=" + lost.ReplyLost + ")");
                var stats = Json.ParseObject(s.Stats());
                Check.Equal(s.Exchanges, Json.GetLong(Json.GetObject(stats, "session", "stats"), "exchanges", "stats.session"),
                            "server ran each exchange exactly once");

                // bad input is refused with the field named
                s.Sensors[3] = float.NaN;
                var nan = Check.Throws<ArgumentException>(() => s.Exchange(frameDt), "NaN sensor");
                Check.True(nan.Message.Contains("sensors[3]"), "NaN error names the index");
                s.Sensors[3] = 0;
                Check.Throws<ArgumentException>(() => s.Exchange(2.0), "frame_dt above 1 s");

                // rewards: mine are accepted, others refused
                s.Reward(new[] { ids[0], ids[1] }, new[] { 1.0f, 0.5f });
                var nr = Check.Throws<ProtocolErrorException>(() => s.Reward(new[] { 999999L }, new[] { 1f }), "reward unknown brain");
                Check.True(nr.Code == "NOT_OWNER" || nr.Code == "NOT_FOUND", "reward unknown brain code " + nr.Code);
                s.SetLearning(true);

                // snapshot: save, run on, load, run the same frames again -> identical actuators
                s.Save("unity-" + mode);
                var after = new List<float[]>();
                for (int f = 0; f < 5; f++) { Scenario.FillSensors(s, circuits, frames + f); s.Exchange(frameDt); after.Add((float[])s.Actuators.Clone()); }
                s.Load("unity-" + mode);
                Check.Equal(brains, s.Layout.BrainCount, "brains after load");
                for (int f = 0; f < 5; f++)
                {
                    Scenario.FillSensors(s, circuits, frames + f);
                    s.Exchange(frameDt);
                    Check.BitEqual(after[f], s.Actuators, "resumed frame " + f);
                }
                var badName = Check.Throws<ProtocolErrorException>(() => s.Save("../etc"), "bad snapshot name");
                Check.Equal("INVALID", badName.Code, "bad snapshot name code");

                // despawn keeps the others
                s.Despawn(new[] { ids[0], ids[2] });
                Check.Equal(brains - 2, s.Layout.BrainCount, "brains after despawn");
                Check.True(!s.Layout.Contains(ids[0]) && s.Layout.Contains(ids[1]), "despawned ids gone");

                // brains as assets: export one, spawn it back, bad bytes spawn nothing, others' brains refused
                byte[] asset = s.ExportBrain(ids[1], true);
                Check.True(asset.Length > 100 && asset[0] == 0x50 && asset[1] == 0x4B, "exported brain is a zip (" + asset.Length + " bytes)");
                File.WriteAllBytes(outPath + ".sfbrain", asset);
                long[] clone = s.SpawnAsset(asset, true);
                Check.Equal(1, clone.Length, "one id from SPAWN_ASSET");
                Check.True(clone[0] > ids[ids.Length - 1] && s.Layout.Contains(clone[0]), "spawned asset id " + clone[0] + " is new and in the layout");
                Check.Equal(brains - 1, s.Layout.BrainCount, "brains after spawning the asset");
                byte[] again = s.ExportBrain(clone[0], true);
                File.WriteAllBytes(outPath + ".clone.sfbrain", again);
                var truncated = new byte[asset.Length / 2];
                Buffer.BlockCopy(asset, 0, truncated, 0, truncated.Length);
                var badAsset = Check.Throws<ProtocolErrorException>(() => s.SpawnAsset(truncated, true), "truncated asset");
                Check.Equal("INVALID", badAsset.Code, "truncated asset code (" + badAsset.Message + ")");
                Check.Equal(brains - 1, s.Layout.BrainCount, "a bad asset spawns nothing");
                var settings2 = new ProtocolSettings { Host = Check.Arg(args, "--host", "127.0.0.1"),
                    Port = int.Parse(Check.Arg(args, "--port", null), CultureInfo.InvariantCulture),
                    TokenFile = Check.Arg(args, "--token-file", null), ClientName = "unity-other", Reconnect = false };
                using (var other = new ProtocolSession(settings2))
                {
                    other.Open();
                    var notMine = Check.Throws<ProtocolErrorException>(() => other.ExportBrain(ids[1], true), "another client's brain");
                    Check.Equal("NOT_OWNER", notMine.Code, "another client's brain code");
                    other.Close(false);
                }
                s.Despawn(clone);
                s.Exchange(frameDt);
                Check.Equal(16, s.Ping(new byte[16]), "ping echoes");
                s.Close(false);
                Check.True(!s.IsOpen, "closed");
            }
        }
    }
}
