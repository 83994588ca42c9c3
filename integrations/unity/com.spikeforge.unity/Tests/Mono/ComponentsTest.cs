// COMPILE CHECK + STUB RUN, NOT A UNITY RUN: the package's components compiled against the
// UnityEngine stub (Tests/UnityEngineStub) and driven by a hand-written game loop that calls
// the Unity messages in Unity's order. It proves the components compile with C# 7.2 and that
// their logic (batched spawn, one exchange per step, sensors, actuators, spike events,
// rewards, re-entrancy guard, despawn) works against a real `spikeforge serve`.
// Run: mono ComponentsTest.exe --port P --token-file F --genome G
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using Spikeforge.Client;
using UnityEngine;

namespace Spikeforge.Tests
{
    public static class ComponentsTest
    {
        public static int Main(string[] args)
        {
            try
            {
                Run(args);
                Console.WriteLine("components: " + Check.Passed + " passed, 0 failed");
                return 0;
            }
            catch (Exception e)
            {
                Console.WriteLine(e.ToString());
                foreach (var m in UnityEngine.Debug.Messages) Console.WriteLine("  unity log: " + m);
                Console.WriteLine("components: " + Check.Passed + " passed, 1 failed");
                return 1;
            }
        }

        static void Run(string[] args)
        {
            int port = int.Parse(Check.Arg(args, "--port", null), CultureInfo.InvariantCulture);
            string token = Check.Arg(args, "--token-file", null);
            string genome = File.ReadAllText(Check.Arg(args, "--genome", null));

            var worldGo = new GameObject("World");
            worldGo.SetActive(false);
            var world = worldGo.AddComponent<SpikeforgeWorld>();
            world.Configure(SpikeforgeWorld.ConnectionKind.ConnectToServer, true, "", token, port, SpikeforgeWorld.StepMode.FixedUpdate);
            worldGo.SetActive(true); // OnEnable opens the session
            Check.True(world.Session != null && world.Session.IsOpen, "world opened its session");
            Check.Equal("shm", world.Session.Mode, "shared memory mode");

            var food = new GameObject("Food");
            food.transform.position = new Vector3(5, 0, 5);
            food.AddComponent<Collider>().radius = 1f;

            var agents = new List<BrainAgent>();
            var spikeCounts = new int[3];
            for (int i = 0; i < 3; i++)
            {
                var go = new GameObject("npc" + i);
                go.SetActive(false);
                go.transform.position = new Vector3(i * 2f, 0, 0);
                var target = go.AddComponent<TargetSensor>();
                target.OrganName = "bearing";
                target.Configure(food.transform, TargetSensor.Encoding.SinCos, 20f);
                var bump = go.AddComponent<ScalarValueSensor>();
                bump.OrganName = "bump";
                var move = go.AddComponent<MovementActuator>();
                move.Configure("turn", "speed", 90f, 2f, 50f);
                var spikes = go.AddComponent<SpikeEventActuator>();
                spikes.Population = "sight";
                int k = i;
                spikes.onSpikes.AddListener(n => spikeCounts[k] += n);
                var agent = go.AddComponent<BrainAgent>();
                agent.SetGenome(genome);
                agent.SetWorld(world);
                go.SetActive(true);
                agents.Add(agent);
            }
            Check.Equal(-1, agents[0].BrainId, "brain is spawned at the next step, not before");
            Check.Equal("bearing", agents[0].Sensors[0].Name, "sensors ordered by organ name");

            var starts = new List<Vector3>();
            foreach (var a in agents) starts.Add(a.transform.position);
            for (int step = 0; step < 120; step++)
            {
                Time.fixedDeltaTime = 0.02f;
                worldGo.GetComponent<SpikeforgeWorld>().SendStubMessage("FixedUpdate");
                if (step == 10) agents[1].AddReward(1.0f);
            }
            foreach (var m in UnityEngine.Debug.Messages) if (m.StartsWith("exception")) throw new Exception("world logged " + m);
            Check.Equal(3, world.Session.Layout.BrainCount, "three brains spawned in one batch");
            Check.True(agents[0].BrainId >= 0 && agents[0].Circuit != null, "agent bound to its brain");
            Check.True(world.LastFrame.Steps == 20, "20 fixed steps of 1 ms per 0.02 s step (got " + world.LastFrame.Steps + ")");
            Check.True(spikeCounts[0] + spikeCounts[1] + spikeCounts[2] > 0, "spike events reached the agents");
            int moved = 0;
            foreach (var a in agents)
            {
                var m = a.GetComponent<MovementActuator>();
                Check.True(m.Turn >= -1f && m.Turn <= 1f && m.Forward >= 0f && m.Forward <= 1f, "actuator outputs mapped into range");
                if (Vector3.Distance(starts[agents.IndexOf(a)], a.transform.position) > 0.01f) moved++;
            }
            Check.True(moved > 0, "agents moved by their brains' speed output (" + moved + " of 3)");
            var stats = Json.ParseObject(world.Session.Stats());
            Check.Equal(120, Json.GetLong(Json.GetObject(stats, "session", "stats"), "exchanges", "stats.session"), "one exchange per step for all agents");

            // re-entrancy: stepping from inside a step is refused, and the step still completes
            bool refused = false;
            agents[2].GetComponent<SpikeEventActuator>().onSpikes.AddListener(n =>
            {
                try { world.Step(0.02f); } catch (InvalidOperationException) { refused = true; }
            });
            for (int i = 0; i < 20 && !refused; i++) world.Step(0.02f);
            Check.True(refused, "re-entrant Step is refused");
            Check.True(!world.IsStepping, "guard released after the step");

            // destroying an agent despawns its brain at the next step; others keep theirs
            long gone = agents[1].BrainId;
            UnityEngine.Object.Destroy(agents[1].gameObject);
            world.Step(0.02f);
            Check.Equal(2, world.Session.Layout.BrainCount, "brain despawned with its GameObject");
            Check.True(!world.Session.Layout.Contains(gone), "despawned id is gone");

            // game save: snapshot, play on, load -> the same agents own the same brains again
            long[] before = { agents[0].BrainId, agents[2].BrainId };
            world.SaveSnapshot("unity-components");
            for (int i = 0; i < 5; i++) world.Step(0.02f);
            var extra = new GameObject("late");
            extra.SetActive(false);
            var et = extra.AddComponent<TargetSensor>();
            et.OrganName = "bearing";
            et.Configure(food.transform, TargetSensor.Encoding.SinCos, 20f);
            var lateAgent = extra.AddComponent<BrainAgent>();
            lateAgent.SetGenome(genome);
            lateAgent.SetWorld(world);
            extra.SetActive(true);
            world.Step(0.02f);
            Check.Equal(3, world.Session.Layout.BrainCount, "late agent spawned after the save");
            world.LoadSnapshot("unity-components");
            Check.Equal(before[0], agents[0].BrainId, "agent 0 owns its saved brain again");
            Check.Equal(before[1], agents[2].BrainId, "agent 2 owns its saved brain again");
            Check.True(!lateAgent.HasBrain, "an agent the snapshot did not have waits for a fresh brain");
            world.Step(0.02f);
            Check.True(lateAgent.HasBrain, "and gets one at the next step");
            Check.Equal(3, world.Session.Layout.BrainCount, "restored brains + the fresh one");
            UnityEngine.Object.Destroy(extra);
            world.Step(0.02f);

            // a sensor whose declared size does not match the circuit is reported by organ name
            var bad = new GameObject("bad");
            bad.SetActive(false);
            var wrong = bad.AddComponent<TargetSensor>();
            wrong.OrganName = "bearing";
            wrong.Configure(food.transform, TargetSensor.Encoding.Bearing, 20f);
            var badAgent = bad.AddComponent<BrainAgent>();
            badAgent.SetGenome(genome);
            badAgent.SetWorld(world);
            bad.SetActive(true);
            var err = Check.Throws<SpikeforgeException>(() => world.Step(0.02f), "mismatched organ");
            Check.True(err.Message.Contains("bearing") && err.Message.Contains("channels"), "error names the organ: " + err.Message);
            Check.True(!badAgent.HasBrain, "the invalid agent got no brain");
            world.Step(0.02f);
            Check.Equal(2, world.Session.Layout.BrainCount, "the invalid agent is not retried and spawned nothing");

            // brains as assets: agent 0's brain exported, given to a new agent instead of a fresh brain
            byte[] asset = world.ExportBrain(agents[0]);
            Check.True(asset.Length > 100 && asset[0] == 0x50 && asset[1] == 0x4B, "ExportBrain gives a brain file (zip)");
            var twin = new GameObject("twin");
            twin.SetActive(false);
            var tt = twin.AddComponent<TargetSensor>();
            tt.OrganName = "bearing";
            tt.Configure(food.transform, TargetSensor.Encoding.SinCos, 20f);
            var twinAgent = twin.AddComponent<BrainAgent>();
            twinAgent.SetGenome(genome);
            twinAgent.SetWorld(world);
            twin.SetActive(true);
            long twinId = world.SpawnFromAsset(twinAgent, asset);
            Check.True(twinAgent.HasBrain && twinAgent.BrainId == twinId, "the agent got the asset's brain");
            world.Step(0.02f);
            Check.Equal(3, world.Session.Layout.BrainCount, "the asset's brain, no extra fresh one");
            var cut = new byte[asset.Length - 7];
            Buffer.BlockCopy(asset, 0, cut, 0, cut.Length);
            var twin2 = new GameObject("twin2");
            twin2.SetActive(false);
            var twin2Agent = twin2.AddComponent<BrainAgent>();
            twin2Agent.SetGenome(genome);
            twin2Agent.SetWorld(world);
            twin2.SetActive(true);
            var badAsset = Check.Throws<ProtocolErrorException>(() => world.SpawnFromAsset(twin2Agent, cut), "truncated asset");
            Check.Equal("INVALID", badAsset.Code, "truncated asset code");
            Check.True(!twin2Agent.HasBrain, "no brain from a bad asset");
            UnityEngine.Object.Destroy(twin2);
            UnityEngine.Object.Destroy(twin);
            world.Step(0.02f);
            Check.Equal(2, world.Session.Layout.BrainCount, "the asset's brain goes with its GameObject");

            // winner-take-all helper: lowest index wins ties, -1 when nothing is above threshold
            Check.Equal(1, DiscreteActionActuator.Winner(new[] { 0f, 3f, 3f, 1f }, 0, 4, 0f), "wta tie -> lowest index");
            Check.Equal(-1, DiscreteActionActuator.Winner(new[] { 0f, 0f }, 0, 2, 0f), "wta none");

#if SPIKEFORGE_TEST_FORAGERS
            // the Editor sample's game script, run on the stub: 40 foragers, one exchange per step
            bad.SetActive(false);
            var gameGo = new GameObject("Game");
            var game = gameGo.AddComponent<Spikeforge.Samples.Foragers.ForagerGame>();
            game.Configure(world, new TextAsset(genome), 40, 15);
            game.SendStubMessage("Start");
            for (int i = 0; i < 60; i++) world.Step(0.02f);
            Check.Equal(42, world.Session.Layout.BrainCount, "forager brains spawned (plus the two npcs)");
            foreach (var f in game.Foragers)
            {
                Check.True(f.HasBrain, "forager has a brain");
                var p = f.transform.position;
                Check.True(Math.Abs(p.x) <= game.HalfSize && Math.Abs(p.z) <= game.HalfSize, "forager inside the fence");
            }
            Check.True(game.Eaten >= 0, "forager game ran");
#endif

            UnityEngine.Object.Destroy(worldGo);
            Check.True(world.Session == null, "world closed its session on destroy");

            string python = Check.Arg(args, "--python", "");
            if (python.Length > 0) StartServerAndRecover(python, genome);
        }

