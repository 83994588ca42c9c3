// One per scene: owns the session to spikeforge (connects to a server, starts one, or embeds
// Python in-process), spawns and despawns the brains of BrainAgents in batches, and runs ONE
// exchange per step for all agents: sensors -> Exchange -> spikes -> actuators.
using System;
using System.Collections.Generic;
using System.IO;
using Spikeforge.Client;
using UnityEngine;

namespace Spikeforge
{
    [AddComponentMenu("Spikeforge/Spikeforge World")]
    [DisallowMultipleComponent]
    [DefaultExecutionOrder(-100)]
    public sealed class SpikeforgeWorld : MonoBehaviour
    {
        public enum ConnectionKind
        {
            /// <summary>Connect to a running `spikeforge serve`.</summary>
            ConnectToServer,
            /// <summary>Start `spikeforge serve` as a child process, then connect.</summary>
            StartServer,
            /// <summary>Embed CPython through pythonnet and run the World in this process.</summary>
            InProcess,
        }

        public enum StepMode { FixedUpdate, Update, Manual }

        [Header("Connection")]
        [Tooltip("How to reach spikeforge.")]
        [SerializeField] ConnectionKind connection = ConnectionKind.StartServer;
        [Tooltip("Server modes: put the sensor/actuator arrays in shared memory (same machine only).")]
        [SerializeField] bool sharedMemory = true;
        [SerializeField] string host = "127.0.0.1";
        [SerializeField] int port = Wire.DefaultPort;
        [Tooltip("Token file of the server (empty: ~/.spikeforge/server.token).")]
        [SerializeField] string tokenFile = "";
        [Tooltip("Python with spikeforge installed (StartServer and InProcess), e.g. /path/to/.venv/bin/python.")]
        [SerializeField] string pythonExecutable = "python3";

        [Header("World (StartServer and InProcess)")]
        [SerializeField] string backend = "auto";
        [SerializeField] int seed = 0;
        [Tooltip("Fixed simulation step (s).")]
        [SerializeField] float dt = 0.001f;
        [SerializeField] int maxSubsteps = 64;

        [Tooltip("Server modes: wall-clock seconds without any frame sent (also while Time.timeScale is 0, e.g. a pause menu, or no step runs) after which a PING keeps the connection alive; the server drops a connection silent for its --idle-timeout (300 s by default). 0 = off. A server that announces a shorter idle timeout lowers it to half of that. A timer thread sends it, so it needs no Update calls: an unfocused game with Application.runInBackground off keeps its connection too.")]
        [SerializeField] float keepaliveInterval = 30f;

        [Tooltip("When the session is lost for good (server gone, resume refused): reconnect (restarting our server if it died) and respawn every agent's brain. Learned state since the last snapshot is lost.")]
        [SerializeField] bool recoverLostSession = true;

        [Header("Stepping")]
        [Tooltip("FixedUpdate: one exchange per physics step with Time.fixedDeltaTime. Update: per frame with Time.deltaTime. Manual: call Step(dt).")]
        [SerializeField] StepMode stepMode = StepMode.FixedUpdate;

        ISpikeforgeSession session;
        ServerProcess server;
        readonly List<BrainAgent> agents = new List<BrainAgent>();
        readonly List<BrainAgent> pendingSpawn = new List<BrainAgent>();
        readonly List<long> pendingDespawn = new List<long>();
        readonly Dictionary<long, BrainAgent> byId = new Dictionary<long, BrainAgent>();
        readonly Dictionary<long, float> pendingRewards = new Dictionary<long, float>();
        readonly Dictionary<string, CircuitInfo> circuitsByGenome = new Dictionary<string, CircuitInfo>();
        readonly Dictionary<string, int> subscriptions = new Dictionary<string, int>();
        bool stepping;

        /// <summary>Raised after every step with what it did (from inside Step: do not call Step here).</summary>
        public event Action<FrameInfo> Stepped;

