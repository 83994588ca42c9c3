// Per-frame exchange cost seen from C# for N agents, excluding the simulation itself:
// wall time of ISpikeforgeSession.Exchange minus the simulation time the spikeforge side
// reports (FrameInfo.SimMicroseconds). With --frame-dt 0 no step runs at all (the pure
// exchange path). Prints one JSON object on stdout.
// Run by `spikeforge bench unity` (sdk/spikeforge/bench/unity.py), which compiles this file.
// Args: --mode tcp|shm|inprocess --genome G [--port P --token-file F] [--python PY]
//       [--brains 100] [--frames 2000] [--warmup 200] [--frame-dt 0.016666] [--backend native] [--seed 0]
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using Spikeforge.Client;

namespace Spikeforge.Tests
{
    public static class ExchangeBench
    {
        public static int Main(string[] args)
        {
            string mode = Check.Arg(args, "--mode", "tcp");
            string genome = File.ReadAllText(Check.Arg(args, "--genome", null));
            int brains = int.Parse(Check.Arg(args, "--brains", "100"), CultureInfo.InvariantCulture);
            int frames = int.Parse(Check.Arg(args, "--frames", "2000"), CultureInfo.InvariantCulture);
            int warmup = int.Parse(Check.Arg(args, "--warmup", "200"), CultureInfo.InvariantCulture);
            double frameDt = double.Parse(Check.Arg(args, "--frame-dt", "0.0166666667"), CultureInfo.InvariantCulture);
            ISpikeforgeSession s = Sessions.Create(mode, args);
            using (s)
            {
                s.Open();
                var info = s.UploadGenome(genome);
                var circuits = new Dictionary<string, CircuitInfo> { { info.Name, info } };
                s.Spawn(info.Name, brains);
                var over = new double[frames];
                var wall = new double[frames];
                double tickUs = 1e6 / Stopwatch.Frequency;
                for (int f = -warmup; f < frames; f++)
                {
                    Scenario.FillSensors(s, circuits, f + warmup);
                    long t0 = Stopwatch.GetTimestamp();
                    var fi = s.Exchange(frameDt);
                    long t1 = Stopwatch.GetTimestamp();
                    if (f < 0) continue;
                    wall[f] = (t1 - t0) * tickUs;
                    over[f] = wall[f] - fi.SimMicroseconds;
                }
                Array.Sort(over);
                Array.Sort(wall);
                Console.WriteLine(Json.Write(new Dictionary<string, object>
                {
                    { "bench", "unity" }, { "mode", mode }, { "brains", brains }, { "frames", frames }, { "frame_dt", frameDt },
                    { "sensor_floats", s.Layout.SensorLength }, { "actuator_floats", s.Layout.ActuatorLength },
                    { "overhead_us_median", Math.Round(over[frames / 2], 1) },
                    { "overhead_us_p90", Math.Round(over[(int)(frames * 0.9)], 1) },
                    { "overhead_us_p99", Math.Round(over[(int)(frames * 0.99)], 1) },
                    { "wall_us_median", Math.Round(wall[frames / 2], 1) },
                    { "backend", Check.Arg(args, "--backend", "") },
                }));
                s.Close(false);
            }
            return 0;
        }
    }
}
