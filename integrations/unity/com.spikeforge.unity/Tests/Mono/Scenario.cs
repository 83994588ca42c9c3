// The deterministic workload shared by the Mono test programs and the Python side of the
// tests (tests/integration/test_unity_*.py computes the same values): brain b, sensor
// channel c (organs by name, channels in order) at frame f gets
//     low + (high - low) * ((7 f + 13 b + 5 c) mod 17) / 16      (computed in double, stored as float32)
// and a frame's actuator record is, for brains in ascending id, actuators by name, every float.
using System;
using System.Collections.Generic;
using System.IO;
using Spikeforge.Client;

namespace Spikeforge.Tests
{
    public static class Scenario
    {
        public static float SensorValue(int frame, long brain, int channel, float low, float high)
        {
            long k = (7L * frame + 13L * brain + 5L * channel) % 17;
            return (float)(low + ((double)high - low) * k / 16.0);
        }

        /// <summary>Fills the session's sensor array for one frame from the formula above.</summary>
        public static void FillSensors(ISpikeforgeSession s, Dictionary<string, CircuitInfo> circuits, int frame)
        {
            var L = s.Layout;
            float[] sens = s.Sensors;
            foreach (var g in L.Groups)
            {
                var info = circuits[g.Circuit];
                foreach (var spec in info.Sensors)
                {
                    var block = L.SensorBlock(g.Circuit, spec.Name);
                    int ch = 0;
                    // channel numbering continues across organs (sorted by name) so organs differ
                    foreach (var prev in info.Sensors) { if (prev == spec) break; ch += prev.Size; }
                    for (int r = 0; r < g.BrainIds.Length; r++)
                        for (int c = 0; c < block.Cols; c++)
                            sens[block.Offset + r * block.Cols + c] = SensorValue(frame, g.BrainIds[r], ch + c, spec.Low, spec.High);
                }
            }
        }

        /// <summary>Appends one exchange's spike batch: i32 count, then per spike i64 step, i64 brain, i32 neuron.</summary>
        public static void RecordSpikes(SpikeBatch b, BinaryWriter w)
        {
            w.Write(b.Count);
            for (int i = 0; i < b.Count; i++)
            {
                w.Write(b.Steps[i]);
                w.Write(b.Brains[i]);
                w.Write(b.Neurons[i]);
            }
        }

        /// <summary>Appends this frame's actuators (brains ascending, actuators by name) to a writer.</summary>
        public static void Record(ISpikeforgeSession s, Dictionary<string, CircuitInfo> circuits, BinaryWriter w)
        {
            var L = s.Layout;
            var ids = (long[])L.BrainIds.Clone();
            Array.Sort(ids);
            foreach (long id in ids)
            {
                var info = circuits[L.CircuitOf(id)];
                foreach (var a in info.Actuators)
                {
                    int off, cnt;
                    if (!L.TryGetActuator(id, a.Name, out off, out cnt)) throw new Exception("no actuator " + a.Name + " for brain " + id);
                    for (int i = 0; i < cnt; i++) w.Write(s.Actuators[off + i]);
                }
            }
        }
    }
}
