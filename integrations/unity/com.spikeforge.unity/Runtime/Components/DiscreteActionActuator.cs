// DiscreteActionActuator: a built-in actuator component (it is its own IActuator: CreateActuator returns this).
using System;
using Spikeforge.Client;
using UnityEngine;
using UnityEngine.Events;

namespace Spikeforge
{
    /// <summary>
    /// Discrete actions by winner-take-all: a wta organ (width 1) gives the winner's index
    /// directly; a rate organ (width n) is reduced here to the channel with the highest output
    /// (lowest index wins ties; none when all are at or below the threshold).
    /// </summary>
    [AddComponentMenu("Spikeforge/Actuators/Discrete Action Actuator")]
    public sealed class DiscreteActionActuator : ActuatorComponent, IActuator
    {
        /// <summary>This component is its own actuator.</summary>
        public override IActuator CreateActuator() { return this; }
        /// <summary>Stable ordering key: the organ names.</summary>
        public string Name { get { return string.Join(",", OrganNames); } }
        /// <summary>Checks the organs exist; names the organ otherwise.</summary>
        public void Validate(CircuitInfo circuit, string agent) { ActuatorComponent.ValidateOrgans(this, circuit, agent); }

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

        public string[] OrganNames { get { return new[] { organ }; } }

        /// <summary>Winner-take-all over a span: index of the largest value above threshold, lowest index on ties, -1 if none.</summary>
        public static int Winner(float[] v, int offset, int count, float threshold)
        {
            int best = -1;
            float bestV = threshold;
            for (int i = 0; i < count; i++)
                if (v[offset + i] > bestV) { bestV = v[offset + i]; best = i; }
            return best;
        }

        public void Apply(ActuatorView view, float frameDt)
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
}
