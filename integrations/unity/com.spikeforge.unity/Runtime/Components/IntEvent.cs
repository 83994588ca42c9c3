// IntEvent: a UnityEvent with an int argument (actions, spike counts).
using System;
using Spikeforge.Client;
using UnityEngine;
using UnityEngine.Events;

namespace Spikeforge
{
    /// <summary>A UnityEvent with an int argument (action index, spike count, neuron).</summary>
    [Serializable] public sealed class IntEvent : UnityEvent<int> { }
}
