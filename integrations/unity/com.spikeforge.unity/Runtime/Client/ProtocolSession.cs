// A spikeforge World in another process (`spikeforge serve`), reached over TCP as
// integrations/PROTOCOL.md 1.2 describes; optionally with the sensor and actuator arrays in a
// shared-memory block (then each exchange sends only a ~32-byte control frame).
// Reconnect and resume: when the connection drops, the session is taken back with the resume
// token from WELCOME; see Exchange for what happens to a frame that was in flight.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.IO.MemoryMappedFiles;
using System.Net.Sockets;
using System.Threading;

namespace Spikeforge.Client
{
    /// <summary>How <see cref="ProtocolSession.Exchange"/> waits for the reply (see <see cref="ProtocolSettings.Wait"/>).</summary>
    public enum ReplyWait { Block, Poll }

    /// <summary>Where the server is and how to talk to it.</summary>
    public sealed class ProtocolSettings
    {
        public string Host = "127.0.0.1";
        public int Port = Wire.DefaultPort;
        /// <summary>The token text; when null it is read from <see cref="TokenFile"/>.</summary>
        public string Token;
        /// <summary>Token file written by the server (default ~/.spikeforge/server.token).</summary>
        public string TokenFile;
        public string ClientName = "spikeforge-unity";
        /// <summary>Put the bulk arrays in a shared-memory block (same machine only).</summary>
        public bool UseSharedMemory;
        /// <summary>Reconnect and resume when the connection drops.</summary>
        public bool Reconnect = true;
        public int ReconnectAttempts = 5;
        /// <summary>Delay before the first reconnect attempt (ms); doubles per attempt.</summary>
        public int ReconnectDelayMs = 50;
        /// <summary>Socket send/receive timeout (ms).</summary>
        public int TimeoutMs = 30000;
        /// <summary>
        /// How an exchange waits for its reply. Block: sleep in the socket read (least CPU).
        /// Poll: sleep through most of the expected simulation time (the previous frame's), then
        /// poll the socket, yielding the CPU between polls. Poll avoids the wake-up latency of an
        /// idle CPU (large on virtual machines: milliseconds) at the cost of some CPU.
        /// </summary>
        public ReplyWait Wait = ReplyWait.Block;
        /// <summary>When set, every frame received (header and payload, as it came) is appended here,
        /// e.g. to compare two transports byte for byte. Null (default): nothing is recorded.</summary>
        public Stream ReplyLog;

        public static string DefaultTokenFile()
        {
            string home = Environment.GetEnvironmentVariable("HOME");
            if (string.IsNullOrEmpty(home)) home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            return Path.Combine(Path.Combine(home, ".spikeforge"), "server.token");
        }
    }

    /// <summary>The protocol client (TCP, or TCP + shared memory). See file header.</summary>
    public sealed unsafe class ProtocolSession : ISpikeforgeSession
    {
        readonly ProtocolSettings settings;
        Socket socket;
        readonly Func<IFrameChannel> channelFactory;
        readonly string channelMode;
        IFrameChannel channel;
        readonly FrameWriter tx = new FrameWriter();
        readonly FrameReader rx = new FrameReader();
        readonly byte[] header = new byte[Wire.HeaderSize];
        uint seq;
        string token;
        string resumeToken = "";
        bool open;
        double dt;
        int maxSubsteps;
        uint maxFrameBytes = 33554432;
        string serverVersion = "";
        uint sessionId;
        WorldLayout layout = WorldLayout.Empty;
        float[] sensors = new float[0];
        float[] actuators = new float[0];
        long exchanges;
        long lastSendTicks; // Stopwatch timestamp of the last frame sent (KeepAlive)
        double idleTimeout = -1; // WELCOME.idle_timeout_s (1.1); -1: not announced
        ushort serverMinor; // WELCOME.minor: GET_SUBSCRIPTIONS needs 1.2
        // One request at a time: every public request holds this lock for its whole round
        // trip (and the reading of rx), so the keepalive timer thread can PING between them.
        readonly object sync = new object();
        Timer keepAliveTimer;
        double keepAliveSeconds;
        int keepAliveTickMs;
        readonly List<SpikeBatch> subscriptions = new List<SpikeBatch>();

        // shared memory
        MemoryMappedFile shmFile;
        MemoryMappedViewAccessor shmView;
        byte* shmBase;
        int shmSensorOffset, shmSensorCapacity, shmActuatorOffset, shmActuatorCapacity;
        string shmPath;

        /// <summary>Times the session was resumed after a dropped connection.</summary>
        public int Resumes { get; private set; }
        /// <summary>Brains despawned after resumes because a SPAWN or SPAWN_ASSET was in flight when the connection
        /// dropped and the session held its brains although their ids never arrived (its reply went into the dead
        /// connection; integrations/PROTOCOL.md section 6, "Reconcile after a resume"). That request was then sent again.</summary>
        public int ReconciledBrains { get; private set; }
        /// <summary>Subscriptions unsubscribed after resumes because a SUBSCRIBE was in flight when the connection
        /// dropped and the session held its subscription although its id never arrived (protocol 1.2;
        /// integrations/PROTOCOL.md section 6). That Subscribe was then sent again.</summary>
        public int ReconciledSubscriptions { get; private set; }
        public uint SessionId { get { return sessionId; } }
        /// <summary>Path of the shared-memory block, or null.</summary>
        public string SharedMemoryPath { get { return shmPath; } }

        public ProtocolSession(ProtocolSettings settings)
        {
            if (settings == null) throw new ArgumentNullException("settings");
            if (settings.Port < 0 || settings.Port > 65535) throw new ArgumentException("settings.Port: " + settings.Port + " is not a TCP port");
            this.settings = settings;
        }

