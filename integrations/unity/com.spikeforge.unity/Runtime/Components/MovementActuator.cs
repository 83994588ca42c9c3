// MovementActuator: a built-in actuator component (it is its own IActuator: CreateActuator returns this).
using System;
using Spikeforge.Client;
using UnityEngine;
using UnityEngine.Events;

namespace Spikeforge
{
    /// <summary>
    /// Rates to movement: a turn organ (its range mapped to -1..1) sets the yaw rate, a forward
    /// organ (its range mapped to 0..1, or rate / maxRateHz) sets the speed. Moves a
    /// CharacterController or Rigidbody when present, else the Transform.
    /// </summary>
    [AddComponentMenu("Spikeforge/Actuators/Movement Actuator")]
    public sealed class MovementActuator : ActuatorComponent, IActuator
    {
        /// <summary>This component is its own actuator.</summary>
        public override IActuator CreateActuator() { return this; }
        /// <summary>Stable ordering key: the organ names.</summary>
        public string Name { get { return string.Join(",", OrganNames); } }
        /// <summary>Checks the organs exist; names the organ otherwise.</summary>
        public void Validate(CircuitInfo circuit, string agent) { ActuatorComponent.ValidateOrgans(this, circuit, agent); }

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

        public string[] OrganNames { get { return new[] { turnOrgan, forwardOrgan }; } }

        public void Apply(ActuatorView view, float frameDt)
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
}