        public ISpikeforgeSession Session { get { return session; } }
        public bool IsStepping { get { return stepping; } }
        public int AgentCount { get { return agents.Count; } }
        public FrameInfo LastFrame { get; private set; }
        /// <summary>Keepalive period in seconds (see the keepaliveInterval field); 0 = off. The session's
        /// <see cref="ISpikeforgeSession.IdleTimeout"/> may lower it (<see cref="Keepalive.Interval"/>).</summary>
        public float KeepaliveInterval
        {
            get { return keepaliveInterval; }
            set { keepaliveInterval = value; StartKeepAlive(); }
        }
        /// <summary>PINGs the current session sent to keep an idle connection alive.</summary>
        public int Keepalives { get { return session == null ? 0 : session.KeepAlives; } }
        /// <summary>Times a lost session was replaced (see recoverLostSession).</summary>
        public int Recoveries { get; private set; }
        /// <summary>The server this world started (StartServer), or null.</summary>
        public ServerProcess Server { get { return server; } }

        /// <summary>Configure from code before the component is enabled (e.g. tests, samples).</summary>
        public void Configure(ConnectionKind kind, bool useSharedMemory, string python, string tokenPath, int tcpPort, StepMode mode)
        {
            connection = kind;
            sharedMemory = useSharedMemory;
            pythonExecutable = python;
            tokenFile = tokenPath;
            port = tcpPort;
            stepMode = mode;
        }

        /// <summary>Use an already created session (it is opened if needed and closed with the world).</summary>
        public void UseSession(ISpikeforgeSession existing)
        {
            if (session != null) throw new InvalidOperationException("SpikeforgeWorld: a session is already open");
            session = existing;
            if (!session.IsOpen) session.Open();
            StartKeepAlive();
        }

        void OnEnable()
        {
            if (session == null) OpenSession();
        }

        void OpenSession()
        {
            switch (connection)
            {
                case ConnectionKind.ConnectToServer:
                    session = SessionFactory.Create(sharedMemory ? SessionMode.SharedMemory : SessionMode.Tcp, new ProtocolSettings
                    {
                        Host = host, Port = port, TokenFile = string.IsNullOrEmpty(tokenFile) ? null : tokenFile,
                        ClientName = "unity:" + name,
                    }, null);
                    break;
                case ConnectionKind.StartServer:
                    if (server == null) server = ServerProcess.Start(new ServerLaunchSettings
                    {
                        PythonExecutable = pythonExecutable, Backend = backend, Seed = seed, Dt = dt, MaxSubsteps = maxSubsteps,
                        SnapshotDir = Path.Combine(Application.persistentDataPath, "spikeforge-snapshots"),
                    });
                    var ps = server.Connection(sharedMemory);
                    ps.ClientName = "unity:" + name;
                    session = SessionFactory.Create(sharedMemory ? SessionMode.SharedMemory : SessionMode.Tcp, ps, null);
                    break;
                default:
                    session = SessionFactory.Create(SessionMode.InProcess, null, new InProcessSettings
                    {
                        Python = PythonEnvironment.FromExecutable(pythonExecutable), Backend = backend, Seed = seed, Dt = dt,
                        MaxSubsteps = maxSubsteps, SnapshotDir = Path.Combine(Application.persistentDataPath, "spikeforge-snapshots"),
                    });
                    break;
            }
            session.Open();
            StartKeepAlive();
        }

        // The keepalive runs on the session's timer thread, not from Update: Update stops when an
        // unfocused game has Application.runInBackground off, and the server would drop the connection.
        void StartKeepAlive()
        {
            if (session == null || !session.IsOpen) return;
            try { session.StartKeepAlive(keepaliveInterval > 0f ? keepaliveInterval : 0.0); }
            catch (Exception e) { Debug.LogException(e, this); }
        }

        void OnDestroy()
        {
            if (session != null) { session.Close(false); session = null; }
            if (server != null) { server.Dispose(); server = null; }
        }

        void FixedUpdate()
        {
            if (stepMode == StepMode.FixedUpdate) StepSafely(Time.fixedDeltaTime);
        }