        /// <summary>StartServer mode: the world launches `spikeforge serve`; when that server dies, the
        /// next automatic step logs the error, starts a new server and respawns every agent's brain.</summary>
        static void StartServerAndRecover(string python, string genome)
        {
            var go = new GameObject("World2");
            go.SetActive(false);
            var world = go.AddComponent<SpikeforgeWorld>();
            world.Configure(SpikeforgeWorld.ConnectionKind.StartServer, false, python, "", 0, SpikeforgeWorld.StepMode.Update);
            go.SetActive(true);
            Check.True(world.Server != null && !world.Server.Process.HasExited, "world started its own server");
            Check.Equal("tcp", world.Session.Mode, "tcp mode");
            var agents = new List<BrainAgent>();
            for (int i = 0; i < 2; i++)
            {
                var a = new GameObject("npc-r" + i);
                a.SetActive(false);
                var t = a.AddComponent<TargetSensor>();
                t.OrganName = "bearing";
                t.Configure(null, TargetSensor.Encoding.SinCos, 10f);
                a.AddComponent<ScalarValueSensor>().OrganName = "bump";
                a.AddComponent<MovementActuator>().Configure("turn", "speed", 90f, 1f, 50f);
                var agent = a.AddComponent<BrainAgent>();
                agent.SetGenome(genome);
                agent.SetWorld(world);
                a.SetActive(true);
                agents.Add(agent);
            }
            Time.deltaTime = 0.02f;
            for (int i = 0; i < 3; i++) go.GetComponent<SpikeforgeWorld>().SendStubMessage("Update");
            Check.Equal(2, world.Session.Layout.BrainCount, "brains on the launched server");
            var first = world.Server;
            first.Process.Kill();
            first.Process.WaitForExit(10000);
            go.GetComponent<SpikeforgeWorld>().SendStubMessage("Update"); // fails, logs, recovers
            Check.Equal(1, world.Recoveries, "lost session replaced");
            Check.True(world.Server != null && world.Server != first && !world.Server.Process.HasExited, "a new server was started");
            go.GetComponent<SpikeforgeWorld>().SendStubMessage("Update"); // respawns
            Check.Equal(2, world.Session.Layout.BrainCount, "agents got fresh brains");
            Check.True(agents[0].HasBrain && agents[1].HasBrain, "agents bound again");
            int pid = world.Server.Process.Id;
            UnityEngine.Object.Destroy(go);
            bool alive;
            try { alive = !System.Diagnostics.Process.GetProcessById(pid).HasExited; }
            catch (ArgumentException) { alive = false; }
            Check.True(!alive, "the launched server stops with the world");
        }
    }
}
