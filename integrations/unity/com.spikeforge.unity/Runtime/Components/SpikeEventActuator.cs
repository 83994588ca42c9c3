// SpikeEventActuator: a built-in actuator component (it is its own IActuator: CreateActuator returns this).
using System;
using Spikeforge.Client;
using UnityEngine;
using UnityEngine.Events;

namespace Spikeforge
{
    /// <summary>UnityEvents on the spikes of one population of the agent's brain (batched per step).</summary>
    [AddComponentMenu("Spikeforge/Actuators/Spike Event Actuator")]
    public sealed class SpikeEventActuator : ActuatorComponent, IActuator
    {
        /// <summary>This component is its own actuator.</summary>
        public override IActuator CreateActuator() { return this; }

        [Tooltip("Population whose spikes are reported (empty: every neuron of the brain).")]
        [SerializeField] string population = "";
        [Tooltip("Called once per step with the number of spikes (only when > 0).")]
        public IntEvent onSpikes = new IntEvent();
        [Tooltip("Called per spike with the neuron index within the population.")]
        public IntEvent onNeuronSpike = new IntEvent();

        int count;

        public string Population { get { return population; } set { population = value ?? ""; } }
        /// <summary>Spikes of the last step.</summary>
        public int LastCount { get; private set; }
        public string[] OrganNames { get { return new string[0]; } }
        public string Name { get { return "~spikes:" + population; } }

        public void Validate(CircuitInfo circuit, string agent)
        {
            if (population.Length > 0 && circuit.PopulationSize(population) < 0)
                throw new SpikeforgeException("organ", "BrainAgent '" + agent + "': circuit '" + circuit.Name + "' has no population '" + population + "'");
        }

        internal void Receive(int neuron)
        {
            count++;
            onNeuronSpike.Invoke(neuron);
        }

        public void Apply(ActuatorView view, float frameDt)
        {
            LastCount = count;
            count = 0;
            if (LastCount > 0) onSpikes.Invoke(LastCount);
        }
    }
}