        /// <summary>
        /// A session over a <see cref="IFrameChannel"/> instead of a socket (no shared memory, no
        /// reconnect: a new channel from <paramref name="channel"/> per connection). The protocol,
        /// its checks and its decoding are the TCP session's, byte for byte.
        /// </summary>
        public ProtocolSession(ProtocolSettings settings, Func<IFrameChannel> channel, string mode)
        {
            if (settings == null) throw new ArgumentNullException("settings");
            if (channel == null) throw new ArgumentNullException("channel");
            if (settings.UseSharedMemory) throw new ArgumentException("settings.UseSharedMemory: not over a frame channel");
            this.settings = settings;
            channelFactory = channel;
            channelMode = mode ?? "channel";
        }

        public string Mode { get { return channelMode ?? (settings.UseSharedMemory ? "shm" : "tcp"); } }
        public bool IsOpen { get { return open; } }
        public double Dt { get { return dt; } }
        public int MaxSubsteps { get { return maxSubsteps; } }
        public string ServerVersion { get { return serverVersion; } }
        public WorldLayout Layout { get { return layout; } }
        public float[] Sensors { get { return sensors; } }
        public float[] Actuators { get { return actuators; } }
        public long Exchanges { get { return exchanges; } }
        /// <summary>The server's idle timeout (s) from WELCOME (protocol 1.1): 0 = none, -1 = not announced
        /// (a 1.0 server, or not connected yet).</summary>
        public double IdleTimeout { get { return idleTimeout; } }

        // ------------------------------------------------------------------ connection
        public void Open()
        {
            lock (sync)
            {
                if (open) return;
                token = settings.Token;
                if (token == null)
                {
                    string path = settings.TokenFile ?? ProtocolSettings.DefaultTokenFile();
                    if (!File.Exists(path)) throw new SpikeforgeException("AUTH", "token: no token file at " + path + " (is `spikeforge serve` running?)");
                    token = File.ReadAllText(path);
                }
                token = token.Trim();
                resumeToken = "";
                Connect();
                open = true;
                if (layout.Epoch != 0) RefreshLayout();
            }
        }

        /// <summary>Connects and says HELLO (with the resume token when there is one). Returns WELCOME's resumed flag.</summary>
        bool Connect()
        {
            CloseSocket();
            if (channelFactory != null)
                channel = channelFactory();
            else
                ConnectSocket();
            tx.Begin(Wire.Hello, NextSeq());
            return Hello();
        }

        void ConnectSocket()
        {
            var s = new Socket(AddressFamilyOf(settings.Host), SocketType.Stream, ProtocolType.Tcp);
            try
            {
                s.NoDelay = true;
                s.SendTimeout = settings.TimeoutMs;
                s.ReceiveTimeout = settings.TimeoutMs;
                s.Connect(settings.Host, settings.Port);
            }
            catch
            {
                s.Close();
                throw;
            }
            socket = s;
        }

        /// <summary>Says HELLO on the fresh connection (the frame is begun); returns WELCOME's resumed flag.</summary>
        bool Hello()
        {
            tx.U32(Wire.Magic);
            tx.U16(Wire.Major);
            tx.U16(Wire.Minor);
            tx.Str16(settings.ClientName, "ClientName");
            tx.Str16(token, "token");
            tx.Str16(resumeToken, "resume_token");
            if (tx.Length - 4 > Wire.MaxHelloLength) throw new ArgumentException("ClientName: HELLO would exceed 4096 bytes");
            Send();
            Receive(Wire.Welcome, "HELLO");
            ushort major = rx.U16("major");
            ushort minor = rx.U16("minor");
            serverMinor = minor;
            if (major != Wire.Major) throw new SpikeforgeException("VERSION", "WELCOME: server speaks major " + major + ", this client " + Wire.Major);
            sessionId = rx.U32("session_id");
            resumeToken = rx.Str16("resume_token");
            bool resumed = rx.U8("resumed") == 1;
            dt = rx.F64("dt");
            maxSubsteps = (int)rx.U32("max_substeps");
            maxFrameBytes = rx.U32("max_frame_bytes");
            serverVersion = rx.Str16("server_version");
            uint epoch = rx.U32("epoch");
            // 1.1: the server appends idle_timeout_s when both sides speak 1.1 or later
            idleTimeout = -1;
            if (Math.Min(minor, Wire.Minor) >= 1)
            {
                double idle = rx.F64("idle_timeout_s");
                if (double.IsNaN(idle) || double.IsInfinity(idle) || idle < 0)
                    throw new SpikeforgeException("MALFORMED", "WELCOME.idle_timeout_s: must be finite and >= 0 s, got " + idle.ToString(CultureInfo.InvariantCulture));
                idleTimeout = idle;
            }
            if (minor <= Wire.Minor) rx.ExpectEnd(); // a later minor may append fields we do not know
            RetimeKeepAlive();
            if (resumed && epoch != layout.Epoch) pendingLayoutRefresh = true;
            return resumed;
        }

        bool pendingLayoutRefresh;

        static AddressFamily AddressFamilyOf(string host)
        {
            System.Net.IPAddress ip;
            if (System.Net.IPAddress.TryParse(host, out ip)) return ip.AddressFamily;
            return AddressFamily.InterNetwork;
        }

        uint NextSeq()
        {
            seq = seq == uint.MaxValue ? 1 : seq + 1;
            return seq;
        }

        void CloseSocket()
        {
            if (channel != null)
            {
                var c = channel;
                channel = null;
                c.Dispose();
            }
            if (socket == null) return;
            try { socket.Close(); } catch (ObjectDisposedException) { }
            socket = null;
        }

