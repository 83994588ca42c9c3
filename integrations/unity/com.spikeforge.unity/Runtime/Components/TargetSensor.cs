// TargetSensor: a built-in sensor component (it is its own ISensor: CreateSensor returns this).
using System;
using Spikeforge.Client;
using UnityEngine;

namespace Spikeforge
{
    /// <summary>Where a target is relative to the agent, in the agent's horizontal plane.</summary>
    [AddComponentMenu("Spikeforge/Sensors/Target Sensor")]
    public sealed class TargetSensor : SensorComponent, ISensor
    {
        /// <summary>This component is its own sensor.</summary>
        public override ISensor CreateSensor() { return this; }
        /// <summary>The organ this sensor writes.</summary>
        public string Name { get { return organ; } }

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

        public int Size { get { return encoding == Encoding.Bearing ? 1 : 2; } }
        public OrganSpec GetSpec() { return new OrganSpec(organ, Size, -1f, 1f); }

        /// <summary>Signed angle (degrees, -180..180) from the agent's forward to the target, around up.</summary>
        public float BearingDegrees()
        {
            if (target == null) return 0f;
            var t = transform;
            Vector3 to = Vector3.ProjectOnPlane(target.position - t.position, t.up);
            Vector3 fwd = Vector3.ProjectOnPlane(t.forward, t.up);
            return Vector3.SignedAngle(fwd, to, t.up);
        }

        public void Write(float[] buffer, int offset, int count)
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
