// SensorComponent: the MonoBehaviour that creates a sensor (ML-Agents' SensorComponent).
using UnityEngine;

namespace Spikeforge
{
    /// <summary>
    /// Base of the sensor components: added to the agent's GameObject, it creates the
    /// <see cref="ISensor"/> the <see cref="BrainAgent"/> reads every step (once, when the agent
    /// collects its organs). Sensors are matched to the circuit's organs by name and written in
    /// name order.
    /// </summary>
    public abstract class SensorComponent : MonoBehaviour
    {
        [Tooltip("Sensor organ name in the circuit.")]
        [SerializeField] protected string organ = "";

        /// <summary>The sensor organ this component feeds.</summary>
        public string OrganName { get { return organ; } set { organ = value; } }

        /// <summary>Creates the sensor (the built-in components return themselves).</summary>
        public abstract ISensor CreateSensor();
    }
}