        /// <summary>Takes the session back after a dropped connection (HELLO with the resume token). When
        /// <paramref name="unanswered"/> (the request in flight) is SPAWN or SPAWN_ASSET, reconciles (see
        /// <see cref="Reconcile"/>) and returns true: that request is known not to have taken effect. When it is
        /// SUBSCRIBE or UNSUBSCRIBE and the server speaks 1.2, reconciles the subscriptions (see
        /// <see cref="ReconcileSubscriptions"/>) and returns true: a SUBSCRIBE is known not to have taken
        /// effect, an UNSUBSCRIBE to have taken effect.</summary>
        bool Resume(Exception cause, ushort unanswered = 0)
        {
            if (!settings.Reconnect) throw new SpikeforgeException("disconnected", "connection to spikeforge lost: " + cause.Message, cause);
            Exception last = cause;
            int delay = settings.ReconnectDelayMs;
            for (int attempt = 0; attempt < settings.ReconnectAttempts; attempt++)
            {
                Thread.Sleep(delay);
                delay *= 2;
                try
                {
                    if (!Connect())
                    {
                        open = false;
                        CloseSocket();
                        throw new SpikeforgeException("resume", "resume: the server started a new session instead of resuming; the session's brains are gone");
                    }
                    Resumes++;
                    if (unanswered == Wire.Spawn || unanswered == Wire.SpawnAsset)
                    {
                        Reconcile();
                        return true;
                    }
                    if (pendingLayoutRefresh) RefreshLayout();
                    if ((unanswered == Wire.Subscribe || unanswered == Wire.Unsubscribe) && serverMinor >= 2)
                    {
                        ReconcileSubscriptions();
                        return true;
                    }
                    return false;
                }
                catch (ProtocolErrorException e)
                {
                    CloseSocket();
                    if (e.ErrorCode == 7 || e.ErrorCode == 5 || e.ErrorCode == 6)
                    {
                        open = false;
                        throw new SpikeforgeException("resume", "resume refused (" + e.Message + "); the session's brains are gone", e);
                    }
                    last = e;
                }
                catch (SocketException e) { CloseSocket(); last = e; }
                catch (IOException e) { CloseSocket(); last = e; }
            }
            open = false;
            throw new SpikeforgeException("disconnected", "connection to spikeforge lost and " + settings.ReconnectAttempts +
                                          " reconnect attempts failed: " + last.Message, last);
        }

        /// <summary>
        /// After resuming with a SPAWN or SPAWN_ASSET in flight: the session may hold that request's brains although
        /// their ids never arrived (the server wrote the reply into the dead connection and cannot undo it). The
        /// brains of the session's layout that the last layout received did not list are that request's: they are
        /// despawned (not adopted: they cannot be told from another request's, and they never ran). A DESPAWN
        /// refused with NOT_FOUND / NOT_OWNER means the server's own undo took them out meanwhile: look again.
        /// </summary>
        void Reconcile()
        {
            var known = new HashSet<long>();
            foreach (var g in layout.Groups)
                foreach (long id in g.BrainIds) known.Add(id);
            for (int round = 0; round < 3; round++)
            {
                RefreshLayout();
                var extra = new List<long>();
                foreach (var g in layout.Groups)
                    foreach (long id in g.BrainIds)
                        if (!known.Contains(id)) extra.Add(id);
                if (extra.Count == 0) return;
                extra.Sort();
                try
                {
                    Despawn(extra.ToArray());
                    ReconciledBrains += extra.Count;
                    return;
                }
                catch (ProtocolErrorException e)
                {
                    if (e.Fatal || (e.ErrorCode != Wire.ErrNotFound && e.ErrorCode != Wire.ErrNotOwner)) throw;
                }
            }
        }

        /// <summary>
        /// After resuming with a SUBSCRIBE or UNSUBSCRIBE in flight (protocol 1.2): the session may hold a
        /// subscription whose SUBSCRIBED reply went into the dead connection (every EXCHANGE_RESULT would then carry
        /// one batch more than this client knows). Lists the session's subscriptions (GET_SUBSCRIPTIONS),
        /// unsubscribes those this client does not hold (an Unsubscribe forgets its subscription before sending)
        /// and forgets those the session lacks.
        /// </summary>
        void ReconcileSubscriptions()
        {
            Call(Wire.GetSubscriptions, Wire.Subscriptions, null, true);
            int n = rx.U16("n");
            var listed = new List<int>();
            for (int i = 0; i < n; i++)
            {
                listed.Add((int)rx.U32("sub_id"));
                rx.Str16("population");
                uint count = rx.U32("count");
                for (uint k = 0; k < count; k++) rx.U32("brain_ids");
            }
            rx.ExpectEnd();
            foreach (int id in listed)
            {
                if (subscriptions.Exists(x => x.SubscriptionId == id)) continue;
                try
                {
                    Call(Wire.Unsubscribe, Wire.Ok, () => tx.U32((uint)id), false);
                    ReconciledSubscriptions++;
                }
                catch (ProtocolErrorException e)
                {
                    if (e.Fatal || e.ErrorCode != Wire.ErrNotFound) throw;
                }
            }
            subscriptions.RemoveAll(x => !listed.Contains(x.SubscriptionId));
        }

        // ------------------------------------------------------------------ framing
        void Send()
        {
            int n = tx.Finish();
            if (socket == null && channel == null) throw new IOException("not connected");
            if ((uint)(n - 4) > maxFrameBytes) throw new SpikeforgeException("TOO_LARGE", "request of " + n + " bytes exceeds the server's frame limit " + maxFrameBytes);
            if (channel != null)
            {
                channel.Send(tx.Data, n);
                lastSendTicks = System.Diagnostics.Stopwatch.GetTimestamp();
                return;
            }
            int sent = 0;
            while (sent < n)
            {
                int k = socket.Send(tx.Data, sent, n - sent, SocketFlags.None);
                if (k <= 0) throw new IOException("socket closed while sending");
                sent += k;
            }
            lastSendTicks = System.Diagnostics.Stopwatch.GetTimestamp();
        }

