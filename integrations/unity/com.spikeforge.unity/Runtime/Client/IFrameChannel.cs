// A byte stream to a spikeforge server core that is not a socket: ProtocolSession speaks the
// same protocol over it (the in-process session passes frames to the SDK's InProcessServer).
using System;

namespace Spikeforge.Client
{
    /// <summary>
    /// Carries protocol frames between <see cref="ProtocolSession"/> and a server core, e.g. one
    /// embedded in this process. Throw <see cref="System.IO.IOException"/> when the channel is closed.
    /// </summary>
    public interface IFrameChannel : IDisposable
    {
        /// <summary>Sends <paramref name="count"/> bytes of <paramref name="data"/> (whole request frames).</summary>
        void Send(byte[] data, int count);

        /// <summary>Reads up to <paramref name="count"/> reply bytes into <paramref name="buffer"/> at
        /// <paramref name="offset"/>; returns how many, 0 when no more will come (closed).</summary>
        int Receive(byte[] buffer, int offset, int count);
    }
}
