// Starts `spikeforge serve` as a child process and reads its ready line
// (PROTOCOL.md section 2: `spikeforge-serve ready {"host": ..., "port": ..., "token_file": ...}`).
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Text;
using System.Threading;

namespace Spikeforge.Client
{
    /// <summary>How to launch the server.</summary>
    public sealed class ServerLaunchSettings
    {
        /// <summary>Python interpreter that has spikeforge installed (e.g. the project's .venv/bin/python).</summary>
        public string PythonExecutable = "python3";
        /// <summary>Genome files or folders the server loads at start (--genome).</summary>
        public string[] Genomes = new string[0];
        /// <summary>Token file to write; null = a fresh file in a temp folder.</summary>
        public string TokenFile;
        public string SnapshotDir;
        public string Backend = "auto";
        public int Seed = 0;
        public double Dt = 0.001;
        public int MaxSubsteps = 64;
        /// <summary>Further command-line arguments.</summary>
        public string[] ExtraArgs = new string[0];
        /// <summary>How long to wait for the ready line (ms).</summary>
        public int StartTimeoutMs = 60000;
    }

    /// <summary>A running `spikeforge serve` child process (killed on Dispose).</summary>
    public sealed class ServerProcess : IDisposable
    {
        public readonly Process Process;
        public readonly string Host;
        public readonly int Port;
        public readonly string TokenFile;
        readonly StringBuilder stderr = new StringBuilder();

        ServerProcess(Process p, string host, int port, string tokenFile)
        {
            Process = p; Host = host; Port = port; TokenFile = tokenFile;
        }

        /// <summary>The server's log so far (stderr).</summary>
        public string Log { get { lock (stderr) return stderr.ToString(); } }

        /// <summary>Protocol settings that reach this server.</summary>
        public ProtocolSettings Connection(bool sharedMemory)
        {
            return new ProtocolSettings { Host = Host, Port = Port, TokenFile = TokenFile, UseSharedMemory = sharedMemory };
        }

        static string Quote(string s)
        {
            return "\"" + s.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
        }

        /// <summary>Starts the server on a free loopback port and waits for its ready line.</summary>
        /// <exception cref="SpikeforgeException">The interpreter is missing, the server exits, or it is not ready in time.</exception>
        public static ServerProcess Start(ServerLaunchSettings s)
        {
            if (s == null) throw new ArgumentNullException("s");
            string tmp = Path.Combine(Path.GetTempPath(), "spikeforge-unity-" + Guid.NewGuid().ToString("N").Substring(0, 8));
            Directory.CreateDirectory(tmp);
            string token = s.TokenFile ?? Path.Combine(tmp, "server.token");
            var args = new List<string> { "-m", "spikeforge.cli", "serve", "--port", "0", "--token-file", token,
                "--backend", s.Backend, "--seed", s.Seed.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--dt", s.Dt.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
                "--max-substeps", s.MaxSubsteps.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--snapshot-dir", s.SnapshotDir ?? Path.Combine(tmp, "snapshots") };
            foreach (var g in s.Genomes) { args.Add("--genome"); args.Add(g); }
            args.AddRange(s.ExtraArgs);
            var sb = new StringBuilder();
            foreach (var a in args) { if (sb.Length > 0) sb.Append(' '); sb.Append(Quote(a)); }
            var psi = new ProcessStartInfo(s.PythonExecutable, sb.ToString())
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                CreateNoWindow = true,
            };
            psi.EnvironmentVariables["PYTHONUNBUFFERED"] = "1";
            Process p;
            try { p = Process.Start(psi); }
            catch (System.ComponentModel.Win32Exception e)
            {
                throw new SpikeforgeException("launch", "PythonExecutable: cannot start " + s.PythonExecutable + ": " + e.Message, e);
            }
            string ready = null;
            var got = new ManualResetEvent(false);
            var log = new StringBuilder();
            p.ErrorDataReceived += (o, e) => { if (e.Data != null) lock (log) log.AppendLine(e.Data); };
            p.OutputDataReceived += (o, e) =>
            {
                if (e.Data != null && ready == null && e.Data.StartsWith("spikeforge-serve ready ", StringComparison.Ordinal))
                {
                    ready = e.Data.Substring("spikeforge-serve ready ".Length);
                    got.Set();
                }
            };
            p.BeginErrorReadLine();
            p.BeginOutputReadLine();
            var sw = Stopwatch.StartNew();
            while (!got.WaitOne(50))
            {
                if (p.HasExited || sw.ElapsedMilliseconds > s.StartTimeoutMs)
                {
                    if (!p.HasExited) p.Kill();
                    string why = p.HasExited ? "exited with code " + p.ExitCode : "was not ready within " + s.StartTimeoutMs + " ms";
                    lock (log) throw new SpikeforgeException("launch", "spikeforge serve " + why + ":\n" + log);
                }
            }
            var doc = Json.ParseObject(ready);
            var srv = new ServerProcess(p, Json.GetString(doc, "host", "ready"), (int)Json.GetLong(doc, "port", "ready"),
                                        Json.GetString(doc, "token_file", "ready"));
            p.ErrorDataReceived += (o, e) => { if (e.Data != null) lock (srv.stderr) srv.stderr.AppendLine(e.Data); };
            lock (log) lock (srv.stderr) srv.stderr.Append(log);
            return srv;
        }

        /// <summary>Stops the server (terminates the process) and waits for it.</summary>
        public void Dispose()
        {
            try
            {
                if (!Process.HasExited && Environment.OSVersion.Platform == PlatformID.Unix)
                {
                    // SIGTERM lets the server write its final snapshot and unlink its shared memory
                    using (var k = System.Diagnostics.Process.Start(new ProcessStartInfo("kill", "-TERM " + Process.Id) { UseShellExecute = false }))
                        k.WaitForExit(5000);
                    Process.WaitForExit(20000);
                }
                if (!Process.HasExited)
                {
                    Process.Kill();
                    Process.WaitForExit(10000);
                }
            }
            catch (System.ComponentModel.Win32Exception) { }
            catch (InvalidOperationException) { }
            Process.Dispose();
        }
    }
}