        void ReadExactly(byte[] buf, int off, int n)
        {
            if (socket == null && channel == null) throw new IOException("not connected");
            while (n > 0)
            {
                int k = channel != null ? channel.Receive(buf, off, n) : socket.Receive(buf, off, n, SocketFlags.None);
                if (k <= 0) throw new IOException("connection closed by the server");
                off += k;
                n -= k;
            }
        }

        /// <summary>Reads one frame into <see cref="rx"/>; raises the server's ERROR; checks type and seq.</summary>
        void Receive(ushort expected, string request)
        {
            ReadExactly(header, 0, Wire.HeaderSize);
            uint length;
            ushort type;
            uint rseq;
            fixed (byte* p = header)
            {
                length = *(uint*)p;
                type = *(ushort*)(p + 4);
                rseq = *(uint*)(p + 8);
            }
            if (length < 8 || length > maxFrameBytes + 8u)
                throw new IOException("bad frame length " + length + " from server");
            int payload = (int)length - 8;
            if (rx.Data.Length < payload) rx.Data = new byte[Math.Max(payload, rx.Data.Length * 2)];
            ReadExactly(rx.Data, 0, payload);
            if (settings.ReplyLog != null)
            {
                settings.ReplyLog.Write(header, 0, Wire.HeaderSize);
                settings.ReplyLog.Write(rx.Data, 0, payload);
            }
            rx.Reset(type, rseq, payload);
            if (type == Wire.Error)
            {
                int code = rx.U16("code");
                bool fatal = rx.U8("fatal") == 1;
                string msg = rx.Str16("message");
                if (fatal) CloseSocket();
                throw new ProtocolErrorException(code, fatal, msg, request);
            }
            if (rseq != seq) throw new IOException(request + ": reply seq " + rseq + " does not match request seq " + seq);
            if (type != expected)
                throw new SpikeforgeException("MALFORMED", request + ": expected " + Wire.TypeName(expected) + ", got " + Wire.TypeName(type));
        }

        void CheckOpen()
        {
            if (!open) throw new SpikeforgeException("closed", "session is not open; call Open() first");
        }

        /// <summary>Runs a request whose payload <paramref name="build"/> writes; retried after a resume when
        /// <paramref name="idempotent"/>, otherwise reported as "in flight" after a resume.</summary>
        void Call(ushort type, ushort reply, Action build, bool idempotent)
        {
            CheckOpen();
            string name = Wire.TypeName(type);
            for (int attempt = 0; ; attempt++)
            {
                tx.Begin(type, NextSeq());
                if (build != null) build();
                bool sent = false;
                try
                {
                    Send();
                    sent = true;
                    Receive(reply, name);
                    return;
                }
                catch (Exception e) when (e is IOException || e is SocketException || e is ObjectDisposedException)
                {
                    if (attempt > 0) throw new SpikeforgeException("disconnected", name + ": connection lost again after resuming", e);
                    bool reconciled = Resume(e, sent ? type : (ushort)0);
                    if (reconciled && type == Wire.Unsubscribe) return; // the reconcile took it out
                    if (!sent || idempotent || reconciled) continue; // a reconciled spawn did not happen: send it again
                    throw new SpikeforgeException("in_flight", name + ": the connection dropped with the request in flight; the session " +
                                                  "was resumed but whether " + name + " was applied is unknown (see Layout)", e);
                }
                catch (ProtocolErrorException e)
                {
                    if (e.Fatal) open = false;
                    throw;
                }
            }
        }

        // ------------------------------------------------------------------ circuits and brains
        CircuitInfo[] ReadCircuits()
        {
            int n = rx.U16("n_circuits");
            var res = new CircuitInfo[n];
            for (int i = 0; i < n; i++)
            {
                string name = rx.Str16("name");
                int neurons = (int)rx.U32("neurons");
                var sens = new OrganSpec[rx.U16("n_sensors")];
                for (int k = 0; k < sens.Length; k++) sens[k] = new OrganSpec(rx.Str16("sensor.name"), (int)rx.U32("sensor.channels"), rx.F32("sensor.low"), rx.F32("sensor.high"));
                var acts = new OrganSpec[rx.U16("n_actuators")];
                for (int k = 0; k < acts.Length; k++) acts[k] = new OrganSpec(rx.Str16("actuator.name"), (int)rx.U32("actuator.width"), rx.F32("actuator.low"), rx.F32("actuator.high"));
                var pops = new KeyValuePair<string, int>[rx.U16("n_populations")];
                for (int k = 0; k < pops.Length; k++) pops[k] = new KeyValuePair<string, int>(rx.Str16("population.name"), (int)rx.U32("population.size"));
                res[i] = new CircuitInfo(name, neurons, sens, acts, pops);
            }
            return res;
        }

        public CircuitInfo[] ListCircuits()
        {
            lock (sync)
            {
                Call(Wire.ListCircuits, Wire.Circuits, null, true);
                var res = ReadCircuits();
                rx.ExpectEnd();
                return res;
            }
        }

        public CircuitInfo UploadGenome(string genomeJson)
        {
            lock (sync)
            {
                if (genomeJson == null) throw new ArgumentNullException("genomeJson");
                Call(Wire.UploadGenome, Wire.Circuits, () => tx.Str32(genomeJson), true);
                var res = ReadCircuits();
                rx.ExpectEnd();
                if (res.Length != 1) throw new SpikeforgeException("MALFORMED", "UPLOAD_GENOME: expected one circuit in the reply, got " + res.Length);
                return res[0];
            }
        }

