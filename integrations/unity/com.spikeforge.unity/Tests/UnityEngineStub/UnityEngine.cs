// ============================================================================================
//  COMPILE-CHECK STUB — NOT UNITY.
//  A minimal stand-in for the parts of UnityEngine.dll that the package's components use,
//  so tests/integration/test_unity_components.py can compile Runtime/Components with Mono's
//  mcs (no Unity Editor exists on the build machine) and drive them in a tiny fake game loop.
//  Signatures follow Unity 2021.3's public API; behaviour is the simplest that lets a test
//  run (Physics.Raycast hits registered spheres; no rendering, no real physics).
//  Unity never compiles this file: its asmdef is constrained to SPIKEFORGE_UNITYENGINE_STUB.
// ============================================================================================
using System;
using System.Collections.Generic;

namespace UnityEngine
{
    [AttributeUsage(AttributeTargets.Field)] public sealed class SerializeField : Attribute { }
    [AttributeUsage(AttributeTargets.Field)] public sealed class TooltipAttribute : Attribute { public TooltipAttribute(string t) { } }
    [AttributeUsage(AttributeTargets.Field)] public sealed class HeaderAttribute : Attribute { public HeaderAttribute(string h) { } }
    [AttributeUsage(AttributeTargets.Field)] public sealed class RangeAttribute : Attribute { public RangeAttribute(float a, float b) { } }
    [AttributeUsage(AttributeTargets.Field)] public sealed class MinAttribute : Attribute { public MinAttribute(float a) { } }
    [AttributeUsage(AttributeTargets.Class)] public sealed class AddComponentMenu : Attribute { public AddComponentMenu(string m) { } }
    [AttributeUsage(AttributeTargets.Class)] public sealed class DisallowMultipleComponent : Attribute { }
    [AttributeUsage(AttributeTargets.Class)] public sealed class DefaultExecutionOrder : Attribute { public DefaultExecutionOrder(int o) { } }
    [AttributeUsage(AttributeTargets.Class)] public sealed class HelpURLAttribute : Attribute { public HelpURLAttribute(string u) { } }
    [AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
    public sealed class RequireComponent : Attribute { public RequireComponent(Type t) { } }

    public struct Vector3
    {
        public float x, y, z;
        public Vector3(float x, float y, float z) { this.x = x; this.y = y; this.z = z; }
        public static Vector3 zero { get { return new Vector3(0, 0, 0); } }
        public static Vector3 up { get { return new Vector3(0, 1, 0); } }
        public static Vector3 forward { get { return new Vector3(0, 0, 1); } }
        public static Vector3 right { get { return new Vector3(1, 0, 0); } }
        public float magnitude { get { return (float)Math.Sqrt(x * x + y * y + z * z); } }
        public float sqrMagnitude { get { return x * x + y * y + z * z; } }
        public Vector3 normalized { get { float m = magnitude; return m > 1e-6f ? this / m : zero; } }
        public static Vector3 operator +(Vector3 a, Vector3 b) { return new Vector3(a.x + b.x, a.y + b.y, a.z + b.z); }
        public static Vector3 operator -(Vector3 a, Vector3 b) { return new Vector3(a.x - b.x, a.y - b.y, a.z - b.z); }
        public static Vector3 operator -(Vector3 a) { return new Vector3(-a.x, -a.y, -a.z); }
        public static Vector3 operator *(Vector3 a, float d) { return new Vector3(a.x * d, a.y * d, a.z * d); }
        public static Vector3 operator *(float d, Vector3 a) { return a * d; }
        public static Vector3 operator /(Vector3 a, float d) { return new Vector3(a.x / d, a.y / d, a.z / d); }
        public static float Dot(Vector3 a, Vector3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
        public static Vector3 Cross(Vector3 a, Vector3 b) { return new Vector3(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x); }
        public static float Distance(Vector3 a, Vector3 b) { return (a - b).magnitude; }
        public static Vector3 ProjectOnPlane(Vector3 v, Vector3 n) { n = n.normalized; return v - n * Dot(v, n); }
        public static float SignedAngle(Vector3 from, Vector3 to, Vector3 axis)
        {
            float fm = from.magnitude, tm = to.magnitude;
            if (fm < 1e-6f || tm < 1e-6f) return 0;
            float cos = Mathf.Clamp(Dot(from, to) / (fm * tm), -1, 1);
            float ang = (float)(Math.Acos(cos) * 180.0 / Math.PI);
            return Dot(axis, Cross(from, to)) < 0 ? -ang : ang;
        }
        public override string ToString() { return "(" + x + ", " + y + ", " + z + ")"; }
    }

    public struct Quaternion
    {
        public float x, y, z, w;
        public Quaternion(float x, float y, float z, float w) { this.x = x; this.y = y; this.z = z; this.w = w; }
        public static Quaternion identity { get { return new Quaternion(0, 0, 0, 1); } }
        public static Quaternion AngleAxis(float degrees, Vector3 axis)
        {
            axis = axis.normalized;
            double h = degrees * Math.PI / 360.0;
            float s = (float)Math.Sin(h);
            return new Quaternion(axis.x * s, axis.y * s, axis.z * s, (float)Math.Cos(h));
        }
        public static Quaternion Euler(float x, float y, float z)
        {
            return AngleAxis(y, Vector3.up) * AngleAxis(x, Vector3.right) * AngleAxis(z, Vector3.forward);
        }
        public static Quaternion operator *(Quaternion a, Quaternion b)
        {
            return new Quaternion(a.w * b.x + a.x * b.w + a.y * b.z - a.z * b.y,
                                  a.w * b.y - a.x * b.z + a.y * b.w + a.z * b.x,
                                  a.w * b.z + a.x * b.y - a.y * b.x + a.z * b.w,
                                  a.w * b.w - a.x * b.x - a.y * b.y - a.z * b.z);
        }
        public static Vector3 operator *(Quaternion q, Vector3 v)
        {
            var u = new Vector3(q.x, q.y, q.z);
            Vector3 t = 2f * Vector3.Cross(u, v);
            return v + q.w * t + Vector3.Cross(u, t);
        }
    }

    public static class Mathf
    {
        public const float Rad2Deg = 57.29578f;
        public const float Deg2Rad = 0.01745329f;
        public static float Clamp(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }
        public static int Clamp(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }
        public static float Clamp01(float v) { return Clamp(v, 0f, 1f); }
        public static float Abs(float v) { return Math.Abs(v); }
        public static float Max(float a, float b) { return Math.Max(a, b); }
        public static float Min(float a, float b) { return Math.Min(a, b); }
        public static float Lerp(float a, float b, float t) { return a + (b - a) * Clamp01(t); }
        public static float InverseLerp(float a, float b, float v) { return a != b ? Clamp01((v - a) / (b - a)) : 0f; }
        public static float Atan2(float y, float x) { return (float)Math.Atan2(y, x); }
    }

    public struct LayerMask
    {
        public int value;
        public static implicit operator int(LayerMask m) { return m.value; }
        public static implicit operator LayerMask(int v) { return new LayerMask { value = v }; }
    }

    public static class Time
    {
        public static float deltaTime = 1f / 60f;
        public static float fixedDeltaTime = 0.02f;
        public static float time;
    }

    public static class Application
    {
        public static bool isPlaying = true;
        public static string dataPath = Environment.CurrentDirectory;
        public static string persistentDataPath = Environment.CurrentDirectory;
        public static string streamingAssetsPath = Environment.CurrentDirectory;
    }

    public static class Debug
    {
        public static readonly List<string> Messages = new List<string>();
        public static void Log(object m) { Messages.Add("log: " + m); }
        public static void LogWarning(object m) { Messages.Add("warning: " + m); }
        public static void LogWarning(object m, Object ctx) { LogWarning(m); }
        public static void LogError(object m) { Messages.Add("error: " + m); }
        public static void LogError(object m, Object ctx) { LogError(m); }
        public static void LogException(Exception e) { Messages.Add("exception: " + e.Message); }
        public static void LogException(Exception e, Object ctx) { LogException(e); }
    }

    public class Object
    {
        public string name = "";
        static readonly List<Object> live = new List<Object>();
        internal bool destroyed;
        protected Object() { live.Add(this); }
        public static void Destroy(Object o)
        {
            var go = o as GameObject;
            if (go != null) { foreach (var c in go.components.ToArray()) Destroy(c); go.destroyed = true; live.Remove(go); return; }
            var b = o as MonoBehaviour;
            if (b != null && !b.destroyed) { if (b.enabledInHierarchy) b.CallDisable(); b.CallDestroy(); }
            o.destroyed = true;
            live.Remove(o);
            var comp = o as Component;
            if (comp != null && comp.gameObject != null) comp.gameObject.components.Remove(comp);
        }
        public static T FindObjectOfType<T>() where T : Object
        {
            foreach (var o in live) { var t = o as T; if (t != null && !o.destroyed) return t; }
            return null;
        }
        public static T[] FindObjectsOfType<T>() where T : Object
        {
            var res = new List<T>();
            foreach (var o in live) { var t = o as T; if (t != null && !o.destroyed) res.Add(t); }
            return res.ToArray();
        }
        public static implicit operator bool(Object o) { return o != null && !o.destroyed; }
    }

    public class TextAsset : Object
    {
        readonly string content;
        public TextAsset(string text) { content = text; }
        public string text { get { return content; } }
    }

    public class GameObject : Object
    {
        internal readonly List<Component> components = new List<Component>();
        public readonly Transform transform;
        public string tag = "Untagged";
        bool active = true;
        public GameObject(string name) { this.name = name; transform = new Transform(); Attach(transform); }
        internal void Attach(Component c) { c.gameObject = this; components.Add(c); }
        public T AddComponent<T>() where T : Component, new()
        {
            var c = new T();
            Attach(c);
            var b = c as MonoBehaviour;
            if (b != null) { b.CallAwake(); if (active && b.enabled) b.CallEnable(); }
            return c;
        }
        public T GetComponent<T>() where T : class
        {
            foreach (var c in components) { var t = c as T; if (t != null) return t; }
            return null;
        }
        public void GetComponents<T>(List<T> results) where T : class
        {
            results.Clear();
            foreach (var c in components) { var t = c as T; if (t != null) results.Add(t); }
        }
        public bool activeInHierarchy { get { return active && !destroyed; } }
        public void SetActive(bool value)
        {
            if (value == active) return;
            active = value;
            foreach (var c in components.ToArray())
            {
                var b = c as MonoBehaviour;
                if (b == null || !b.enabled) continue;
                if (value) b.CallEnable(); else b.CallDisable();
            }
        }
        public bool CompareTag(string t) { return tag == t; }
        /// <summary>Stub: a GameObject with a sphere Collider (no mesh, no renderer).</summary>
        public static GameObject CreatePrimitive(PrimitiveType type)
        {
            var go = new GameObject(type.ToString());
            go.AddComponent<Collider>();
            return go;
        }
    }

    public enum PrimitiveType { Sphere, Capsule, Cylinder, Cube, Plane, Quad }

    public class Component : Object
    {
        public GameObject gameObject { get; internal set; }
        public Transform transform { get { return gameObject.transform; } }
        public string tag { get { return gameObject.tag; } }
        public T GetComponent<T>() where T : class { return gameObject.GetComponent<T>(); }
        public void GetComponents<T>(List<T> results) where T : class { gameObject.GetComponents(results); }
        public bool CompareTag(string t) { return gameObject.CompareTag(t); }
    }

    public class Transform : Component
    {
        public Vector3 position;
        public Quaternion rotation = Quaternion.identity;
        public Vector3 forward { get { return rotation * Vector3.forward; } }
        public Vector3 right { get { return rotation * Vector3.right; } }
        public Vector3 up { get { return rotation * Vector3.up; } }
        public void Rotate(Vector3 axis, float degrees) { rotation = rotation * Quaternion.AngleAxis(degrees, axis); }
        public void Translate(Vector3 delta, Space space)
        {
            position = position + (space == Space.Self ? rotation * delta : delta);
        }
        public Vector3 InverseTransformDirection(Vector3 d)
        {
            var inv = new Quaternion(-rotation.x, -rotation.y, -rotation.z, rotation.w);
            return inv * d;
        }
        public Vector3 InverseTransformPoint(Vector3 p) { return InverseTransformDirection(p - position); }
        public Vector3 TransformDirection(Vector3 d) { return rotation * d; }
    }

    public enum Space { World, Self }

    public class Behaviour : Component
    {
        bool isEnabled = true;
        public bool enabled
        {
            get { return isEnabled; }
            set
            {
                if (value == isEnabled) return;
                isEnabled = value;
                var b = this as MonoBehaviour;
                if (b != null && gameObject != null && gameObject.activeInHierarchy) { if (value) b.CallEnable(); else b.CallDisable(); }
            }
        }
        public bool isActiveAndEnabled { get { return isEnabled && gameObject != null && gameObject.activeInHierarchy; } }
    }

    /// <summary>Calls the Unity message methods (Awake, OnEnable, ...) by reflection, as the engine does by name.</summary>
    public class MonoBehaviour : Behaviour
    {
        internal bool enabledInHierarchy;
        void Call(string method)
        {
            var m = GetType().GetMethod(method, System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public |
                                                System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.FlattenHierarchy);
            if (m != null && m.GetParameters().Length == 0) m.Invoke(this, null);
        }
        internal void CallAwake() { Call("Awake"); }
        internal void CallEnable() { enabledInHierarchy = true; Call("OnEnable"); }
        internal void CallDisable() { enabledInHierarchy = false; Call("OnDisable"); }
        internal void CallDestroy() { Call("OnDestroy"); }
        /// <summary>Stub only: run one message (Start, Update, FixedUpdate, LateUpdate) as the game loop would.</summary>
        public void SendStubMessage(string method) { Call(method); }
    }

    public struct RaycastHit
    {
        public float distance;
        public Vector3 point;
        public Collider collider;
    }

    public class Collider : Component
    {
        /// <summary>Stub only: colliders are spheres of this radius around the transform.</summary>
        public float radius = 0.5f;
        public int layer;
    }

    public static class Physics
    {
        /// <summary>Stub: casts against every live Collider as a sphere.</summary>
        public static bool Raycast(Vector3 origin, Vector3 direction, out RaycastHit hit, float maxDistance, int layerMask)
        {
            hit = new RaycastHit();
            float best = float.MaxValue;
            direction = direction.normalized;
            foreach (var c in Object.FindObjectsOfType<Collider>())
            {
                if (((1 << c.layer) & layerMask) == 0) continue;
                Vector3 oc = c.transform.position - origin;
                float t = Vector3.Dot(oc, direction);
                float d2 = oc.sqrMagnitude - t * t;
                float r2 = c.radius * c.radius;
                if (d2 > r2) continue;
                float t0 = t - (float)Math.Sqrt(r2 - d2);
                if (t0 < 0 || t0 > maxDistance || t0 >= best) continue;
                best = t0;
                hit = new RaycastHit { distance = t0, point = origin + direction * t0, collider = c };
            }
            return best < float.MaxValue;
        }
    }

    public class Rigidbody : Component
    {
        public Vector3 position;
        public Quaternion rotation = Quaternion.identity;
        public void MovePosition(Vector3 p) { position = p; transform.position = p; }
        public void MoveRotation(Quaternion q) { rotation = q; transform.rotation = q; }
    }

    public class CharacterController : Component
    {
        public void Move(Vector3 motion) { transform.position = transform.position + motion; }
    }
}

namespace UnityEngine.Events
{
    public class UnityEvent
    {
        readonly List<Action> calls = new List<Action>();
        public void AddListener(Action a) { calls.Add(a); }
        public void RemoveListener(Action a) { calls.Remove(a); }
        public void Invoke() { foreach (var c in calls.ToArray()) c(); }
    }

    public class UnityEvent<T0>
    {
        readonly List<Action<T0>> calls = new List<Action<T0>>();
        public void AddListener(Action<T0> a) { calls.Add(a); }
        public void RemoveListener(Action<T0> a) { calls.Remove(a); }
        public void Invoke(T0 a0) { foreach (var c in calls.ToArray()) c(a0); }
    }

    public class UnityEvent<T0, T1>
    {
        readonly List<Action<T0, T1>> calls = new List<Action<T0, T1>>();
        public void AddListener(Action<T0, T1> a) { calls.Add(a); }
        public void RemoveListener(Action<T0, T1> a) { calls.Remove(a); }
        public void Invoke(T0 a0, T1 a1) { foreach (var c in calls.ToArray()) c(a0, a1); }
    }
}
