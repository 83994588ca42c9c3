// Where each brain's organ values live in the flat sensor and actuator arrays of an exchange
// (PROTOCOL.md, LAYOUT): the arrays are concatenations of blocks, one per (circuit, organ);
// a block is a row-major rows x cols float32 matrix whose rows are this client's brains of
// that circuit in ascending brain id.
using System;
using System.Collections.Generic;

namespace Spikeforge.Client
{
    /// <summary>This client's brains of one circuit, ascending ids (= the rows of that circuit's blocks).</summary>
    public sealed class BrainGroup
    {
        public readonly string Circuit;
        public readonly long[] BrainIds;

        public BrainGroup(string circuit, long[] brainIds) { Circuit = circuit; BrainIds = brainIds; }
    }

    /// <summary>One organ of one circuit across this client's brains: rows x cols floats at Offset.</summary>
    public sealed class OrganBlock
    {
        public readonly string Circuit;
        public readonly string Organ;
        /// <summary>Brains (rows).</summary>
        public readonly int Rows;
        /// <summary>Floats per brain: sensor channels, or actuator output width.</summary>
        public readonly int Cols;
        /// <summary>Offset of the block in the flat array (floats).</summary>
        public readonly int Offset;

        public OrganBlock(string circuit, string organ, int rows, int cols, int offset)
        {
            Circuit = circuit; Organ = organ; Rows = rows; Cols = cols; Offset = offset;
        }

        public override string ToString()
        {
            return Circuit + "." + Organ + " (" + Rows + " x " + Cols + " @" + Offset + ")";
        }
    }

    /// <summary>
    /// The session's exchange layout. Immutable: replaced on spawn, despawn, claim and load
    /// (its <see cref="Epoch"/> then increases).
    /// </summary>
    public sealed class WorldLayout
    {
        public readonly uint Epoch;
        public readonly BrainGroup[] Groups;
        public readonly OrganBlock[] Sensors;
        public readonly OrganBlock[] Actuators;
        /// <summary>Floats in the flat sensor array.</summary>
        public readonly int SensorLength;
        /// <summary>Floats in the flat actuator array.</summary>
        public readonly int ActuatorLength;

        struct Slot { public int Group; public int Row; }
        readonly Dictionary<long, Slot> index;
        readonly long[] allIds;

        public static readonly WorldLayout Empty = new WorldLayout(0, new BrainGroup[0], new OrganBlock[0], new OrganBlock[0], 0, 0);

        /// <exception cref="ArgumentException">A block does not fit its array, names an unknown circuit, or a brain repeats.</exception>
        public WorldLayout(uint epoch, BrainGroup[] groups, OrganBlock[] sensors, OrganBlock[] actuators,
                           int sensorLength, int actuatorLength)
        {
            Epoch = epoch;
            Groups = groups;
            Sensors = sensors;
            Actuators = actuators;
            SensorLength = sensorLength;
            ActuatorLength = actuatorLength;
            index = new Dictionary<long, Slot>();
            var ids = new List<long>();
            for (int g = 0; g < groups.Length; g++)
            {
                var b = groups[g].BrainIds;
                for (int r = 0; r < b.Length; r++)
                {
                    if (b[r] < 0) continue;  // a free slot row (stable slots): no brain lives there
                    if (index.ContainsKey(b[r])) throw new ArgumentException("layout: brain " + b[r] + " appears twice");
                    index[b[r]] = new Slot { Group = g, Row = r };
                    ids.Add(b[r]);
                }
            }
            allIds = ids.ToArray();
            Check(sensors, sensorLength, "sensor");
            Check(actuators, actuatorLength, "actuator");
        }

        void Check(OrganBlock[] blocks, int length, string what)
        {
            foreach (var o in blocks)
            {
                if (o.Offset < 0 || o.Rows < 0 || o.Cols < 0 || (long)o.Offset + (long)o.Rows * o.Cols > length)
                    throw new ArgumentException("layout: " + what + " block " + o + " does not fit an array of " + length + " floats");
                int g = GroupIndex(o.Circuit);
                if (g < 0) throw new ArgumentException("layout: " + what + " block " + o + " names circuit '" + o.Circuit + "' that has no brain group");
                if (Groups[g].BrainIds.Length != o.Rows)
                    throw new ArgumentException("layout: " + what + " block " + o + " has " + o.Rows + " rows for " + Groups[g].BrainIds.Length + " brains");
            }
        }