        void Update()
        {
            if (stepMode == StepMode.Update) StepSafely(Time.deltaTime);
        }

        void StepSafely(float frameDt)
        {
            try { Step(frameDt); }
            catch (Exception e)
            {
                Debug.LogException(e, this);
                if (recoverLostSession && session != null && !session.IsOpen)
                {
                    try { Recover(); }
                    catch (Exception r) { Debug.LogException(r, this); }
                }
            }
        }

        /// <summary>
        /// Replaces a lost session: a new connection (a new server when ours died) and fresh
        /// brains for every agent, spawned at the next step. Brains' learned state is lost
        /// unless the game reloads a snapshot.
        /// </summary>
        public void Recover()
        {
            if (stepping) throw new InvalidOperationException("SpikeforgeWorld.Recover: not from inside a step");
            if (session != null) { try { session.Close(false); } catch (Exception) { } session = null; }
            if (server != null && server.Process.HasExited) { server.Dispose(); server = null; }
            foreach (var a in agents) { a.Unbind(); if (!pendingSpawn.Contains(a)) pendingSpawn.Add(a); }
            agents.Clear();
            byId.Clear();
            pendingDespawn.Clear();
            pendingRewards.Clear();
            circuitsByGenome.Clear();
            subscriptions.Clear();
            OpenSession();
            Recoveries++;
        }

        // ------------------------------------------------------------------ agents
        internal void Register(BrainAgent agent)
        {
            if (!pendingSpawn.Contains(agent) && !agents.Contains(agent)) pendingSpawn.Add(agent);
        }

        internal void Unregister(BrainAgent agent)
        {
            pendingSpawn.Remove(agent);
            if (agents.Remove(agent) && agent.BrainId >= 0)
            {
                byId.Remove(agent.BrainId);
                pendingDespawn.Add(agent.BrainId);
                pendingRewards.Remove(agent.BrainId);
                agent.Unbind();
            }
        }

        internal void QueueReward(long brainId, float value)
        {
            if (float.IsNaN(value) || float.IsInfinity(value)) throw new ArgumentException("reward: must be finite, got " + value);
            float r;
            pendingRewards.TryGetValue(brainId, out r);
            pendingRewards[brainId] = r + value;
        }

        /// <summary>The circuit a genome defines (uploaded once per distinct genome text).</summary>
        public CircuitInfo CircuitFor(string genomeJson)
        {
            CircuitInfo info;
            if (!circuitsByGenome.TryGetValue(genomeJson, out info))
            {
                info = session.UploadGenome(genomeJson);
                circuitsByGenome[genomeJson] = info;
            }
            return info;
        }

        void FlushDespawns()
        {
            if (pendingDespawn.Count == 0) return;
            var ids = pendingDespawn.ToArray();
            pendingDespawn.Clear();
            session.Despawn(ids);
        }

        void FlushSpawns()
        {
            if (pendingSpawn.Count == 0) return;
            // one SPAWN per circuit for all agents that joined since the last step
            var byCircuit = new Dictionary<string, List<BrainAgent>>();
            var infos = new Dictionary<string, CircuitInfo>();
            Exception invalid = null;
            foreach (var a in pendingSpawn.ToArray())
            {
                CircuitInfo info;
                try
                {
                    info = CircuitFor(a.GenomeText());
                    a.Validate(info); // before spawning: a bad agent never gets a brain
                }
                catch (SpikeforgeException e)
                {
                    pendingSpawn.Remove(a); // reported once, not retried every step
                    if (invalid == null) invalid = e;
                    continue;
                }
                List<BrainAgent> list;
                if (!byCircuit.TryGetValue(info.Name, out list)) { list = new List<BrainAgent>(); byCircuit[info.Name] = list; infos[info.Name] = info; }
                list.Add(a);
            }
            pendingSpawn.Clear();
            foreach (var kv in byCircuit)
            {
                var list = kv.Value;
                for (int start = 0; start < list.Count; start += 10000)
                {
                    int n = Math.Min(10000, list.Count - start);
                    long[] ids = session.Spawn(kv.Key, n);
                    for (int i = 0; i < n; i++)
                    {
                        var a = list[start + i];
                        a.Bind(ids[i], infos[kv.Key]);
                        agents.Add(a);
                        byId[ids[i]] = a;
                    }
                }
            }
            EnsureSubscriptions();
            if (invalid != null) throw invalid;
        }

