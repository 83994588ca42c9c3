// In-process mode: CPython embedded through pythonnet (Python.Runtime), running the SDK's
// server core (spikeforge.ipc.InProcessServer) in this process. The session is the TCP
// session (ProtocolSession) over a frame channel instead of a socket: every request frame
// is handed to the core with ONE Python call (raw pointers in and out, no per-byte
// marshalling) and the reply frames are decoded by the same C# code as over TCP. So the
// semantics are the server's exactly: sessions, ownership, limits, per-session clock,
// per-brain learning, errors (as ProtocolErrorException), snapshots.
using System;
using System.IO;
using Python.Runtime;

namespace Spikeforge.Client
{
    /// <summary>A spikeforge server core running inside this process (see file header).</summary>
    public sealed unsafe class InProcessSession : ISpikeforgeSession
    {
        static readonly object InitLock = new object();
        static bool initialised;
        static IntPtr mainThreadState;
        static bool shutDown;

        readonly InProcessSettings settings;
        PyObject server;
        ProtocolSession session;
        bool open;

        public InProcessSession(InProcessSettings settings)
        {
            if (settings == null) throw new ArgumentNullException("settings");
            if (settings.Python == null) throw new ArgumentException("settings.Python: resolve it with PythonEnvironment.FromExecutable");
            if (!(settings.Dt > 0)) throw new ArgumentException("settings.Dt: must be > 0 s, got " + settings.Dt);
            if (settings.MaxSubsteps < 1) throw new ArgumentException("settings.MaxSubsteps: must be >= 1, got " + settings.MaxSubsteps);
            this.settings = settings;
        }

        public string Mode { get { return "inprocess"; } }
        public bool IsOpen { get { return open && session.IsOpen; } }
        public double Dt { get { return session == null ? 0 : session.Dt; } }
        public int MaxSubsteps { get { return session == null ? 0 : session.MaxSubsteps; } }
        public string ServerVersion { get { return session == null ? "" : session.ServerVersion; } }
        public WorldLayout Layout { get { return session == null ? WorldLayout.Empty : session.Layout; } }
        public float[] Sensors { get { return session == null ? new float[0] : session.Sensors; } }
        public float[] Actuators { get { return session == null ? new float[0] : session.Actuators; } }
        public long Exchanges { get { return session == null ? 0 : session.Exchanges; } }

        /// <summary>Starts CPython once per process (pythonnet cannot restart it), then releases the GIL.</summary>
        static void EnsureEngine(InProcessSettings s)
        {
            lock (InitLock)
            {
                if (shutDown)
                    throw new SpikeforgeException("python", "the embedded Python was shut down (ShutdownPython); CPython cannot be restarted in this process");
                if (initialised) return;
                if (!File.Exists(s.Python.PythonDll))
                    throw new SpikeforgeException("python", "settings.Python.PythonDll: no file at " + s.Python.PythonDll);
                Runtime.PythonDLL = s.Python.PythonDll;
                PythonEngine.PythonHome = s.Python.PythonHome;
                PythonEngine.Initialize();
                using (var sys = Py.Import("sys"))
                using (var site = Py.Import("site"))
                using (var path = sys.GetAttr("path"))
                {
                    foreach (var p in s.Python.SysPath)
                        using (var ps = new PyString(p))
                            using (var has = path.InvokeMethod("__contains__", ps))
                                if (!has.IsTrue()) path.InvokeMethod("append", ps).Dispose();
                    foreach (var d in s.Python.SiteDirs)
                        using (var ds = new PyString(d)) site.InvokeMethod("addsitedir", ds).Dispose();
                    for (int i = s.ExtraPaths.Length - 1; i >= 0; i--)
                        using (var zero = new PyInt(0))
                        using (var es = new PyString(s.ExtraPaths[i]))
                            path.InvokeMethod("insert", zero, es).Dispose();
                }
                mainThreadState = PythonEngine.BeginAllowThreads();
                initialised = true;
            }
        }