        public long[] Spawn(string circuit, int count)
        {
            lock (sync)
            {
                if (string.IsNullOrEmpty(circuit)) throw new ArgumentException("circuit: must name a circuit");
                if (count < 1 || count > 10000) throw new ArgumentException("count: must be 1..10000 per request, got " + count);
                Call(Wire.Spawn, Wire.Spawned, () => { tx.Str16(circuit, "circuit"); tx.U32((uint)count); }, false);
                int n = (int)rx.U32("count");
                long[] ids = rx.Ids(n, "brain_ids");
                ReadLayout();
                return ids;
            }
        }

        public void Despawn(long[] brainIds)
        {
            lock (sync)
            {
                if (brainIds == null) throw new ArgumentNullException("brainIds");
                Call(Wire.Despawn, Wire.Layout, () => { tx.U32((uint)brainIds.Length); tx.Ids(brainIds, "brainIds"); }, false);
                ReadLayout();
            }
        }

        public void Claim(long[] brainIds)
        {
            lock (sync)
            {
                brainIds = brainIds ?? new long[0];
                Call(Wire.Claim, Wire.Layout, () => { tx.U32((uint)brainIds.Length); tx.Ids(brainIds, "brainIds"); }, false);
                ReadLayout();
            }
        }

        /// <summary>Fetches the layout again (GET_LAYOUT).</summary>
        public void RefreshLayout()
        {
            lock (sync)
            {
                pendingLayoutRefresh = false;
                Call(Wire.GetLayout, Wire.Layout, null, true);
                ReadLayout();
            }
        }

        void ReadLayout()
        {
            uint epoch = rx.U32("epoch");
            var groups = new BrainGroup[rx.U16("n_groups")];
            for (int g = 0; g < groups.Length; g++)
            {
                string circuit = rx.Str16("group.circuit");
                int count = (int)rx.U32("group.count");
                groups[g] = new BrainGroup(circuit, rx.Ids(count, "group.brain_ids"));
            }
            int sensorFloats = (int)rx.U32("sensor_floats");
            int actuatorFloats = (int)rx.U32("actuator_floats");
            var sb = ReadBlocks("sensor");
            var ab = ReadBlocks("actuator");
            rx.ExpectEnd();
            InstallLayout(new WorldLayout(epoch, groups, sb, ab, sensorFloats, actuatorFloats));
        }

        OrganBlock[] ReadBlocks(string what)
        {
            var res = new OrganBlock[rx.U16("n_" + what + "_blocks")];
            for (int i = 0; i < res.Length; i++)
                res[i] = new OrganBlock(rx.Str16(what + ".circuit"), rx.Str16(what + ".organ"), (int)rx.U32(what + ".rows"),
                                        (int)rx.U32(what + ".cols"), (int)rx.U32(what + ".offset"));
            return res;
        }

        /// <summary>Installs a new layout, carrying each surviving brain's sensor and actuator values over.</summary>
        void InstallLayout(WorldLayout next)
        {
            var prev = layout;
            var ns = new float[next.SensorLength];
            var na = new float[next.ActuatorLength];
            Carry(prev, next, prev.Sensors, sensors, ns, true);
            Carry(prev, next, prev.Actuators, actuators, na, false);
            layout = next;
            sensors = ns;
            actuators = na;
        }

        static void Carry(WorldLayout prev, WorldLayout next, OrganBlock[] blocks, float[] src, float[] dst, bool sensor)
        {
            foreach (var b in blocks)
            {
                var grp = Array.Find(prev.Groups, g => g.Circuit == b.Circuit);
                if (grp == null) continue;
                for (int r = 0; r < grp.BrainIds.Length; r++)
                {
                    int off, cnt;
                    bool ok = sensor ? next.TryGetSensor(grp.BrainIds[r], b.Organ, out off, out cnt)
                                     : next.TryGetActuator(grp.BrainIds[r], b.Organ, out off, out cnt);
                    if (ok && cnt == b.Cols && b.Offset + (r + 1) * b.Cols <= src.Length)
                        Array.Copy(src, b.Offset + r * b.Cols, dst, off, cnt);
                }
            }
        }

        // ------------------------------------------------------------------ subscriptions
        public int Subscribe(string population, long[] brainIds)
        {
            lock (sync)
            {
                population = population ?? "";
                var ids = brainIds ?? new long[0];
                Call(Wire.Subscribe, Wire.Subscribed, () => { tx.Str16(population, "population"); tx.U32((uint)ids.Length); tx.Ids(ids, "brainIds"); }, false);
                int id = (int)rx.U32("sub_id");
                rx.ExpectEnd();
                subscriptions.Add(new SpikeBatch(id, population));
                return id;
            }
        }

        public void Unsubscribe(int subscriptionId)
        {
            lock (sync)
            {
                int i = subscriptions.FindIndex(s => s.SubscriptionId == subscriptionId);
                if (i < 0) throw new ArgumentException("subscriptionId: no subscription " + subscriptionId + " in this session");
                // forgotten before sending: a resume with this request in flight unsubscribes it (ReconcileSubscriptions)
                subscriptions.RemoveAt(i);
                Call(Wire.Unsubscribe, Wire.Ok, () => tx.U32((uint)subscriptionId), false);
            }
        }

        public SpikeBatch GetSpikes(int subscriptionId)
        {
            foreach (var s in subscriptions) if (s.SubscriptionId == subscriptionId) return s;
            throw new ArgumentException("subscriptionId: no subscription " + subscriptionId + " in this session");
        }

