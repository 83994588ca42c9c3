// Actuator components: each declares the organs it reads (names and output widths, as
// ML-Agents' ActuatorComponent declares its action spec) and turns the decoded outputs of the
// last exchange into game actions: movement, discrete choices, events on spikes.
using System;
using Spikeforge.Client;
using UnityEngine;
using UnityEngine.Events;

namespace Spikeforge
{
    [Serializable] public sealed class IntEvent : UnityEvent<int> { }

    /// <summary>An agent's view on the actuator outputs of the last exchange.</summary>
    public struct ActuatorView
    {
        readonly ISpikeforgeSession session;
        readonly long brainId;
        public readonly CircuitInfo Circuit;

        public ActuatorView(ISpikeforgeSession session, long brainId, CircuitInfo circuit)
        {
            this.session = session; this.brainId = brainId; Circuit = circuit;
        }

        /// <summary>The span of an organ's outputs in <paramref name="values"/>; false if the brain has no such organ.</summary>
        public bool TryGet(string organ, out float[] values, out int offset, out int count)
        {
            values = session.Actuators;
            return session.Layout.TryGetActuator(brainId, organ, out offset, out count);
        }

        /// <summary>First output of an organ mapped from its [low, high] range to [0, 1]; <paramref name="fallback"/> if absent.</summary>
        public float Normalized(string organ, float fallback)
        {
            float[] v; int off, cnt;
            if (string.IsNullOrEmpty(organ) || !TryGet(organ, out v, out off, out cnt) || cnt == 0) return fallback;
            var spec = Circuit != null ? Circuit.Actuator(organ) : null;
            if (spec == null || !(spec.High > spec.Low)) return v[off];
            return Mathf.Clamp01((v[off] - spec.Low) / (spec.High - spec.Low));
        }
    }

    /// <summary>Base of all actuators.</summary>
    public abstract class ActuatorComponentBase : MonoBehaviour
    {
        /// <summary>Actuator organs this component reads (may be empty, e.g. spike events).</summary>
        public abstract string[] OrganNames { get; }
        /// <summary>Stable ordering key (organ names).</summary>
        public virtual string SortKey { get { return string.Join(",", OrganNames); } }

        /// <summary>Checks the organs exist with the widths this component needs; names the organ otherwise.</summary>
        public virtual void Validate(CircuitInfo circuit, string agent)
        {
            foreach (var o in OrganNames)
                if (!string.IsNullOrEmpty(o) && circuit.Actuator(o) == null)
                    throw new SpikeforgeException("organ", "BrainAgent '" + agent + "': circuit '" + circuit.Name + "' has no actuator '" + o + "'");
        }

        public abstract void Apply(ActuatorView view, float frameDt);
    }

    /// <summary>
    /// Rates to movement: a turn organ (its range mapped to -1..1) sets the yaw rate, a forward
    /// organ (its range mapped to 0..1, or rate / maxRateHz) sets the speed. Moves a
    /// CharacterController or Rigidbody when present, else the Transform.
    /// </summary>
    [AddComponentMenu("Spikeforge/Actuators/Movement Actuator")]
    public sealed class MovementActuator : ActuatorComponentBase
    {
        [SerializeField] string turnOrgan = "turn";
        [SerializeField] string forwardOrgan = "speed";
        [Tooltip("Yaw rate at full turn output (degrees/s).")]
        [SerializeField] float maxTurnDegreesPerSecond = 180f;
        [Tooltip("Speed at full forward output (units/s).")]
        [SerializeField] float maxSpeed = 3f;
        [Tooltip("If > 0, the forward organ is a firing rate (Hz) and this rate means full speed.")]
        [SerializeField] float maxRateHz = 0f;

        public float Turn { get; private set; }
        public float Forward { get; private set; }

        public void Configure(string turn, string forward, float turnRate, float speed, float rateHz)
        {
            turnOrgan = turn; forwardOrgan = forward; maxTurnDegreesPerSecond = turnRate; maxSpeed = speed; maxRateHz = rateHz;
        }

        public override string[] OrganNames { get { return new[] { turnOrgan, forwardOrgan }; } }

