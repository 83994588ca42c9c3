// The one interface a game talks to, whatever the transport: a spikeforge World reached over
// TCP, over TCP plus a shared-memory block, or embedded in-process through pythonnet.
using System;

namespace Spikeforge.Client
{
    /// <summary>An error reported by the spikeforge side (server or embedded SDK), or a protocol violation.</summary>
    public class SpikeforgeException : Exception
    {
        /// <summary>Machine-readable code (protocol error code or a short name such as "closed").</summary>
        public readonly string Code;

        public SpikeforgeException(string code, string message) : base(message) { Code = code; }
        public SpikeforgeException(string code, string message, Exception inner) : base(message, inner) { Code = code; }
    }

    /// <summary>The keepalive rule of PROTOCOL.md section 9 (the same in every adapter).</summary>
    public static class Keepalive
    {
        /// <summary>
        /// Seconds without a sent frame after which to PING (0 = never): <paramref name="configured"/> (0 or less:
        /// off) lowered to half the server's announced <paramref name="idleTimeout"/> (WELCOME, protocol 1.1; 0 =
        /// none, negative = not announced), but never below <see cref="Wire.KeepaliveMinSeconds"/> on that account.
        /// </summary>
        public static double Interval(double configured, double idleTimeout)
        {
            if (!(configured > 0)) return 0;
            if (!(idleTimeout > 0)) return configured;
            return Math.Min(configured, Math.Max(idleTimeout / 2, Wire.KeepaliveMinSeconds));
        }
    }

    /// <summary>What one exchange did.</summary>
    public struct FrameInfo
    {
        /// <summary>Fixed steps run this frame.</summary>
        public int Steps;
        /// <summary>Leftover fraction of a step, for interpolation (0..1).</summary>
        public double Alpha;
        /// <summary>Time the simulation itself took on the spikeforge side (microseconds).</summary>
        public double SimMicroseconds;
        /// <summary>
        /// True when the connection dropped after the request left and the session was resumed:
        /// the server ran the frame but its inline reply was lost, so <see cref="ISpikeforgeSession.Actuators"/>
        /// still hold the previous frame's values (shared memory keeps the new ones) and spikes are empty.
        /// </summary>
        public bool ReplyLost;
    }

    /// <summary>
    /// The spikes of one subscription in the last exchange: parallel arrays, ordered by step then
    /// neuron. Arrays are reused between frames and may be longer than <see cref="Count"/>.
    /// </summary>
    public sealed class SpikeBatch
    {
        public readonly int SubscriptionId;
        /// <summary>Population the subscription names ("" = whole brain).</summary>
        public readonly string Population;
        public int Count;
        /// <summary>True when spikes beyond the server's per-batch limit were dropped.</summary>
        public bool Truncated;
        /// <summary>The brain's own step counter at each spike (0 = the brain's first step).</summary>
        public long[] Steps = new long[0];
        /// <summary>Brain id of each spike.</summary>
        public long[] Brains = new long[0];
        /// <summary>Neuron index within the population (within the brain when Population is "").</summary>
        public int[] Neurons = new int[0];

        public SpikeBatch(int subscriptionId, string population) { SubscriptionId = subscriptionId; Population = population; }

        public void EnsureCapacity(int n)
        {
            if (Steps.Length >= n) return;
            int cap = Math.Max(n, Steps.Length * 2);
            Steps = new long[cap];
            Brains = new long[cap];
            Neurons = new int[cap];
        }
    }

    /// <summary>
    /// A connection to one spikeforge World. Per game frame: write <see cref="Sensors"/> (spans from
    /// <see cref="Layout"/>), call <see cref="Exchange"/> once for all agents, read <see cref="Actuators"/>
    /// and the spike batches. Call it from one thread (Unity's main thread); only the keepalive timer
    /// (<see cref="StartKeepAlive"/>) runs requests on another, under the session's lock.
    /// Errors from the spikeforge side raise <see cref="SpikeforgeException"/> naming the field and problem.
    /// </summary>
    public interface ISpikeforgeSession : IDisposable
    {
        /// <summary>"tcp", "shm" or "inprocess".</summary>
        string Mode { get; }
        bool IsOpen { get; }
        /// <summary>Fixed step of the world (s).</summary>
        double Dt { get; }
        /// <summary>Most fixed steps one exchange runs.</summary>
        int MaxSubsteps { get; }
        /// <summary>Version of the spikeforge SDK on the other side.</summary>
        string ServerVersion { get; }
        /// <summary>Current exchange layout; replaced on spawn, despawn, claim, load.</summary>
        WorldLayout Layout { get; }
        /// <summary>Flat sensor array (Layout.SensorLength floats); values hold until changed.</summary>
        float[] Sensors { get; }
        /// <summary>Flat actuator outputs of the last exchange (Layout.ActuatorLength floats).</summary>
        float[] Actuators { get; }
        /// <summary>Number of successful exchanges in this session.</summary>
        long Exchanges { get; }

