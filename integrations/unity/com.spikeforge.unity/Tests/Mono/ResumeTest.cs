// Reconcile after a resume (integrations/PROTOCOL.md section 6) against a real `spikeforge serve`
// reached through tests' ReplyDropper proxy, which swallows the second SPAWNED reply and closes
// the connection: the server wrote that reply, so its session keeps the brains the client never
// learned about. The session resumes, despawns them, sends the SPAWN again, and Spawn returns
// normally; the session then owns exactly the brains the client knows.
// With --scenario subscribe (protocol 1.2) the proxy swallows the second SUBSCRIBED reply instead:
// the session resumes, unsubscribes the subscription it never learned about (GET_SUBSCRIPTIONS),
// sends the SUBSCRIBE again, and the exchanges' batches are the client's subscriptions again.
// Run: mono ResumeTest.exe --port PROXY_PORT --token-file F --circuit probe [--scenario spawn|subscribe]
// Prints "RESUME_STATS <STATS json>" for the Python side and "resume: N passed, 0 failed".
using System;
using System.Collections.Generic;
using System.Globalization;
using Spikeforge.Client;

namespace Spikeforge.Tests
{
    public static class ResumeTest
    {
        public static int Main(string[] args)
        {
            try
            {
                Run(args);
                Console.WriteLine("resume: " + Check.Passed + " passed, 0 failed");
                return 0;
            }
            catch (Exception e)
            {
                Console.WriteLine(e.ToString());
                Console.WriteLine("resume: " + Check.Passed + " passed, 1 failed");
                return 1;
            }
        }

        static long[] Ids(WorldLayout layout)
        {
            var ids = new List<long>();
            foreach (var g in layout.Groups) ids.AddRange(g.BrainIds);
            ids.Sort();
            return ids.ToArray();
        }

        static void Run(string[] args)
        {
            var settings = new ProtocolSettings
            {
                Port = int.Parse(Check.Arg(args, "--port", null), CultureInfo.InvariantCulture),
                TokenFile = Check.Arg(args, "--token-file", null),
                ClientName = "unity-resume",
                TimeoutMs = 60000,
            };
            string circuit = Check.Arg(args, "--circuit", "probe");
            if (Check.Arg(args, "--scenario", "spawn") == "subscribe")
            {
                RunSubscribe(settings, circuit);
                return;
            }
            using (var s = new ProtocolSession(settings))
            {
                s.Open();
                long[] first = s.Spawn(circuit, 3);
                // the proxy swallows this reply and closes: resume, reconcile, send again
                long[] second = s.Spawn(circuit, 5);
                Check.Equal(1, s.Resumes, "resumed once");
                Check.Equal(5, s.ReconciledBrains, "the lost spawn's brains were despawned");
                Check.Equal(5, second.Length, "the spawn sent again returned its brains");
                var both = new List<long>(first);
                both.AddRange(second);
                both.Sort();
                long[] listed = Ids(s.Layout);
                Check.Equal(both.Count, listed.Length, "layout brains = the brains the client knows");
                for (int i = 0; i < listed.Length; i++) Check.Equal(both[i], listed[i], "layout brain " + i);
                var info = s.Exchange(0.004);
                Check.True(info.Steps == 4, "an exchange after the resume runs");
                Console.WriteLine("RESUME_STATS " + s.Stats().Replace("\n", " "));
            }
        }

        static void RunSubscribe(ProtocolSettings settings, string circuit)
        {
            using (var s = new ProtocolSession(settings))
            {
                s.Open();
                s.Spawn(circuit, 3);
                int first = s.Subscribe("out", null);
                // the proxy swallows this reply and closes: resume, reconcile, send again
                int second = s.Subscribe("", null);
                Check.Equal(1, s.Resumes, "resumed once");
                Check.Equal(1, s.ReconciledSubscriptions, "the lost SUBSCRIBE's subscription was unsubscribed");
                Check.True(second != first && second > first + 1, "the SUBSCRIBE sent again got a new id");
                var info = s.Exchange(0.004); // counts the batches: one per known subscription
                Check.True(info.Steps == 4, "an exchange after the resume runs");
                Check.Equal(first, s.GetSpikes(first).SubscriptionId, "first subscription kept");
                Check.Equal(second, s.GetSpikes(second).SubscriptionId, "second subscription known");
                s.Unsubscribe(first);
                s.Exchange(0.004);
                Console.WriteLine("RESUME_STATS " + s.Stats().Replace("\n", " "));
            }
        }
    }
}
