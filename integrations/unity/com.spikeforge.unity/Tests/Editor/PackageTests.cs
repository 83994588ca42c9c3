// Edit-mode NUnit tests of the package's public types (reflection only, no scene). Run by
// Unity's Test Runner in edit mode and, in `make test`, by NUnit under Mono.
using System;
using System.Linq;
using NUnit.Framework;
using UnityEngine;

namespace Spikeforge.Tests
{
    [TestFixture]
    public class PackageTests
    {
        static Type[] RuntimeTypes()
        {
            return typeof(BrainAgent).Assembly.GetTypes().Where(t => t.IsPublic && t.Namespace == "Spikeforge").ToArray();
        }

        [Test]
        public void EveryConcreteComponentHasAnAddComponentMenuEntry()
        {
            var components = RuntimeTypes().Where(t => typeof(MonoBehaviour).IsAssignableFrom(t) && !t.IsAbstract).ToArray();
            Assert.IsTrue(components.Length >= 8, "components found: " + components.Length);
            foreach (var t in components)
                Assert.IsTrue(t.GetCustomAttributes(typeof(AddComponentMenu), false).Length == 1, t.Name + " has no [AddComponentMenu]");
        }

        [Test]
        public void EverySensorAndActuatorComponentCreatesItsOrganObject()
        {
            int sensors = 0, actuators = 0;
            foreach (var t in RuntimeTypes().Where(t => !t.IsAbstract))
            {
                if (typeof(SensorComponent).IsAssignableFrom(t))
                {
                    var go = new GameObject(t.Name);
                    go.SetActive(false);
                    var c = (SensorComponent)typeof(GameObject).GetMethod("AddComponent", Type.EmptyTypes).MakeGenericMethod(t).Invoke(go, null);
                    c.OrganName = "o";
                    var s = c.CreateSensor();
                    Assert.IsNotNull(s, t.Name);
                    Assert.AreEqual("o", s.Name, t.Name);
                    Assert.IsTrue(s.Size >= 1, t.Name);
                    sensors++;
                }
                if (typeof(ActuatorComponent).IsAssignableFrom(t))
                {
                    var go = new GameObject(t.Name);
                    go.SetActive(false);
                    var c = (ActuatorComponent)typeof(GameObject).GetMethod("AddComponent", Type.EmptyTypes).MakeGenericMethod(t).Invoke(go, null);
                    Assert.IsNotNull(c.CreateActuator(), t.Name);
                    actuators++;
                }
            }
            Assert.AreEqual(3, sensors);
            Assert.AreEqual(3, actuators);
        }
    }
}