        public override void Apply(ActuatorView view, float frameDt)
        {
            Turn = view.Normalized(turnOrgan, 0.5f) * 2f - 1f;
            if (maxRateHz > 0)
            {
                float[] v; int off, cnt;
                Forward = view.TryGet(forwardOrgan, out v, out off, out cnt) && cnt > 0 ? Mathf.Clamp01(v[off] / maxRateHz) : 0f;
            }
            else Forward = view.Normalized(forwardOrgan, 0f);
            var t = transform;
            Quaternion rot = Quaternion.AngleAxis(Turn * maxTurnDegreesPerSecond * frameDt, t.up) * t.rotation;
            Vector3 step = rot * Vector3.forward * (Forward * maxSpeed * frameDt);
            var cc = GetComponent<CharacterController>();
            var rb = GetComponent<Rigidbody>();
            if (cc != null) { t.rotation = rot; cc.Move(step); }
            else if (rb != null) { rb.MoveRotation(rot); rb.MovePosition(rb.position + step); }
            else { t.rotation = rot; t.position = t.position + step; }
        }
    }

    /// <summary>
    /// Discrete actions by winner-take-all: a wta organ (width 1) gives the winner's index
    /// directly; a rate organ (width n) is reduced here to the channel with the highest output
    /// (lowest index wins ties; none when all are at or below the threshold).
    /// </summary>
    [AddComponentMenu("Spikeforge/Actuators/Discrete Action Actuator")]
    public sealed class DiscreteActionActuator : ActuatorComponentBase
    {
        [SerializeField] string organ = "action";
        [Tooltip("Rate organs: outputs at or below this are no vote.")]
        [SerializeField] float threshold = 0f;
        [Tooltip("Invoke only when the action changes (else every step with an action).")]
        [SerializeField] bool onlyOnChange = true;
        [Tooltip("Called with the chosen action index (>= 0).")]
        public IntEvent onAction = new IntEvent();

        /// <summary>The current action, -1 for none.</summary>
        public int CurrentAction { get; private set; }

        public void Configure(string organName, float minimum, bool changesOnly)
        {
            organ = organName; threshold = minimum; onlyOnChange = changesOnly;
        }

        public override string[] OrganNames { get { return new[] { organ }; } }

        /// <summary>Winner-take-all over a span: index of the largest value above threshold, lowest index on ties, -1 if none.</summary>
        public static int Winner(float[] v, int offset, int count, float threshold)
        {
            int best = -1;
            float bestV = threshold;
            for (int i = 0; i < count; i++)
                if (v[offset + i] > bestV) { bestV = v[offset + i]; best = i; }
            return best;
        }

        public override void Apply(ActuatorView view, float frameDt)
        {
            float[] v; int off, cnt;
            if (!view.TryGet(organ, out v, out off, out cnt)) return;
            int action = cnt == 1 ? (int)v[off] : Winner(v, off, cnt, threshold);
            if (action < -1) action = -1;
            bool changed = action != CurrentAction;
            CurrentAction = action;
            if (action >= 0 && (changed || !onlyOnChange)) onAction.Invoke(action);
        }
    }

    /// <summary>UnityEvents on the spikes of one population of the agent's brain (batched per step).</summary>
    [AddComponentMenu("Spikeforge/Actuators/Spike Event Actuator")]
    public sealed class SpikeEventActuator : ActuatorComponentBase
    {
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
        public override string[] OrganNames { get { return new string[0]; } }
        public override string SortKey { get { return "~spikes:" + population; } }

        public override void Validate(CircuitInfo circuit, string agent)
        {
            if (population.Length > 0 && circuit.PopulationSize(population) < 0)
                throw new SpikeforgeException("organ", "BrainAgent '" + agent + "': circuit '" + circuit.Name + "' has no population '" + population + "'");
        }

        internal void Receive(int neuron)
        {
            count++;
            onNeuronSpike.Invoke(neuron);
        }

        public override void Apply(ActuatorView view, float frameDt)
        {
            LastCount = count;
            count = 0;
            if (LastCount > 0) onSpikes.Invoke(LastCount);
        }
    }
}
