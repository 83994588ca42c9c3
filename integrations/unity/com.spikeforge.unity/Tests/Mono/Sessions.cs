// Builds a session of the requested mode from command-line arguments (Mono test programs).
using System;
using System.Globalization;
using Spikeforge.Client;

namespace Spikeforge.Tests
{
    public static class Sessions
    {
        public static ISpikeforgeSession Create(string mode, string[] args)
        {
            if (mode == "tcp" || mode == "shm")
                return new ProtocolSession(new ProtocolSettings
                {
                    Host = Check.Arg(args, "--host", "127.0.0.1"),
                    Port = int.Parse(Check.Arg(args, "--port", null), CultureInfo.InvariantCulture),
                    TokenFile = Check.Arg(args, "--token-file", null),
                    ClientName = "unity-" + mode,
                    UseSharedMemory = mode == "shm",
                    Wait = Check.Arg(args, "--wait", "block") == "poll" ? ReplyWait.Poll : ReplyWait.Block,
                });
            if (mode == "inprocess")
                return new InProcessSession(new InProcessSettings
                {
                    Python = PythonEnvironment.FromExecutable(Check.Arg(args, "--python", null)),
                    Backend = Check.Arg(args, "--backend", "native"),
                    Seed = int.Parse(Check.Arg(args, "--seed", "0"), CultureInfo.InvariantCulture),
                });
            throw new ArgumentException("--mode: expected tcp, shm or inprocess, got " + mode);
        }
    }
}
