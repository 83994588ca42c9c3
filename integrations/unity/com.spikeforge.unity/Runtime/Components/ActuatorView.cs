// ActuatorView: an agent's view on the actuator outputs of the last exchange.
using System;
using Spikeforge.Client;
using UnityEngine;

namespace Spikeforge
{
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
}
