// IActuator: what acts on a brain's actuator outputs each step (ML-Agents' IActuator). Plain
// C#, no MonoBehaviour: an ActuatorComponent creates it, the BrainAgent calls it.
using Spikeforge.Client;

namespace Spikeforge
{
    /// <summary>
    /// An actuator: reads the outputs of its actuator organs after every exchange. Write your own
    /// as ML-Agents users do: implement this interface and an <see cref="ActuatorComponent"/>
    /// whose <see cref="ActuatorComponent.CreateActuator"/> returns it.
    /// </summary>
    public interface IActuator
    {
        /// <summary>Stable ordering key (actuators are applied in this order).</summary>
        string Name { get; }
        /// <summary>Actuator organs this actuator reads (may be empty, e.g. spike events).</summary>
        string[] OrganNames { get; }
        /// <summary>Checks the organs exist with the widths this actuator needs; throws a
        /// <see cref="SpikeforgeException"/> naming the organ otherwise.</summary>
        void Validate(CircuitInfo circuit, string agent);
        /// <summary>Acts on the outputs of the last exchange (<paramref name="frameDt"/> s of game time).</summary>
        void Apply(ActuatorView view, float frameDt);
    }
}