        /// <summary>
        /// Ends the embedded interpreter, e.g. at application exit (close every session first).
        /// CPython cannot be started again in this process afterwards.
        /// </summary>
        public static void ShutdownPython()
        {
            lock (InitLock)
            {
                if (!initialised || shutDown) return;
                PythonEngine.EndAllowThreads(mainThreadState);
                PythonEngine.Shutdown();
                shutDown = true;
            }
        }

        public void Open()
        {
            if (open) return;
            EnsureEngine(settings);
            string token = Guid.NewGuid().ToString("N");
            using (Py.GIL())
            {
                try
                {
                    using (var ipc = Py.Import("spikeforge.ipc"))
                    using (var cls = ipc.GetAttr("InProcessServer"))
                    using (var none = new PyTuple())
                    using (var kw = new PyDict())
                    {
                        kw["token"] = new PyString(token);
                        kw["snapshot_dir"] = new PyString(settings.SnapshotDir);
                        kw["dt"] = new PyFloat(settings.Dt);
                        kw["backend"] = new PyString(settings.Backend);
                        kw["seed"] = new PyInt(settings.Seed);
                        kw["max_substeps"] = new PyInt(settings.MaxSubsteps);
                        var files = new PyList();
                        foreach (var g in settings.GenomePaths ?? new string[0])
                            using (var gs = new PyString(g)) files.Append(gs);
                        kw["genome_files"] = files;
                        server = cls.Invoke(none, kw);
                    }
                }
                catch (PythonException e)
                {
                    throw new SpikeforgeException("python", "in-process server failed to start: " + e.Message, e);
                }
            }
            var protocol = new ProtocolSettings
            {
                Token = token, ClientName = "spikeforge-unity-inprocess", Reconnect = false, ReplyLog = settings.ReplyLog,
            };
            session = new ProtocolSession(protocol, () => new PythonChannel(server), "inprocess");
            try
            {
                session.Open();
            }
            catch
            {
                DisposeServer();
                session = null;
                throw;
            }
            open = true;
        }

        ProtocolSession Session
        {
            get
            {
                if (!open) throw new SpikeforgeException("closed", "session is not open; call Open() first");
                return session;
            }
        }

        public CircuitInfo[] ListCircuits() { return Session.ListCircuits(); }
        public CircuitInfo UploadGenome(string genomeJson) { return Session.UploadGenome(genomeJson); }
        public long[] Spawn(string circuit, int count) { return Session.Spawn(circuit, count); }
        public void Despawn(long[] brainIds) { Session.Despawn(brainIds); }
        public void Claim(long[] brainIds) { Session.Claim(brainIds); }
        public int Subscribe(string population, long[] brainIds) { return Session.Subscribe(population, brainIds); }
        public void Unsubscribe(int subscriptionId) { Session.Unsubscribe(subscriptionId); }
        public SpikeBatch GetSpikes(int subscriptionId) { return Session.GetSpikes(subscriptionId); }
        public FrameInfo Exchange(double frameDt) { return Session.Exchange(frameDt); }
        public void Reward(long[] brainIds, float[] values) { Session.Reward(brainIds, values); }
        public void SetLearning(bool enabled) { Session.SetLearning(enabled); }
        public void Save(string name) { Session.Save(name); }
        public void Load(string name) { Session.Load(name); }
        public string Stats() { return Session.Stats(); }
        /// <summary>0 once open: the in-process core has no idle timeout (no watchdog drops a channel).</summary>
        public double IdleTimeout { get { return session == null ? -1 : session.IdleTimeout; } }
        /// <summary>Always 0: nothing to keep alive in process.</summary>
        public int KeepAlives { get { return 0; } }
        /// <summary>No idle timeout in process: nothing to keep alive (always false).</summary>
        public bool KeepAlive(double idleSeconds) { return false; }
        /// <summary>No idle timeout in process: no timer is started (so no Python call ever runs off the
        /// caller's thread).</summary>
        public void StartKeepAlive(double idleSeconds) { }
        /// <summary>Nothing runs in process (see <see cref="StartKeepAlive"/>).</summary>
        public void StopKeepAlive() { }
        public byte[] ExportBrain(long brainId, bool withState) { return Session.ExportBrain(brainId, withState); }
        public long[] SpawnAsset(byte[] data, bool withState) { return Session.SpawnAsset(data, withState); }

