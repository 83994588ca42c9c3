// ScalarValueSensor: a built-in sensor component (it is its own ISensor: CreateSensor returns this).
using System;
using Spikeforge.Client;
using UnityEngine;

namespace Spikeforge
{
    /// <summary>One value the game sets (health, hunger, ...), clamped to [min, max].</summary>
    [AddComponentMenu("Spikeforge/Sensors/Scalar Value Sensor")]
    public sealed class ScalarValueSensor : SensorComponent, ISensor
    {
        /// <summary>This component is its own sensor.</summary>
        public override ISensor CreateSensor() { return this; }
        /// <summary>The organ this sensor writes.</summary>
        public string Name { get { return organ; } }

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

        public int Size { get { return 1; } }
        public OrganSpec GetSpec() { return new OrganSpec(organ, 1, min, max); }

        public void Write(float[] buffer, int offset, int count)
        {
            float v = Source != null ? Source() : value;
            if (float.IsNaN(v) || float.IsInfinity(v)) v = min;
            buffer[offset] = Mathf.Clamp(v, min, max);
        }
    }
}