        int GroupIndex(string circuit)
        {
            for (int g = 0; g < Groups.Length; g++) if (Groups[g].Circuit == circuit) return g;
            return -1;
        }

        /// <summary>All of this client's brain ids (grouped by circuit, ascending within).</summary>
        public long[] BrainIds { get { return allIds; } }
        public int BrainCount { get { return allIds.Length; } }
        public bool Contains(long brainId) { return index.ContainsKey(brainId); }

        /// <summary>Circuit name of one of this client's brains.</summary>
        /// <exception cref="KeyNotFoundException">No such brain in this layout.</exception>
        public string CircuitOf(long brainId)
        {
            Slot s;
            if (!index.TryGetValue(brainId, out s)) throw new KeyNotFoundException("brain: no brain with id " + brainId + " in this session's layout");
            return Groups[s.Group].Circuit;
        }

        /// <summary>Row of the brain in its circuit's blocks, or -1.</summary>
        public int RowOf(long brainId)
        {
            Slot s;
            return index.TryGetValue(brainId, out s) ? s.Row : -1;
        }

        static bool Find(OrganBlock[] blocks, string circuit, int row, string organ, out int offset, out int count)
        {
            foreach (var o in blocks)
            {
                if (o.Circuit != circuit || o.Organ != organ) continue;
                offset = o.Offset + row * o.Cols;
                count = o.Cols;
                return true;
            }
            offset = count = 0;
            return false;
        }

        /// <summary>Span (offset, count) of a brain's sensor in the flat sensor array; false if unknown.</summary>
        public bool TryGetSensor(long brainId, string organ, out int offset, out int count)
        {
            Slot s;
            if (!index.TryGetValue(brainId, out s)) { offset = count = 0; return false; }
            return Find(Sensors, Groups[s.Group].Circuit, s.Row, organ, out offset, out count);
        }

        /// <summary>Span (offset, count) of a brain's actuator output in the flat actuator array; false if unknown.</summary>
        public bool TryGetActuator(long brainId, string organ, out int offset, out int count)
        {
            Slot s;
            if (!index.TryGetValue(brainId, out s)) { offset = count = 0; return false; }
            return Find(Actuators, Groups[s.Group].Circuit, s.Row, organ, out offset, out count);
        }

        public OrganBlock SensorBlock(string circuit, string organ) { return FindBlock(Sensors, circuit, organ); }
        public OrganBlock ActuatorBlock(string circuit, string organ) { return FindBlock(Actuators, circuit, organ); }

        static OrganBlock FindBlock(OrganBlock[] blocks, string circuit, string organ)
        {
            foreach (var o in blocks) if (o.Circuit == circuit && o.Organ == organ) return o;
            return null;
        }
    }

    /// <summary>An organ as a circuit declares it (PROTOCOL.md, CIRCUITS).</summary>
    public sealed class OrganSpec
    {
        public readonly string Name;
        /// <summary>Sensor channels, or actuator output width (floats per brain).</summary>
        public readonly int Size;
        public readonly float Low, High;

        public OrganSpec(string name, int size, float low, float high) { Name = name; Size = size; Low = low; High = high; }
    }

    /// <summary>A circuit the spikeforge side knows (uploaded genome, --genome file or snapshot).</summary>
    public sealed class CircuitInfo
    {
        public readonly string Name;
        public readonly int Neurons;
        /// <summary>Sorted by name.</summary>
        public readonly OrganSpec[] Sensors;
        /// <summary>Sorted by name.</summary>
        public readonly OrganSpec[] Actuators;
        /// <summary>(name, size) in layout order.</summary>
        public readonly KeyValuePair<string, int>[] Populations;

        public CircuitInfo(string name, int neurons, OrganSpec[] sensors, OrganSpec[] actuators, KeyValuePair<string, int>[] populations)
        {
            Name = name; Neurons = neurons; Sensors = sensors; Actuators = actuators; Populations = populations;
        }

        public OrganSpec Sensor(string name)
        {
            foreach (var s in Sensors) if (s.Name == name) return s;
            return null;
        }

        public OrganSpec Actuator(string name)
        {
            foreach (var s in Actuators) if (s.Name == name) return s;
            return null;
        }

        public int PopulationSize(string name)
        {
            foreach (var p in Populations) if (p.Key == name) return p.Value;
            return -1;
        }
    }
}
