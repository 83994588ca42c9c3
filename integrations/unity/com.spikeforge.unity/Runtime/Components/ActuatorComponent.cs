// ActuatorComponent: the MonoBehaviour that creates an actuator (ML-Agents' ActuatorComponent).
using Spikeforge.Client;
using UnityEngine;

namespace Spikeforge
{
    /// <summary>
    /// Base of the actuator components: added to the agent's GameObject, it creates the
    /// <see cref="IActuator"/> the <see cref="BrainAgent"/> applies after every exchange (once,
    /// when the agent collects its organs).
    /// </summary>
    public abstract class ActuatorComponent : MonoBehaviour
    {
        /// <summary>Creates the actuator (the built-in components return themselves).</summary>
        public abstract IActuator CreateActuator();

        /// <summary>The usual <see cref="IActuator.Validate"/>: every named organ exists in the circuit.</summary>
        public static void ValidateOrgans(IActuator actuator, CircuitInfo circuit, string agent)
        {
            foreach (var o in actuator.OrganNames)
                if (!string.IsNullOrEmpty(o) && circuit.Actuator(o) == null)
                    throw new SpikeforgeException("organ", "BrainAgent '" + agent + "': circuit '" + circuit.Name + "' has no actuator '" + o + "'");
        }
    }
}