        // ------------------------------------------------------------------ shared memory
        void OpenSharedMemory(int sensorCapacity, int actuatorCapacity)
        {
            Call(Wire.ShmOpen, Wire.ShmReady, () => { tx.U32((uint)sensorCapacity); tx.U32((uint)actuatorCapacity); }, false);
            string path = rx.Str16("path");
            uint size = rx.U32("size_bytes");
            int so = (int)rx.U32("sensor_offset"), sc = (int)rx.U32("sensor_capacity");
            int ao = (int)rx.U32("actuator_offset"), ac = (int)rx.U32("actuator_capacity");
            rx.ExpectEnd();
            if ((long)so + 4L * sc > size || (long)ao + 4L * ac > size)
                throw new SpikeforgeException("MALFORMED", "SHM_READY: offsets and capacities exceed the block's " + size + " bytes");
            CloseSharedMemory();
            shmFile = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.ReadWrite);
            shmView = shmFile.CreateViewAccessor(0, size, MemoryMappedFileAccess.ReadWrite);
            byte* p = null;
            shmView.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            shmBase = p + shmView.PointerOffset;
            if (shmBase[0] != (byte)'S' || shmBase[4] != (byte)'S' || shmBase[7] != (byte)'1')
                throw new SpikeforgeException("MALFORMED", "shared memory " + path + ": bad magic (expected SPKFSHM1)");
            shmPath = path;
            shmSensorOffset = so; shmSensorCapacity = sc; shmActuatorOffset = ao; shmActuatorCapacity = ac;
        }

        void CloseSharedMemory()
        {
            if (shmView != null)
            {
                shmView.SafeMemoryMappedViewHandle.ReleasePointer();
                shmView.Dispose();
                shmView = null;
            }
            if (shmFile != null) { shmFile.Dispose(); shmFile = null; }
            shmBase = null;
            shmPath = null;
        }

        /// <summary>Exchange counter the server increments after writing actuators into the block.</summary>
        public long SharedMemoryCounter { get { return shmBase == null ? -1 : *(long*)(shmBase + 48); } }

        // ------------------------------------------------------------------ the frame
        /// <summary>
        /// One exchange for all of this session's brains. If the connection drops, the session is
        /// resumed; a request that never fully left is sent again; one the server may have run is
        /// checked against the server's exchange count (STATS), never run twice, and reported with
        /// <see cref="FrameInfo.ReplyLost"/> when its inline reply was lost.
        /// </summary>
        public FrameInfo Exchange(double frameDt)
        {
            lock (sync)
            {
                CheckOpen();
                if (!(frameDt >= 0 && frameDt <= 1)) throw new ArgumentException("frameDt: must be a finite number in 0..1 s, got " + frameDt.ToString(CultureInfo.InvariantCulture));
                for (int i = 0; i < sensors.Length; i++)
                {
                    float v = sensors[i];
                    if (float.IsNaN(v) || float.IsInfinity(v))
                        throw new ArgumentException("sensors[" + i + "]: " + v.ToString(CultureInfo.InvariantCulture) + " is not finite");
                }
                bool shm = settings.UseSharedMemory;
                if (shm && (shmBase == null || sensors.Length > shmSensorCapacity || actuators.Length > shmActuatorCapacity))
                    OpenSharedMemory(Math.Max(1024, sensors.Length * 2), Math.Max(1024, actuators.Length * 2));
                for (int attempt = 0; ; attempt++)
                {
                    uint epoch = layout.Epoch;
                    tx.Begin(Wire.Exchange, NextSeq());
                    tx.U32(epoch);
                    tx.F64(frameDt);
                    tx.U32(shm ? 1u : 0u);
                    if (shm)
                    {
                        tx.U32(0);
                        int n = sensors.Length;
                        fixed (float* src = sensors) Buffer.MemoryCopy(src, shmBase + shmSensorOffset, 4L * shmSensorCapacity, 4L * n);
                    }
                    else
                    {
                        tx.U32((uint)sensors.Length);
                        tx.Floats(sensors, sensors.Length);
                    }
                    bool sent = false;
                    try
                    {
                        Send();
                        sent = true;
                        if (dropAfterSend)
                        {
                            dropAfterSend = false;
                            Thread.Sleep(20);
                            DropConnectionForTest();
                        }
                        if (settings.Wait == ReplyWait.Poll && channel == null) WaitForReply();
                        Receive(Wire.ExchangeResult, "EXCHANGE");
                    }
                    catch (Exception e) when (e is IOException || e is SocketException || e is ObjectDisposedException)
                    {
                        if (attempt > 0) throw new SpikeforgeException("disconnected", "EXCHANGE: connection lost again after resuming", e);
                        long before = exchanges;
                        Resume(e);
                        if (!sent || ServerExchangeCount() == before) continue; // never ran: send it again
                        exchanges++;
                        foreach (var s in subscriptions) { s.Count = 0; s.Truncated = false; }
                        if (shm && layout.Epoch == epoch) ReadSharedActuators();
                        return new FrameInfo { ReplyLost = !shm };
                    }
                    catch (ProtocolErrorException e)
                    {
                        if (e.Fatal) { open = false; throw; }
                        // STALE_LAYOUT: nothing ran; fetch the current layout so the next frame fits it
                        if (e.ErrorCode == 11) RefreshLayout();
                        throw;
                    }
                    return ReadExchangeResult();
                }
            }
        }

        double lastSimUs;

        /// <summary>Poll mode: sleep through most of the expected simulation, then poll with yields.</summary>
        void WaitForReply()
        {
            int sleepMs = (int)((lastSimUs - 1500) / 1000);
            if (sleepMs > 0) Thread.Sleep(sleepMs);
            long deadline = System.Diagnostics.Stopwatch.GetTimestamp() + (long)settings.TimeoutMs * System.Diagnostics.Stopwatch.Frequency / 1000;
            while (socket != null && socket.Available == 0)
            {
                if (socket.Poll(0, SelectMode.SelectError)) return;
                if (System.Diagnostics.Stopwatch.GetTimestamp() > deadline) return; // the blocking read reports the timeout
                Thread.Yield();
            }
        }

