// Foragers sample (Unity Editor): N agents with spiking brains look for food on a plane.
// Each agent: BrainAgent (genome Forager.genome.json) + TargetSensor "bearing" (sin/cos of the
// bearing to its nearest food) + ScalarValueSensor "bump" (1 after touching the fence) +
// MovementActuator (organs "turn" and "speed"). Reaching food gives the agent a reward of 1
// (reward-modulated plasticity) and the food jumps elsewhere.
// Setup: see the package README, "Foragers sample".
using System.Collections.Generic;
using Spikeforge;
using UnityEngine;

namespace Spikeforge.Samples.Foragers
{
    [AddComponentMenu("Spikeforge/Samples/Forager Game")]
    public sealed class ForagerGame : MonoBehaviour
    {
        [SerializeField] SpikeforgeWorld world;
        [SerializeField] TextAsset genome;
        [SerializeField] int agents = 40;
        [SerializeField] int foodCount = 15;
        [Tooltip("Half the side of the square field (units).")]
        [SerializeField] float halfSize = 20f;
        [SerializeField] float eatRadius = 1f;
        [SerializeField] int seed = 1;

        readonly List<BrainAgent> foragers = new List<BrainAgent>();
        readonly List<Transform> food = new List<Transform>();
        System.Random rng;

        public int Eaten { get; private set; }
        public IList<BrainAgent> Foragers { get { return foragers.AsReadOnly(); } }
        public float HalfSize { get { return halfSize; } }

        /// <summary>Set up from code instead of the Inspector (before Start runs).</summary>
        public void Configure(SpikeforgeWorld w, TextAsset genomeAsset, int agentCount, int foodItems)
        {
            world = w; genome = genomeAsset; agents = agentCount; foodCount = foodItems;
        }

        void Start()
        {
            rng = new System.Random(seed);
            if (world == null) world = FindObjectOfType<SpikeforgeWorld>();
            for (int i = 0; i < foodCount; i++)
            {
                var f = GameObject.CreatePrimitive(PrimitiveType.Sphere);
                f.name = "Food " + i;
                f.transform.position = RandomPoint();
                food.Add(f.transform);
            }
            for (int i = 0; i < agents; i++)
            {
                var go = GameObject.CreatePrimitive(PrimitiveType.Capsule);
                go.name = "Forager " + i;
                go.SetActive(false); // add every component before the agent registers
                go.transform.position = RandomPoint();
                go.transform.rotation = Quaternion.AngleAxis((float)(rng.NextDouble() * 360.0), Vector3.up);
                var bearing = go.AddComponent<TargetSensor>();
                bearing.OrganName = "bearing";
                bearing.Configure(food[0], TargetSensor.Encoding.SinCos, halfSize * 2f);
                var bump = go.AddComponent<ScalarValueSensor>();
                bump.OrganName = "bump";
                var move = go.AddComponent<MovementActuator>();
                move.Configure("turn", "speed", 120f, 4f, 50f);
                var agent = go.AddComponent<BrainAgent>();
                agent.SetGenome(genome.text);
                agent.SetWorld(world);
                go.SetActive(true);
                foragers.Add(agent);
            }
            world.Stepped += OnStepped;
        }

        void OnDestroy()
        {
            if (world != null) world.Stepped -= OnStepped;
        }

        Vector3 RandomPoint()
        {
            return new Vector3((float)(rng.NextDouble() * 2 - 1) * halfSize, 0.5f, (float)(rng.NextDouble() * 2 - 1) * halfSize);
        }

        // After each exchange (agents have moved): fence, food, rewards, next targets.
        void OnStepped(Spikeforge.Client.FrameInfo frame)
        {
            foreach (var a in foragers)
            {
                var t = a.transform;
                Vector3 p = t.position;
                bool bumped = Mathf.Abs(p.x) > halfSize || Mathf.Abs(p.z) > halfSize;
                p.x = Mathf.Clamp(p.x, -halfSize, halfSize);
                p.z = Mathf.Clamp(p.z, -halfSize, halfSize);
                t.position = p;
                a.GetComponent<ScalarValueSensor>().Value = bumped ? 1f : 0f;

                Transform nearest = null;
                float best = float.MaxValue;
                foreach (var f in food)
                {
                    float d = Vector3.Distance(f.position, p);
                    if (d < best) { best = d; nearest = f; }
                }
                if (nearest == null) continue;
                if (best < eatRadius)
                {
                    a.AddReward(1f); // sent with the next exchange
                    nearest.position = RandomPoint();
                    Eaten++;
                }
                a.GetComponent<TargetSensor>().Target = nearest;
            }
        }
    }
}
