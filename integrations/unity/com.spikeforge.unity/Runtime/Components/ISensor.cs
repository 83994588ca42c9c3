// ISensor: what a brain's sensor organ reads each step (ML-Agents' ISensor). Plain C#, no
// MonoBehaviour: a SensorComponent creates it, the BrainAgent calls it.
using Spikeforge.Client;

namespace Spikeforge
{
    /// <summary>
    /// A sensor: writes <see cref="Size"/> floats for one sensor organ of its agent's circuit every
    /// step. Write your own as ML-Agents users do: implement this interface and a
    /// <see cref="SensorComponent"/> whose <see cref="SensorComponent.CreateSensor"/> returns it.
    /// </summary>
    public interface ISensor
    {
        /// <summary>The sensor organ's name in the circuit.</summary>
        string Name { get; }
        /// <summary>Channels written (must equal the organ's channel count).</summary>
        int Size { get; }
        /// <summary>The declared spec (name, channels, range of the values written).</summary>
        OrganSpec GetSpec();
        /// <summary>Writes <paramref name="count"/> (= Size) values at <paramref name="offset"/> of <paramref name="buffer"/>.</summary>
        void Write(float[] buffer, int offset, int count);
    }
}