        /// <summary>Connect (or start the embedded interpreter) and create the session's world view.</summary>
        void Open();
        /// <summary>Circuits the spikeforge side knows, sorted by name.</summary>
        CircuitInfo[] ListCircuits();
        /// <summary>Register a genome (spikeforge-genome JSON); returns the circuit it defines.</summary>
        CircuitInfo UploadGenome(string genomeJson);
        /// <summary>Spawn <paramref name="count"/> brains of a known circuit; returns their ids (ascending).</summary>
        long[] Spawn(string circuit, int count);
        /// <summary>Remove brains by id; other brains keep their state.</summary>
        void Despawn(long[] brainIds);
        /// <summary>Take over brains no session owns (e.g. restored from a snapshot); empty = all.</summary>
        void Claim(long[] brainIds);
        /// <summary>Ask for the spikes of a population ("" = every neuron) of some brains (null = all mine).</summary>
        int Subscribe(string population, long[] brainIds);
        void Unsubscribe(int subscriptionId);
        /// <summary>The spikes of a subscription in the last exchange.</summary>
        SpikeBatch GetSpikes(int subscriptionId);
        /// <summary>Send sensors, advance this session's brains by <paramref name="frameDt"/> seconds (0..1), receive actuators and spikes.</summary>
        FrameInfo Exchange(double frameDt);
        /// <summary>Deliver a reward to brains (reward-modulated plasticity); used by the next exchange.</summary>
        void Reward(long[] brainIds, float[] values);
        /// <summary>Switch plasticity on or off for this session's brains.</summary>
        void SetLearning(bool enabled);
        /// <summary>Atomic snapshot of the whole world under a name ([A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}).</summary>
        void Save(string name);
        /// <summary>Replace the world by a named snapshot; resuming is bit-exact.</summary>
        void Load(string name);
        /// <summary>
        /// One of this session's brains as a brain file (EXPORT_BRAIN): the bytes Python's Brain.save writes,
        /// versioned and checksummed. Keep them as a game asset and spawn them later with <see cref="SpawnAsset"/>
        /// (any server or process of the same dt). <paramref name="withState"/>: include all state and the RNG
        /// position, so the spawned brain continues bit for bit. Errors: NOT_OWNER (another client's brain),
        /// NOT_FOUND, LIMIT (does not fit a frame).
        /// </summary>
        byte[] ExportBrain(long brainId, bool withState);
        /// <summary>
        /// Spawn one brain from a brain file's bytes (SPAWN_ASSET); returns its id (one element) and updates the
        /// layout. A bad file spawns nothing: INVALID (corrupt, truncated, other version or dt), GENOME, LIMIT.
        /// </summary>
        long[] SpawnAsset(byte[] data, bool withState);
        /// <summary>Counters as a JSON object text (world, server, session).</summary>
        string Stats();
        /// <summary>The server's idle timeout in seconds as WELCOME announced it (protocol 1.1): 0 = the server
        /// never drops an idle connection (in process: always 0), -1 = not announced (a 1.0 server, not open).</summary>
        double IdleTimeout { get; }
        /// <summary>PINGs sent to keep the connection alive (<see cref="KeepAlive"/> and <see cref="StartKeepAlive"/>).</summary>
        int KeepAlives { get; }
        /// <summary>
        /// Keeps an idle connection alive: when no frame was sent for <paramref name="idleSeconds"/> seconds
        /// of wall-clock time (unscaled: also while Time.timeScale is 0), lowered to half the server's
        /// <see cref="IdleTimeout"/> (<see cref="Keepalive.Interval"/>), sends a PING and reads its PONG.
        /// A server drops a connection silent for its --idle-timeout (300 s by default; the session then
        /// waits out its grace period). Call it every frame, or use <see cref="StartKeepAlive"/>;
        /// returns true when it pinged. In-process sessions have no idle timeout: always false.
        /// </summary>
        bool KeepAlive(double idleSeconds);
        /// <summary>
        /// Keeps the connection alive from a timer thread (System.Threading.Timer): it PINGs when the session
        /// sent nothing for <see cref="Keepalive.Interval"/>(<paramref name="idleSeconds"/>, <see cref="IdleTimeout"/>)
        /// seconds, whatever the caller's thread does, so it needs no Update call (an unfocused Unity game with
        /// Application.runInBackground off keeps its connection). Requests are serialised with a lock, so the
        /// caller's thread may go on using the session; the timer never waits for a request in progress and
        /// never reconnects (a failed PING closes the connection, the caller's next request resumes). 0 stops it;
        /// <see cref="Close(bool)"/> stops it. In-process sessions have no idle timeout: nothing runs.
        /// </summary>
        void StartKeepAlive(double idleSeconds);
        /// <summary>Stops the timer of <see cref="StartKeepAlive"/> (nothing happens if none runs).</summary>
        void StopKeepAlive();
        /// <summary>End the session; <paramref name="keepBrains"/> keeps them for the grace period.</summary>
        void Close(bool keepBrains);
    }
}
