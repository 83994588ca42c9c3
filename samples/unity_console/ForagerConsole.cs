// A console "game" that drives spikeforge exactly as a Unity scene would, without Unity:
// 100 NPC foragers on a 2-D field, each with a spiking brain (samples/genomes/wanderer.json).
// Per frame: sense (bearing to the nearest food as sin/cos, bump when touching a wall) ->
// ONE exchange for all NPCs -> act (turn, speed) -> reward NPCs that reach food.
// The same code runs over TCP, shared memory or in-process (pythonnet): --mode tcp|shm|inprocess.
//
// Build and run from the repository root (after `make venv`; needs mono-devel):
//   samples/unity_console/run.sh --mode shm --frames 600
// (tests/integration/test_unity_sample.py builds and runs it the same way.)
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using Spikeforge.Client;

namespace Spikeforge.Samples
{
    public static class ForagerConsole
    {
        sealed class Npc
        {
            public long Brain;
            public double X, Y, Heading;
            public int Eaten;
            public bool Bumped;
        }

        static string Arg(string[] args, string name, string fallback)
        {
            for (int i = 0; i + 1 < args.Length; i++) if (args[i] == name) return args[i + 1];
            return fallback;
        }

        public static int Main(string[] args)
        {
            string mode = Arg(args, "--mode", "shm");
            string python = Arg(args, "--python", "python3");
            string genomePath = Arg(args, "--genome", Path.Combine("samples", "genomes", "wanderer.json"));
            int agents = int.Parse(Arg(args, "--agents", "100"), CultureInfo.InvariantCulture);
            int frames = int.Parse(Arg(args, "--frames", "600"), CultureInfo.InvariantCulture);
            int seed = int.Parse(Arg(args, "--seed", "1"), CultureInfo.InvariantCulture);
            string backend = Arg(args, "--backend", "auto");
            const double frameDt = 1.0 / 60.0;
            const double field = 40.0, speedMax = 4.0, turnMax = Math.PI; // units, units/s, rad/s

            ServerProcess server = null;
            ISpikeforgeSession session;
            if (mode == "inprocess")
                session = SessionFactory.Create(SessionMode.InProcess, null, new InProcessSettings
                {
                    Python = PythonEnvironment.FromExecutable(python), Backend = backend, Seed = seed,
                });
            else
            {
                string port = Arg(args, "--port", null);
                ProtocolSettings ps;
                if (port != null)
                    ps = new ProtocolSettings { Port = int.Parse(port, CultureInfo.InvariantCulture), TokenFile = Arg(args, "--token-file", null) };
                else
                {
                    server = ServerProcess.Start(new ServerLaunchSettings { PythonExecutable = python, Backend = backend, Seed = seed });
                    ps = server.Connection(false);
                }
                ps.ClientName = "unity-console-sample";
                session = SessionFactory.Create(mode == "shm" ? SessionMode.SharedMemory : SessionMode.Tcp, ps, null);
            }
            try
            {
                session.Open();
                var circuit = session.UploadGenome(File.ReadAllText(genomePath));
                if (circuit.Sensor("bearing") == null || circuit.Actuator("turn") == null || circuit.Actuator("speed") == null)
                    throw new SpikeforgeException("genome", genomePath + ": the sample needs sensor 'bearing' and actuators 'turn', 'speed'");
                var rng = new Random(seed);
                var npcs = new List<Npc>();
                foreach (long id in session.Spawn(circuit.Name, agents))
                    npcs.Add(new Npc { Brain = id, X = rng.NextDouble() * field, Y = rng.NextDouble() * field, Heading = rng.NextDouble() * 2 * Math.PI });
                var food = new List<double[]>();
                for (int i = 0; i < 30; i++) food.Add(new[] { rng.NextDouble() * field, rng.NextDouble() * field });

                var turnSpec = circuit.Actuator("turn");
                var rewardIds = new List<long>();
                var rewardValues = new List<float>();
                var sw = new Stopwatch();
                double simUs = 0;
                int totalSteps = 0;
                for (int f = 0; f < frames; f++)
                {
                    var L = session.Layout;
                    foreach (var n in npcs)
                    {
                        // sense: bearing to the nearest food as (sin, cos), bump after hitting a wall
                        double best = double.MaxValue, bx = 0, by = 0;
                        foreach (var p in food)
                        {
                            double d = (p[0] - n.X) * (p[0] - n.X) + (p[1] - n.Y) * (p[1] - n.Y);
                            if (d < best) { best = d; bx = p[0]; by = p[1]; }
                        }
                        double bearing = Math.Atan2(by - n.Y, bx - n.X) - n.Heading;
                        int off, cnt;
                        if (L.TryGetSensor(n.Brain, "bearing", out off, out cnt))
                        {
                            session.Sensors[off] = (float)Math.Sin(bearing);
                            if (cnt > 1) session.Sensors[off + 1] = (float)Math.Cos(bearing);
                        }
                        if (L.TryGetSensor(n.Brain, "bump", out off, out cnt)) session.Sensors[off] = n.Bumped ? 1f : 0f;
                    }
                    sw.Start();
                    var info = session.Exchange(frameDt);
                    sw.Stop();
                    simUs += info.SimMicroseconds;
                    totalSteps += info.Steps;
                    foreach (var n in npcs)
                    {
                        int off, cnt;
                        float turn = 0, speed = 0;
                        if (L.TryGetActuator(n.Brain, "turn", out off, out cnt))
                            turn = (session.Actuators[off] - turnSpec.Low) / (turnSpec.High - turnSpec.Low) * 2f - 1f;
                        if (L.TryGetActuator(n.Brain, "speed", out off, out cnt))
                            speed = Math.Min(1f, session.Actuators[off] / 50f); // rate (Hz) -> 0..1
                        n.Heading += turn * turnMax * frameDt;
                        n.X += Math.Cos(n.Heading) * speed * speedMax * frameDt;
                        n.Y += Math.Sin(n.Heading) * speed * speedMax * frameDt;
                        n.Bumped = n.X < 0 || n.Y < 0 || n.X > field || n.Y > field;
                        n.X = Math.Max(0, Math.Min(field, n.X));
                        n.Y = Math.Max(0, Math.Min(field, n.Y));
                        foreach (var p in food)
                        {
                            if ((p[0] - n.X) * (p[0] - n.X) + (p[1] - n.Y) * (p[1] - n.Y) > 1.0) continue;
                            n.Eaten++;
                            rewardIds.Add(n.Brain);
                            rewardValues.Add(1f);
                            p[0] = rng.NextDouble() * field;
                            p[1] = rng.NextDouble() * field;
                        }
                    }
                    if (rewardIds.Count > 0)
                    {
                        session.Reward(rewardIds.ToArray(), rewardValues.ToArray());
                        rewardIds.Clear();
                        rewardValues.Clear();
                    }
                }
                int eaten = 0, moved = 0;
                foreach (var n in npcs) { eaten += n.Eaten; if (n.Eaten > 0) moved++; }
                Console.WriteLine("unity_console: mode " + session.Mode + ", " + agents + " NPCs, " + frames + " frames, " + totalSteps +
                                  " steps; food eaten " + eaten + " by " + moved + " NPCs; exchange " +
                                  (sw.Elapsed.TotalMilliseconds * 1000 / frames).ToString("F0", CultureInfo.InvariantCulture) + " us/frame (" +
                                  (simUs / frames).ToString("F0", CultureInfo.InvariantCulture) + " us simulating)");
                Console.WriteLine("unity_console: ok");
                session.Close(false);
                return 0;
            }
            finally
            {
                session.Dispose();
                if (server != null) server.Dispose();
                // the embedded Python ends here, on the thread that started it, not in pythonnet's exit handler
                if (mode == "inprocess") SessionFactory.ShutdownInProcessPython();
            }
        }
    }
}
