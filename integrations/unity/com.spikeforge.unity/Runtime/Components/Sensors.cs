// Sensor components: each declares its organ (name and channel count, as ML-Agents'
// SensorComponent declares its spec) and writes that many floats per step for its agent.
using System;
using Spikeforge.Client;
using UnityEngine;

namespace Spikeforge
{
    /// <summary>Base of all sensors: one organ of the agent's circuit, <see cref="Size"/> channels.</summary>
    public abstract class SensorComponentBase : MonoBehaviour
    {
        [Tooltip("Sensor organ name in the circuit.")]
        [SerializeField] protected string organ = "";

        public string OrganName { get { return organ; } set { organ = value; } }
        /// <summary>Channels this component writes (must equal the organ's channel count).</summary>
        public abstract int Size { get; }
        /// <summary>The declared spec (name, channels; range as the component produces it).</summary>
        public virtual OrganSpec GetSpec() { return new OrganSpec(organ, Size, 0f, 1f); }
        /// <summary>Writes <paramref name="count"/> (= Size) values at <paramref name="offset"/>.</summary>
        public abstract void Write(float[] buffer, int offset, int count);
    }

    /// <summary>
    /// Rays fanned around the forward axis; each channel is the closeness of the nearest hit
    /// (1 at the origin, 0 at maxDistance or no hit), optionally one channel per ray and tag.
    /// </summary>
    [AddComponentMenu("Spikeforge/Sensors/Ray Perception Sensor")]
    public sealed class RayPerceptionSensor : SensorComponentBase
    {
        [Tooltip("Number of rays (odd numbers include straight ahead).")]
        [SerializeField] int rays = 5;
        [Tooltip("Total fan angle (degrees).")]
        [SerializeField] float fanDegrees = 120f;
        [SerializeField] float maxDistance = 10f;
        [SerializeField] LayerMask layers = -1;
        [Tooltip("When set: one channel per ray and tag (hits of other tags are ignored).")]
        [SerializeField] string[] detectableTags = new string[0];
        [SerializeField] Vector3 originOffset = Vector3.zero;

        public void Configure(int rayCount, float fan, float distance, string[] tags)
        {
            if (rayCount < 1) throw new ArgumentException("rays: must be >= 1, got " + rayCount);
            if (!(distance > 0)) throw new ArgumentException("maxDistance: must be > 0, got " + distance);
            rays = rayCount; fanDegrees = fan; maxDistance = distance; detectableTags = tags ?? new string[0];
        }

        public override int Size { get { return rays * Math.Max(1, detectableTags.Length); } }

        public override void Write(float[] buffer, int offset, int count)
        {
            var t = transform;
            Vector3 origin = t.position + t.TransformDirection(originOffset);
            int tags = detectableTags.Length;
            for (int i = 0; i < count; i++) buffer[offset + i] = 0f;
            for (int r = 0; r < rays; r++)
            {
                float angle = rays == 1 ? 0f : -fanDegrees / 2f + fanDegrees * r / (rays - 1);
                Vector3 dir = Quaternion.AngleAxis(angle, t.up) * t.forward;
                RaycastHit hit;
                if (!Physics.Raycast(origin, dir, out hit, maxDistance, layers)) continue;
                float closeness = 1f - Mathf.Clamp01(hit.distance / maxDistance);
                if (tags == 0) { buffer[offset + r] = closeness; continue; }
                for (int k = 0; k < tags; k++)
                    if (hit.collider != null && hit.collider.CompareTag(detectableTags[k])) buffer[offset + r * tags + k] = closeness;
            }
        }
    }

    /// <summary>One value the game sets (health, hunger, ...), clamped to [min, max].</summary>
    [AddComponentMenu("Spikeforge/Sensors/Scalar Value Sensor")]
    public sealed class ScalarValueSensor : SensorComponentBase
    {
        [SerializeField] float value;
        [SerializeField] float min = 0f;
        [SerializeField] float max = 1f;

        /// <summary>Optional source polled each step instead of <see cref="Value"/>.</summary>
        public Func<float> Source;

        public float Value
        {
            get { return value; }
            set
            {
                if (float.IsNaN(value) || float.IsInfinity(value)) throw new ArgumentException("ScalarValueSensor '" + organ + "': value must be finite, got " + value);
                this.value = value;
            }
        }

        public override int Size { get { return 1; } }
        public override OrganSpec GetSpec() { return new OrganSpec(organ, 1, min, max); }

        public override void Write(float[] buffer, int offset, int count)
        {
            float v = Source != null ? Source() : value;
            if (float.IsNaN(v) || float.IsInfinity(v)) v = min;
            buffer[offset] = Mathf.Clamp(v, min, max);
        }
    }

    /// <summary>Where a target is relative to the agent, in the agent's horizontal plane.</summary>
    [AddComponentMenu("Spikeforge/Sensors/Target Sensor")]
    public sealed class TargetSensor : SensorComponentBase
    {
        public enum Encoding
        {
            /// <summary>1 channel: signed bearing / 180 degrees, in -1..1 (positive = to the right).</summary>
            Bearing,
            /// <summary>2 channels: bearing as above, then distance / maxDistance in 0..1.</summary>
            BearingAndDistance,
            /// <summary>2 channels: sin and cos of the bearing (-1..1), no wrap-around jump behind the agent.</summary>
            SinCos,
        }

        [SerializeField] Transform target;
        [SerializeField] Encoding encoding = Encoding.Bearing;
        [SerializeField] float maxDistance = 20f;

        public Transform Target { get { return target; } set { target = value; } }
        public void Configure(Transform t, Encoding e, float distance) { target = t; encoding = e; maxDistance = distance; }

        public override int Size { get { return encoding == Encoding.Bearing ? 1 : 2; } }
        public override OrganSpec GetSpec() { return new OrganSpec(organ, Size, -1f, 1f); }

        /// <summary>Signed angle (degrees, -180..180) from the agent's forward to the target, around up.</summary>
        public float BearingDegrees()
        {
            if (target == null) return 0f;
            var t = transform;
            Vector3 to = Vector3.ProjectOnPlane(target.position - t.position, t.up);
            Vector3 fwd = Vector3.ProjectOnPlane(t.forward, t.up);
            return Vector3.SignedAngle(fwd, to, t.up);
        }

        public override void Write(float[] buffer, int offset, int count)
        {
            if (target == null) { for (int i = 0; i < count; i++) buffer[offset + i] = 0f; return; }
            float bearing = BearingDegrees();
            switch (encoding)
            {
                case Encoding.Bearing:
                    buffer[offset] = bearing / 180f;
                    break;
                case Encoding.BearingAndDistance:
                    buffer[offset] = bearing / 180f;
                    buffer[offset + 1] = Mathf.Clamp01(Vector3.Distance(target.position, transform.position) / maxDistance);
                    break;
                default:
                    double rad = bearing * Math.PI / 180.0;
                    buffer[offset] = (float)Math.Sin(rad);
                    buffer[offset + 1] = (float)Math.Cos(rad);
                    break;
            }
        }
    }
}
