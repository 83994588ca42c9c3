// Picks the session implementation from a setting, so a game switches transport without code
// changes. The in-process session lives in its own assembly (it needs pythonnet's
// Python.Runtime.dll); it is found by reflection so this core never references pythonnet.
using System;

namespace Spikeforge.Client
{
    /// <summary>Settings of an embedded world.</summary>
    public sealed class InProcessSettings
    {
        /// <summary>Resolved interpreter paths (see <see cref="PythonEnvironment.FromExecutable"/>).</summary>
        public PythonEnvironment Python;
        /// <summary>Extra folders put at the front of sys.path (e.g. the SDK's <c>sdk/</c> folder).</summary>
        public string[] ExtraPaths = new string[0];
        /// <summary>Fixed step (s).</summary>
        public double Dt = 0.001;
        /// <summary>"auto", "numpy", "native" or "gpu".</summary>
        public string Backend = "auto";
        public int Seed = 0;
        public int MaxSubsteps = 64;
        /// <summary>Folder for Save/Load snapshots (names as in the protocol).</summary>
        public string SnapshotDir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "spikeforge-snapshots");
        /// <summary>Genome files and folders of <c>*.json</c> genomes known from the start (as <c>spikeforge serve --genome</c>).</summary>
        public string[] GenomePaths = new string[0];
        /// <summary>When set, every reply frame is appended here (see <see cref="ProtocolSettings.ReplyLog"/>).</summary>
        public System.IO.Stream ReplyLog;
    }

    /// <summary>How a game reaches spikeforge.</summary>
    public enum SessionMode
    {
        /// <summary>`spikeforge serve` over TCP, arrays inline.</summary>
        Tcp,
        /// <summary>`spikeforge serve` over TCP, arrays in a shared-memory block (same machine).</summary>
        SharedMemory,
        /// <summary>CPython embedded in this process through pythonnet.</summary>
        InProcess,
    }

    public static class SessionFactory
    {
        public const string InProcessTypeName = "Spikeforge.Client.InProcessSession";

        /// <summary>Creates (does not open) a session of the given mode.</summary>
        /// <exception cref="SpikeforgeException">InProcess was asked for but the pythonnet assembly is not in the build.</exception>
        public static ISpikeforgeSession Create(SessionMode mode, ProtocolSettings protocol, InProcessSettings inProcess)
        {
            switch (mode)
            {
                case SessionMode.Tcp:
                case SessionMode.SharedMemory:
                    if (protocol == null) throw new ArgumentNullException("protocol");
                    protocol.UseSharedMemory = mode == SessionMode.SharedMemory;
                    return new ProtocolSession(protocol);
                case SessionMode.InProcess:
                    if (inProcess == null) throw new ArgumentNullException("inProcess");
                    Type t = FindType(InProcessTypeName);
                    if (t == null)
                        throw new SpikeforgeException("inprocess", "mode InProcess: the Spikeforge.InProcess assembly is not loaded; add " +
                            "Python.Runtime.dll to the project and define SPIKEFORGE_PYTHONNET (see the package README)");
                    return (ISpikeforgeSession)Activator.CreateInstance(t, inProcess);
                default:
                    throw new ArgumentException("mode: unknown session mode " + mode);
            }
        }

        /// <summary>
        /// Ends the embedded CPython of InProcess sessions (<c>InProcessSession.ShutdownPython</c>), if that
        /// assembly is loaded and Python was started; otherwise does nothing. Call it once, at application exit,
        /// after closing every session and on the thread that opened the first InProcess session: left to
        /// pythonnet's own process-exit handler, the shutdown can abort the process (see the package README).
        /// </summary>
        public static void ShutdownInProcessPython()
        {
            Type t = FindType(InProcessTypeName);
            if (t == null) return;
            var m = t.GetMethod("ShutdownPython", System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static);
            if (m == null) return;
            try
            {
                m.Invoke(null, null);
            }
            catch (System.Reflection.TargetInvocationException e)
            {
                throw e.InnerException ?? e;
            }
        }

        static Type FindType(string name)
        {
            foreach (var asm in AppDomain.CurrentDomain.GetAssemblies())
            {
                Type t = asm.GetType(name, false);
                if (t != null) return t;
            }
            return null;
        }
    }
}
