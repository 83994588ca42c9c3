// A GameObject's brain: spawned from a genome asset by the scene's SpikeforgeWorld, fed by the
// sensor components on the same GameObject and driving its actuator components. Organs are
// matched by name and enumerated in name order (stable across runs, as in ML-Agents).
using System;
using System.Collections.Generic;
using Spikeforge.Client;
using UnityEngine;

namespace Spikeforge
{
    [AddComponentMenu("Spikeforge/Brain Agent")]
    [DisallowMultipleComponent]
    public sealed class BrainAgent : MonoBehaviour
    {
        [Tooltip("The brain's genome (spikeforge-genome JSON).")]
        [SerializeField] TextAsset genome;
        [Tooltip("The scene's world (found automatically when empty).")]
        [SerializeField] SpikeforgeWorld world;

        string genomeOverride;
        readonly List<SensorComponent> sensorComponents = new List<SensorComponent>();
        readonly List<ActuatorComponent> actuatorComponents = new List<ActuatorComponent>();
        // the created sensors/actuators, in organ-name order, each with its component
        readonly List<KeyValuePair<SensorComponent, ISensor>> sensors = new List<KeyValuePair<SensorComponent, ISensor>>();
        readonly List<KeyValuePair<ActuatorComponent, IActuator>> actuators = new List<KeyValuePair<ActuatorComponent, IActuator>>();
        readonly List<SpikeEventActuator> spikeListeners = new List<SpikeEventActuator>();

        /// <summary>The brain's id, or -1 before it is spawned (the first step after OnEnable).</summary>
        public long BrainId { get { return brainId; } }
        long brainId = -1;
        public bool HasBrain { get { return BrainId >= 0; } }
        /// <summary>The circuit of the brain (organs, populations), once spawned.</summary>
        public CircuitInfo Circuit { get; private set; }
        /// <summary>The sensors created by this GameObject's sensor components, in organ-name order.</summary>
        public IList<ISensor> Sensors { get { return sensors.ConvertAll(p => p.Value).AsReadOnly(); } }
        /// <summary>The actuators created by this GameObject's actuator components, in name order.</summary>
        public IList<IActuator> Actuators { get { return actuators.ConvertAll(p => p.Value).AsReadOnly(); } }

        /// <summary>Use genome text instead of the asset (set before enabling).</summary>
        public void SetGenome(string genomeJson) { genomeOverride = genomeJson; }

        /// <summary>The world this agent belongs to.</summary>
        public void SetWorld(SpikeforgeWorld w) { world = w; }

        internal string GenomeText()
        {
            if (genomeOverride != null) return genomeOverride;
            if (genome == null) throw new SpikeforgeException("genome", "BrainAgent '" + name + "': no genome asset assigned");
            return genome.text;
        }

        void OnEnable()
        {
            CollectOrgans();
            if (world == null) world = FindObjectOfType<SpikeforgeWorld>();
            if (world == null) throw new InvalidOperationException("BrainAgent '" + name + "': no SpikeforgeWorld in the scene");
            world.Register(this);
        }

        void OnDisable()
        {
            if (world != null) world.Unregister(this);
        }

        /// <summary>Finds the organ components on this GameObject and orders them by organ name.</summary>
        public void CollectOrgans()
        {
            GetComponents(sensorComponents);
            GetComponents(actuatorComponents);
            sensors.Clear();
            actuators.Clear();
            foreach (var c in sensorComponents)
            {
                var s = c.CreateSensor();
                if (s == null) throw new SpikeforgeException("organ", "BrainAgent '" + name + "': " + c.GetType().Name + ".CreateSensor() returned null");
                sensors.Add(new KeyValuePair<SensorComponent, ISensor>(c, s));
            }
            foreach (var c in actuatorComponents)
            {
                var a = c.CreateActuator();
                if (a == null) throw new SpikeforgeException("organ", "BrainAgent '" + name + "': " + c.GetType().Name + ".CreateActuator() returned null");
                actuators.Add(new KeyValuePair<ActuatorComponent, IActuator>(c, a));
            }
            sensors.Sort((a, b) => string.CompareOrdinal(a.Value.Name, b.Value.Name));
            actuators.Sort((a, b) => string.CompareOrdinal(a.Value.Name, b.Value.Name));
            spikeListeners.Clear();
            foreach (var a in actuators) { var s = a.Value as SpikeEventActuator; if (s != null) spikeListeners.Add(s); }
            var seen = new HashSet<string>();
            foreach (var s in sensors)
                if (!seen.Add(s.Value.Name))
                    throw new SpikeforgeException("organ", "BrainAgent '" + name + "': two sensor components write organ '" + s.Value.Name + "'");
        }

        internal IEnumerable<string> SpikePopulations()
        {
            foreach (var s in spikeListeners) yield return s.Population;
        }

        /// <summary>Checks every component's declared spec against the circuit; names the organ on mismatch.</summary>
        internal void Validate(CircuitInfo circuit)
        {
            foreach (var pair in sensors)
            {
                var s = pair.Value;
                var spec = circuit.Sensor(s.Name);
                if (spec == null)
                    throw new SpikeforgeException("organ", "BrainAgent '" + name + "': circuit '" + circuit.Name + "' has no sensor '" + s.Name + "'");
                if (spec.Size != s.Size)
                    throw new SpikeforgeException("organ", "BrainAgent '" + name + "': sensor '" + s.Name + "' declares " + s.Size +
                                                  " channels, the circuit has " + spec.Size);
            }
            foreach (var a in actuators) a.Value.Validate(circuit, name);
        }

        internal void Bind(long brainId, CircuitInfo circuit)
        {
            this.brainId = brainId;
            Circuit = circuit;
        }

        internal void Unbind()
        {
            brainId = -1;
            Circuit = null;
        }

        /// <summary>Adds a reward for this brain; sent with the next step (rewards of one step add up).</summary>
        public void AddReward(float value)
        {
            if (!HasBrain) return;
            world.QueueReward(BrainId, value);
        }

        internal void WriteSensors(ISpikeforgeSession s)
        {
            for (int i = 0; i < sensors.Count; i++)
            {
                if (!sensors[i].Key.isActiveAndEnabled) continue;
                var c = sensors[i].Value;
                int off, cnt;
                if (s.Layout.TryGetSensor(BrainId, c.Name, out off, out cnt)) c.Write(s.Sensors, off, cnt);
            }
        }

        internal void DeliverSpike(string population, int neuron)
        {
            for (int i = 0; i < spikeListeners.Count; i++)
                if (spikeListeners[i].Population == population) spikeListeners[i].Receive(neuron);
        }

        internal void ApplyActuators(ISpikeforgeSession s, float frameDt)
        {
            var view = new ActuatorView(s, BrainId, Circuit);
            for (int i = 0; i < actuators.Count; i++)
                if (actuators[i].Key.isActiveAndEnabled) actuators[i].Value.Apply(view, frameDt);
        }
    }
}