        void FlushRewards()
        {
            if (pendingRewards.Count == 0) return;
            var ids = new long[pendingRewards.Count];
            var values = new float[pendingRewards.Count];
            int i = 0;
            foreach (var kv in pendingRewards) { ids[i] = kv.Key; values[i] = kv.Value; i++; }
            pendingRewards.Clear();
            session.Reward(ids, values);
        }

        // ------------------------------------------------------------------ game saves
        /// <summary>
        /// Writes a snapshot of the whole world (every brain's state and learned weights) under
        /// a name ([A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}) in the server's snapshot folder.
        /// Pending spawns, despawns and rewards are sent first.
        /// </summary>
        public void SaveSnapshot(string snapshotName)
        {
            if (stepping) throw new InvalidOperationException("SpikeforgeWorld.SaveSnapshot: not from inside a step");
            FlushDespawns();
            FlushSpawns();
            FlushRewards();
            session.Save(snapshotName);
        }

        /// <summary>
        /// Replaces the world by a snapshot (resuming is bit-exact). Each agent gets back the brain
        /// with its current id when the snapshot has it; other agents take the remaining restored
        /// brains of their circuit in ascending id order; agents left over get fresh brains at the
        /// next step, and restored brains no agent takes are despawned.
        /// </summary>
        public void LoadSnapshot(string snapshotName)
        {
            if (stepping) throw new InvalidOperationException("SpikeforgeWorld.LoadSnapshot: not from inside a step");
            FlushDespawns();
            session.Load(snapshotName);
            var L = session.Layout;
            var unclaimed = new HashSet<long>(L.BrainIds);
            var keep = new List<BrainAgent>();
            var waiting = new List<BrainAgent>();
            foreach (var a in agents)
            {
                if (a.HasBrain && unclaimed.Contains(a.BrainId) && L.CircuitOf(a.BrainId) == a.Circuit.Name)
                {
                    unclaimed.Remove(a.BrainId);
                    keep.Add(a);
                }
                else waiting.Add(a);
            }
            waiting.AddRange(pendingSpawn);
            pendingSpawn.Clear();
            byId.Clear();
            foreach (var a in keep) byId[a.BrainId] = a;
            var free = new List<long>(unclaimed);
            free.Sort();
            foreach (var a in waiting)
            {
                CircuitInfo info = CircuitFor(a.GenomeText());
                long id = -1;
                foreach (var f in free) if (L.CircuitOf(f) == info.Name) { id = f; break; }
                a.Unbind();
                if (id < 0) { agents.Remove(a); pendingSpawn.Add(a); continue; }
                free.Remove(id);
                a.Validate(info);
                a.Bind(id, info);
                if (!agents.Contains(a)) agents.Add(a);
                byId[id] = a;
            }
            if (free.Count > 0) session.Despawn(free.ToArray());
            EnsureSubscriptions(); // subscriptions survive LOAD; add any new agent's populations
        }

        // ------------------------------------------------------------------ brains as assets
        /// <summary>
        /// The brain of <paramref name="agent"/> as a brain file: the bytes Python's Brain.save writes
        /// (versioned, checksummed). Ship it as a game asset (File.WriteAllBytes, a TextAsset's bytes) and
        /// give it to an agent later with <see cref="SpawnFromAsset"/>, in this or another scene or server of
        /// the same dt. <paramref name="withState"/>: with its state and RNG position (continues bit-exactly);
        /// false keeps the wiring, learned weights and thresholds only.
        /// </summary>
        public byte[] ExportBrain(BrainAgent agent, bool withState = true)
        {
            if (agent == null) throw new ArgumentNullException("agent");
            if (stepping) throw new InvalidOperationException("SpikeforgeWorld.ExportBrain: not from inside a step");
            if (!agent.HasBrain) throw new InvalidOperationException("SpikeforgeWorld.ExportBrain: agent '" + agent.name + "' has no brain yet (step once first)");
            return session.ExportBrain(agent.BrainId, withState);
        }