        public void Close(bool keepBrains)
        {
            if (!open) return;
            open = false;
            try
            {
                session.Close(keepBrains);
            }
            finally
            {
                session = null;
                DisposeServer();
            }
        }

        void DisposeServer()
        {
            if (server == null) return;
            using (Py.GIL())
            {
                try { server.InvokeMethod("close").Dispose(); }
                catch (PythonException) { /* closing: nothing left to report to */ }
                server.Dispose();
                server = null;
            }
        }

        public void Dispose() { Close(false); }

        /// <summary>
        /// One connection to the in-process server: request bytes go to
        /// <c>InProcessConnection.handle_frame_at</c> by pointer, the replies come back into
        /// <see cref="buffer"/> the same way and are read from there.
        /// </summary>
        sealed class PythonChannel : IFrameChannel
        {
            PyObject conn;
            PyObject handle;
            byte[] buffer = new byte[1 << 16];
            int start, end;

            public PythonChannel(PyObject server)
            {
                using (Py.GIL())
                {
                    try
                    {
                        using (var name = new PyString("unity"))
                            conn = server.InvokeMethod("connect", name);
                        handle = conn.GetAttr("handle_frame_at");
                    }
                    catch (PythonException e)
                    {
                        throw new SpikeforgeException("python", "in-process connect: " + e.Message, e);
                    }
                }
            }

            public void Send(byte[] data, int count)
            {
                if (conn == null) throw new IOException("in-process connection closed");
                if (start == end) start = end = 0;
                using (Py.GIL())
                {
                    try
                    {
                        long n;
                        fixed (byte* src = data)
                        fixed (byte* dst = buffer)
                            n = Call(handle, (long)src, count, (long)(dst + end), buffer.Length - end);
                        if (n < 0)
                        {
                            Reserve((int)(-n));
                            using (var take = conn.GetAttr("take_replies_at"))
                            fixed (byte* dst = buffer)
                                n = Call(take, (long)(dst + end), buffer.Length - end);
                        }
                        end += (int)n;
                    }
                    catch (PythonException e)
                    {
                        throw new SpikeforgeException("python", "in-process server: " + e.Message, e);
                    }
                }
            }

            static long Call(PyObject fn, params long[] args)
            {
                var py = new PyObject[args.Length];
                try
                {
                    for (int i = 0; i < args.Length; i++) py[i] = new PyInt(args[i]);
                    using (var r = fn.Invoke(py)) return r.As<long>();
                }
                finally
                {
                    foreach (var p in py) if (p != null) p.Dispose();
                }
            }

            void Reserve(int extra)
            {
                if (buffer.Length - end >= extra) return;
                int live = end - start;
                var next = new byte[Math.Max(live + extra, buffer.Length * 2)];
                Buffer.BlockCopy(buffer, start, next, 0, live);
                start = 0;
                end = live;
                buffer = next;
            }

            public int Receive(byte[] dest, int offset, int count)
            {
                int k = Math.Min(count, end - start);
                if (k <= 0) return 0;
                Buffer.BlockCopy(buffer, start, dest, offset, k);
                start += k;
                return k;
            }

            public void Dispose()
            {
                if (conn == null) return;
                using (Py.GIL())
                {
                    try { conn.InvokeMethod("close").Dispose(); }
                    catch (PythonException) { /* the server is closing anyway */ }
                    handle.Dispose();
                    conn.Dispose();
                }
                handle = null;
                conn = null;
            }
        }
    }
}