        /// <summary>The server's count of this session's exchanges (STATS session.exchanges), or -1.</summary>
        long ServerExchangeCount()
        {
            try
            {
                var doc = Json.ParseObject(Stats());
                object s;
                if (!doc.TryGetValue("session", out s)) return -1;
                var sess = s as Dictionary<string, object>;
                object n;
                if (sess == null || !sess.TryGetValue("exchanges", out n) || !(n is long)) return -1;
                return (long)n;
            }
            catch (JsonFormatException) { return -1; }
        }

        void ReadSharedActuators()
        {
            int n = actuators.Length;
            fixed (float* dst = actuators) Buffer.MemoryCopy(shmBase + shmActuatorOffset, dst, 4L * n, 4L * n);
        }

        FrameInfo ReadExchangeResult()
        {
            uint epoch = rx.U32("epoch");
            var info = new FrameInfo();
            info.Steps = (int)rx.U32("steps");
            info.Alpha = rx.F32("alpha");
            uint flags = rx.U32("flags");
            info.SimMicroseconds = rx.U32("sim_us");
            lastSimUs = info.SimMicroseconds;
            int n = (int)rx.U32("n");
            if (epoch != layout.Epoch) throw new SpikeforgeException("MALFORMED", "EXCHANGE_RESULT: epoch " + epoch + " but the layout is epoch " + layout.Epoch);
            if ((flags & 1) != 0)
            {
                if (n != 0) throw new SpikeforgeException("MALFORMED", "EXCHANGE_RESULT: shared-memory flag with n = " + n);
                ReadSharedActuators();
            }
            else
            {
                if (n != actuators.Length) throw new SpikeforgeException("MALFORMED", "EXCHANGE_RESULT.n: " + n + " actuator floats, the layout has " + actuators.Length);
                rx.Floats(actuators, n, "actuators");
            }
            int batches = rx.U16("n_batches");
            if (batches != subscriptions.Count)
                throw new SpikeforgeException("MALFORMED", "EXCHANGE_RESULT.n_batches: " + batches + " for " + subscriptions.Count + " subscriptions");
            for (int i = 0; i < batches; i++)
            {
                var b = subscriptions[i];
                uint sub = rx.U32("sub_id");
                if (sub != b.SubscriptionId) throw new SpikeforgeException("MALFORMED", "EXCHANGE_RESULT: batch " + i + " is subscription " + sub + ", expected " + b.SubscriptionId);
                b.Truncated = rx.U8("truncated") == 1;
                int count = (int)rx.U32("count");
                rx.Spikes(b, count);
            }
            rx.ExpectEnd();
            exchanges++;
            return info;
        }

        // ------------------------------------------------------------------ learning, snapshots, stats
        public void Reward(long[] brainIds, float[] values)
        {
            lock (sync)
            {
                if (brainIds == null || values == null) throw new ArgumentNullException(brainIds == null ? "brainIds" : "values");
                if (brainIds.Length != values.Length) throw new ArgumentException("values: " + values.Length + " rewards for " + brainIds.Length + " brains");
                for (int i = 0; i < values.Length; i++)
                    if (float.IsNaN(values[i]) || float.IsInfinity(values[i])) throw new ArgumentException("values[" + i + "]: reward must be finite");
                Call(Wire.Reward, Wire.Ok, () => { tx.U32((uint)brainIds.Length); tx.Ids(brainIds, "brainIds"); tx.Floats(values, values.Length); }, false);
                rx.ExpectEnd();
            }
        }

        public void SetLearning(bool enabled)
        {
            lock (sync)
            {
                Call(Wire.SetLearning, Wire.Ok, () => tx.U8(enabled ? (byte)1 : (byte)0), true);
                rx.ExpectEnd();
            }
        }

        public void Save(string name)
        {
            lock (sync)
            {
                Call(Wire.Save, Wire.Ok, () => tx.Str16(name, "name"), true);
                rx.ExpectEnd();
            }
        }

        public void Load(string name)
        {
            lock (sync)
            {
                Call(Wire.Load, Wire.Layout, () => tx.Str16(name, "name"), false);
                ReadLayout();
            }
        }

        // ------------------------------------------------------------------ brain assets
        public byte[] ExportBrain(long brainId, bool withState)
        {
            lock (sync)
            {
                if (brainId < 0 || brainId > uint.MaxValue) throw new ArgumentException("brainId: " + brainId + " is not a brain id");
                Call(Wire.ExportBrain, Wire.BrainAsset, () => { tx.U32((uint)brainId); tx.U8(withState ? (byte)1 : (byte)0); }, true);
                uint id = rx.U32("brain_id");
                uint n = rx.U32("nbytes");
                if (n > int.MaxValue) throw new SpikeforgeException("MALFORMED", "BRAIN_ASSET.nbytes: " + n + " is too large");
                byte[] data = rx.Bytes((int)n, "data");
                rx.ExpectEnd();
                if (id != (uint)brainId) throw new SpikeforgeException("MALFORMED", "BRAIN_ASSET.brain_id: asked for " + brainId + ", got " + id);
                return data;
            }
        }

        public long[] SpawnAsset(byte[] data, bool withState)
        {
            lock (sync)
            {
                if (data == null) throw new ArgumentNullException("data");
                Call(Wire.SpawnAsset, Wire.Spawned, () => { tx.U8(withState ? (byte)1 : (byte)0); tx.U32((uint)data.Length); tx.Bytes(data, data.Length); }, false);
                int n = (int)rx.U32("count");
                long[] ids = rx.Ids(n, "brain_ids");
                ReadLayout();
                return ids;
            }
        }

