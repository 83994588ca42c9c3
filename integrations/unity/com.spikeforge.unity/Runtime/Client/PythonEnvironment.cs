// Where the Python that the in-process mode embeds lives. Kept in the client core (no
// pythonnet reference) so settings UIs and tests can resolve it without loading Python.
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;

namespace Spikeforge.Client
{
    /// <summary>
    /// The paths needed to embed CPython: the shared library, PYTHONHOME and sys.path.
    /// A pyenv or venv Python needs the FULL path of its libpython (a bare name may load the
    /// system's library of another patch version) and PythonHome (without it initialisation crashes).
    /// </summary>
    public sealed class PythonEnvironment
    {
        /// <summary>Full path of libpython3.X.so.1.0 / python3X.dll / libpython3.X.dylib.</summary>
        public string PythonDll;
        /// <summary>sys.base_prefix of the interpreter.</summary>
        public string PythonHome;
        /// <summary>sys.path of the (virtual-env) interpreter, site-packages included.</summary>
        public string[] SysPath = new string[0];
        /// <summary>site-packages folders whose .pth files must be processed (editable installs).</summary>
        public string[] SiteDirs = new string[0];
        /// <summary>Python version, e.g. "3.11.7".</summary>
        public string Version;

        const string Probe =
            "import json, site, sys, sysconfig, os\n" +
            "libdir = sysconfig.get_config_var('LIBDIR') or ''\n" +
            "name = sysconfig.get_config_var('INSTSONAME') or sysconfig.get_config_var('LDLIBRARY') or ''\n" +
            "print(json.dumps({'dll': os.path.join(libdir, name), 'home': sys.base_prefix, 'path': [p for p in sys.path if p],\n" +
            "  'site': [p for p in site.getsitepackages() if os.path.isdir(p)], 'version': sys.version.split()[0]}))\n";

        /// <summary>
        /// Asks a Python executable (e.g. the project's <c>.venv/bin/python</c>) for its paths.
        /// </summary>
        /// <exception cref="SpikeforgeException">The executable is missing, fails, or has no shared libpython.</exception>
        public static PythonEnvironment FromExecutable(string pythonExecutable)
        {
            if (string.IsNullOrEmpty(pythonExecutable))
                throw new ArgumentException("pythonExecutable: must name a Python interpreter");
            if (!File.Exists(pythonExecutable))
                throw new SpikeforgeException("python", "pythonExecutable: no file at " + pythonExecutable);
            // Not -I: isolated mode would hide a venv's site-packages from site.getsitepackages().
            var psi = new ProcessStartInfo(pythonExecutable, "-c \"" + Probe.Replace("\"", "\\\"") + "\"")
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                CreateNoWindow = true,
            };
            string stdout, stderr;
            using (var p = Process.Start(psi))
            {
                stdout = p.StandardOutput.ReadToEnd();
                stderr = p.StandardError.ReadToEnd();
                p.WaitForExit();
                if (p.ExitCode != 0)
                    throw new SpikeforgeException("python", pythonExecutable + " failed (exit " + p.ExitCode + "): " + stderr.Trim());
            }
            var doc = Json.ParseObject(stdout.Trim());
            var env = new PythonEnvironment
            {
                PythonDll = Json.GetString(doc, "dll", "probe"),
                PythonHome = Json.GetString(doc, "home", "probe"),
                Version = Json.GetString(doc, "version", "probe"),
                SysPath = Strings(Json.GetList(doc, "path", "probe")),
                SiteDirs = Strings(Json.GetList(doc, "site", "probe")),
            };
            if (!File.Exists(env.PythonDll))
                throw new SpikeforgeException("python", "python: " + pythonExecutable + " has no shared library at " + env.PythonDll +
                    " (build Python with --enable-shared to embed it)");
            return env;
        }

        static string[] Strings(List<object> l)
        {
            var res = new string[l.Count];
            for (int i = 0; i < res.Length; i++) res[i] = (string)l[i];
            return res;
        }
    }
}
