// NUnit tests of the sensor/actuator split (ISensor + SensorComponent, IActuator +
// ActuatorComponent) as a user writes them. Run by Unity's Test Runner (play mode or edit
// mode) and, in `make test`, by NUnit under Mono against the package's UnityEngine stub.
using System.Collections.Generic;
using NUnit.Framework;
using Spikeforge.Client;
using UnityEngine;

namespace Spikeforge.Tests
{
    /// <summary>A user-written sensor: plain C#, the component only creates it.</summary>
    public sealed class HealthSensor : ISensor
    {
        readonly string organ;
        public float Health = 0.5f;
        public HealthSensor(string organ) { this.organ = organ; }
        public string Name { get { return organ; } }
        public int Size { get { return 1; } }
        public OrganSpec GetSpec() { return new OrganSpec(organ, 1, 0f, 1f); }
        public void Write(float[] buffer, int offset, int count) { buffer[offset] = Health; }
    }

    public sealed class HealthSensorComponent : SensorComponent
    {
        public HealthSensor Created;
        public override ISensor CreateSensor() { Created = new HealthSensor(OrganName); return Created; }
    }

    public sealed class NullSensorComponent : SensorComponent
    {
        public override ISensor CreateSensor() { return null; }
    }

    /// <summary>A user-written actuator: records the first output of its organ.</summary>
    public sealed class JumpActuator : IActuator
    {
        public float Last = -1f;
        public string Name { get { return "jump"; } }
        public string[] OrganNames { get { return new[] { "jump" }; } }
        public void Validate(CircuitInfo circuit, string agent) { ActuatorComponent.ValidateOrgans(this, circuit, agent); }
        public void Apply(ActuatorView view, float frameDt)
        {
            float[] v; int off, cnt;
            if (view.TryGet("jump", out v, out off, out cnt)) Last = v[off];
        }
    }

    public sealed class JumpActuatorComponent : ActuatorComponent
    {
        public override IActuator CreateActuator() { return new JumpActuator(); }
    }

    [TestFixture]
    public class CustomSensorTests
    {
        static BrainAgent Agent(GameObject go)
        {
            go.SetActive(false); // no world needed: the organs are collected by hand
            return go.AddComponent<BrainAgent>();
        }

        [Test]
        public void BrainAgentCollectsUserSensorsInOrganNameOrder()
        {
            var go = new GameObject("npc");
            var agent = Agent(go);
            var health = go.AddComponent<HealthSensorComponent>();
            health.OrganName = "health";
            var bump = go.AddComponent<ScalarValueSensor>();
            bump.OrganName = "bump";
            go.AddComponent<JumpActuatorComponent>();
            agent.CollectOrgans();
            Assert.AreEqual(2, agent.Sensors.Count);
            Assert.AreEqual("bump", agent.Sensors[0].Name);
            Assert.AreSame(health.Created, agent.Sensors[1]);
            Assert.AreEqual(1, agent.Actuators.Count);
            Assert.AreEqual("jump", agent.Actuators[0].Name);
            var buffer = new float[3];
            agent.Sensors[1].Write(buffer, 2, 1);
            Assert.AreEqual(0.5f, buffer[2]);
        }

        [Test]
        public void TwoSensorsOnOneOrganAreRefusedByName()
        {
            var go = new GameObject("npc");
            var agent = Agent(go);
            go.AddComponent<HealthSensorComponent>().OrganName = "hp";
            go.AddComponent<ScalarValueSensor>().OrganName = "hp";
            var ex = Assert.Throws<SpikeforgeException>(() => agent.CollectOrgans());
            StringAssert.Contains("'hp'", ex.Message);
        }

        [Test]
        public void ASensorComponentThatCreatesNothingIsNamed()
        {
            var go = new GameObject("npc");
            var agent = Agent(go);
            go.AddComponent<NullSensorComponent>().OrganName = "x";
            var ex = Assert.Throws<SpikeforgeException>(() => agent.CollectOrgans());
            StringAssert.Contains("NullSensorComponent.CreateSensor()", ex.Message);
        }
    }

    [TestFixture]
    public class BuiltInOrganTests
    {
        [Test]
        public void ScalarValueSensorClampsAndRefusesNonFiniteValues()
        {
            var go = new GameObject("npc");
            go.SetActive(false);
            var s = go.AddComponent<ScalarValueSensor>();
            s.OrganName = "hunger";
            ISensor sensor = s.CreateSensor();
            Assert.AreEqual("hunger", sensor.Name);
            s.Value = 3f;
            var buffer = new float[1];
            sensor.Write(buffer, 0, 1);
            Assert.AreEqual(1f, buffer[0]);
            Assert.Throws<System.ArgumentException>(() => s.Value = float.NaN);
        }

        [Test]
        public void WinnerTakeAllPicksTheLowestIndexOnTiesAndNoneBelowThreshold()
        {
            var v = new[] { 9f, 1f, 5f, 5f, 2f };
            Assert.AreEqual(1, DiscreteActionActuator.Winner(v, 1, 4, 0f));
            Assert.AreEqual(-1, DiscreteActionActuator.Winner(v, 1, 4, 5f));
            Assert.AreEqual(0, DiscreteActionActuator.Winner(v, 0, 5, 0f));
        }

        [Test]
        public void RayPerceptionSensorHasOneChannelPerRayAndTag()
        {
            var go = new GameObject("npc");
            go.SetActive(false);
            var s = go.AddComponent<RayPerceptionSensor>();
            s.Configure(5, 90f, 10f, new[] { "food", "wall" });
            Assert.AreEqual(10, s.CreateSensor().Size);
            Assert.Throws<System.ArgumentException>(() => s.Configure(0, 90f, 10f, null));
        }
    }
}