        public string Stats()
        {
            lock (sync)
            {
                Call(Wire.Stats, Wire.StatsResult, null, true);
                string s = rx.Str32("json");
                rx.ExpectEnd();
                return s;
            }
        }

        /// <summary>Round trip of a small payload (PING/PONG); returns the echoed bytes' count.</summary>
        public int Ping(byte[] payload)
        {
            lock (sync)
            {
                payload = payload ?? new byte[0];
                Call(Wire.Ping, Wire.Pong, () => tx.Bytes(payload, payload.Length), true);
                return rx.End;
            }
        }

        /// <summary>Wall-clock seconds since the last frame was sent (the server's idle timeout counts from the
        /// last frame it received).</summary>
        public double SecondsSinceLastSend
        {
            get { return (System.Diagnostics.Stopwatch.GetTimestamp() - lastSendTicks) / (double)System.Diagnostics.Stopwatch.Frequency; }
        }

        /// <summary>PINGs sent by <see cref="KeepAlive"/> and the keepalive timer (<see cref="StartKeepAlive"/>).</summary>
        public int KeepAlives { get { return keepAlives; } }
        int keepAlives;

        /// <summary>The last exception of a keepalive PING on the timer thread (null: none). The connection is
        /// closed then, and the caller's next request resumes the session.</summary>
        public Exception LastKeepAliveError { get; private set; }

        public bool KeepAlive(double idleSeconds)
        {
            lock (sync)
            {
                // every request here waits for its reply, so nothing is in flight between calls and
                // the PONG is read (type and seq checked) before this returns
                double period = Keepalive.Interval(idleSeconds, idleTimeout);
                if (!open || !(period > 0) || SecondsSinceLastSend < period) return false;
                Ping(null);
                keepAlives++;
                return true;
            }
        }

        public void StartKeepAlive(double idleSeconds)
        {
            lock (sync)
            {
                if (double.IsNaN(idleSeconds) || double.IsInfinity(idleSeconds)) throw new ArgumentException("idleSeconds: must be finite, got " + idleSeconds);
                keepAliveSeconds = idleSeconds;
                if (!(idleSeconds > 0)) { StopKeepAlive(); return; }
                if (keepAliveTimer == null) keepAliveTimer = new Timer(KeepAliveTick, null, Timeout.Infinite, Timeout.Infinite);
                keepAliveTickMs = 0;
                RetimeKeepAlive();
            }
        }

        public void StopKeepAlive()
        {
            lock (sync)
            {
                if (keepAliveTimer == null) return;
                keepAliveTimer.Dispose(); // a tick already queued finds keepAliveTimer null and returns
                keepAliveTimer = null;
            }
        }

        /// <summary>Ticks four times per keepalive period (at most every 250 ms, at least every 10 ms),
        /// so a PING leaves at most a quarter period late; re-timed when WELCOME's idle timeout changes.</summary>
        void RetimeKeepAlive()
        {
            if (keepAliveTimer == null) return;
            double period = Keepalive.Interval(keepAliveSeconds, idleTimeout);
            int tick = (int)Math.Max(10, Math.Min(250, period * 250));
            if (tick == keepAliveTickMs) return;
            keepAliveTickMs = tick;
            keepAliveTimer.Change(tick, tick);
        }

        /// <summary>The timer thread: PING when the session sent nothing for the keepalive period. Never waits
        /// for the caller's thread (a request in progress resets the idle time anyway) and never reconnects
        /// (a resume replaces the layout and arrays the caller's thread may be reading): on a failure it closes
        /// the connection and the caller's next request resumes the session.</summary>
        void KeepAliveTick(object state)
        {
            if (!Monitor.TryEnter(sync)) return;
            try
            {
                if (keepAliveTimer == null || !open || (socket == null && channel == null)) return;
                double period = Keepalive.Interval(keepAliveSeconds, idleTimeout);
                if (!(period > 0) || SecondsSinceLastSend < period) return;
                tx.Begin(Wire.Ping, NextSeq());
                Send();
                Receive(Wire.Pong, "PING");
                keepAlives++;
            }
            catch (Exception e)
            {
                LastKeepAliveError = e;
                CloseSocket();
            }
            finally
            {
                Monitor.Exit(sync);
            }
        }

        bool dropAfterSend;

        /// <summary>Test hook: the next EXCHANGE drops the connection right after its request left,
        /// as if the network failed while the server was running it.</summary>
        public void DropAfterNextSendForTest() { dropAfterSend = true; }

        /// <summary>Test hook: drops the TCP connection without BYE, as a crash or network fault would.</summary>
        public void DropConnectionForTest()
        {
            lock (sync)
            {
                if (socket != null) socket.Shutdown(SocketShutdown.Both);
                CloseSocket();
            }
        }

        public void Close(bool keepBrains)
        {
            lock (sync)
            {
                StopKeepAlive();
                if (!open) { CloseSharedMemory(); CloseSocket(); return; }
                open = false;
                try
                {
                    tx.Begin(Wire.Bye, NextSeq());
                    tx.U8(keepBrains ? (byte)1 : (byte)0);
                    Send();
                    Receive(Wire.Ok, "BYE");
                }
                catch (Exception e) when (e is IOException || e is SocketException || e is SpikeforgeException || e is ObjectDisposedException)
                {
                    // the server is gone or closing: nothing more to end
                }
                finally
                {
                    CloseSharedMemory();
                    CloseSocket();
                }
            }
        }

        public void Close() { Close(false); }
        public void Dispose() { Close(false); }
    }
}
