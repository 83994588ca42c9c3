// RayPerceptionSensor: a built-in sensor component (it is its own ISensor: CreateSensor returns this).
using System;
using Spikeforge.Client;
using UnityEngine;

namespace Spikeforge
{
    /// <summary>
    /// Rays fanned around the forward axis; each channel is the closeness of the nearest hit
    /// (1 at the origin, 0 at maxDistance or no hit), optionally one channel per ray and tag.
    /// </summary>
    [AddComponentMenu("Spikeforge/Sensors/Ray Perception Sensor")]
    public sealed class RayPerceptionSensor : SensorComponent, ISensor
    {
        /// <summary>This component is its own sensor.</summary>
        public override ISensor CreateSensor() { return this; }
        /// <summary>The organ this sensor writes.</summary>
        public string Name { get { return organ; } }
        /// <summary>The declared spec: organ name, channels, range [0, 1].</summary>
        public OrganSpec GetSpec() { return new OrganSpec(organ, Size, 0f, 1f); }

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

        public int Size { get { return rays * Math.Max(1, detectableTags.Length); } }

        public void Write(float[] buffer, int offset, int count)
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
}