        /// <summary>
        /// Gives <paramref name="agent"/> (enabled, without a brain yet) the brain in a brain file
        /// (<see cref="ExportBrain"/>, or a file written by Python's Brain.save) instead of a fresh brain of
        /// its genome ("the wolf that learned"). The file's circuit is checked against the agent's organs:
        /// on a mismatch the brain is despawned again and the error names the organ. A corrupt, truncated
        /// or other-version file throws ProtocolErrorException INVALID and spawns nothing. Returns the id.
        /// </summary>
        public long SpawnFromAsset(BrainAgent agent, byte[] data, bool withState = true)
        {
            if (agent == null) throw new ArgumentNullException("agent");
            if (data == null) throw new ArgumentNullException("data");
            if (stepping) throw new InvalidOperationException("SpikeforgeWorld.SpawnFromAsset: not from inside a step");
            if (agent.HasBrain) throw new InvalidOperationException("SpikeforgeWorld.SpawnFromAsset: agent '" + agent.name + "' already has brain " + agent.BrainId);
            FlushDespawns();
            long id = session.SpawnAsset(data, withState)[0];
            string circuit = session.Layout.CircuitOf(id);
            CircuitInfo info = null;
            try
            {
                foreach (var c in session.ListCircuits()) if (c.Name == circuit) info = c;
                if (info == null) throw new SpikeforgeException("MALFORMED", "SpikeforgeWorld.SpawnFromAsset: the server does not list circuit '" + circuit + "'");
                agent.Validate(info);
            }
            catch (SpikeforgeException)
            {
                session.Despawn(new[] { id });
                throw;
            }
            pendingSpawn.Remove(agent);
            agent.Bind(id, info);
            if (!agents.Contains(agent)) agents.Add(agent);
            byId[id] = agent;
            EnsureSubscriptions();
            return id;
        }

        void EnsureSubscriptions()
        {
            foreach (var a in agents)
                foreach (var pop in a.SpikePopulations())
                    if (!subscriptions.ContainsKey(pop)) subscriptions[pop] = session.Subscribe(pop, null);
        }

        // ------------------------------------------------------------------ the step
        /// <summary>
        /// One exchange for every agent: pending spawns/despawns/rewards, sensors, Exchange,
        /// spikes, actuators. Raises InvalidOperationException when called from inside a step
        /// (a spike event or actuator handler): defer such calls to the next frame.
        /// </summary>
        public FrameInfo Step(float frameDt)
        {
            if (stepping) throw new InvalidOperationException("SpikeforgeWorld.Step was called from inside a step (an event handler?); defer it to the next frame");
            if (session == null || !session.IsOpen) throw new InvalidOperationException("SpikeforgeWorld: no open session (is the component enabled?)");
            stepping = true;
            try
            {
                FlushDespawns();
                FlushSpawns();
                FlushRewards();
                for (int i = 0; i < agents.Count; i++) agents[i].WriteSensors(session);
                var info = session.Exchange(frameDt);
                foreach (var kv in subscriptions)
                {
                    var batch = session.GetSpikes(kv.Value);
                    for (int i = 0; i < batch.Count; i++)
                    {
                        BrainAgent a;
                        if (byId.TryGetValue(batch.Brains[i], out a)) a.DeliverSpike(kv.Key, batch.Neurons[i]);
                    }
                }
                for (int i = 0; i < agents.Count; i++) agents[i].ApplyActuators(session, frameDt);
                LastFrame = info;
                var h = Stepped;
                if (h != null) h(info);
                return info;
            }
            finally
            {
                stepping = false;
            }
        }
    }
}
