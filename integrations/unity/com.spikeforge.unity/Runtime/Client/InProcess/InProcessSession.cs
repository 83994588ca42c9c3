// In-process mode: CPython embedded through pythonnet (Python.Runtime), calling the SDK's
// World directly. Per frame: sensors are copied straight into the World's numpy sensor array
// (raw pointer, no GIL needed), ONE Python call advances the world, actuators and spikes are
// copied out of the numpy arrays by pointer. Pointers are refreshed on spawn/despawn/load,
// which re-lay the world out.
using System;
using System.Collections.Generic;
using System.Globalization;
using Python.Runtime;

namespace Spikeforge.Client
{
    /// <summary>A spikeforge World running inside this process (see file header).</summary>
    public sealed unsafe class InProcessSession : ISpikeforgeSession
    {
        // Helper functions run inside the interpreter; they keep per-frame Python work to one call.
        const string HelperSource = @"
import json, os, re, time
import numpy as np
import spikeforge
from spikeforge.model.genome import genome_to_circuit as _from_genome, loads as _loads

_NAME = re.compile(r'[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}')


def _circuit_doc(c):
    c = c.flatten()
    pops = [(p.name, int(p.size)) for p in c.populations]
    return {'name': c.name, 'neurons': sum(s for _, s in pops),
            'sensors': [[o.name, int(o.channels), float(o.low), float(o.high)] for o in sorted(c.sensors, key=lambda o: o.name)],
            'actuators': [[o.name, int(o.width), float(o.low), float(o.high)] for o in sorted(c.actuators, key=lambda o: o.name)],
            'populations': pops}


def _plain(x):
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


class Host:
    def __init__(self, dt, backend, seed, max_substeps, snapshot_dir):
        self.world = spikeforge.World(dt=dt, backend=backend, seed=seed, max_substeps=max_substeps)
        self.backend_request = backend
        self.snapshot_dir = snapshot_dir
        self.circuits = {}
        self.subs = []   # [sub_id, population, brains or None, bus subscription, last event]
        self.next_sub = 1
        self.exchanges = 0
        self.serial_index = np.zeros(0, np.int64)
        # info: steps, alpha, sim_us, then per subscription 4 slots: count, steps_ptr, brains_ptr, neurons_ptr
        self.info = np.zeros(3 + 4 * 64, dtype=np.float64)
        self.keep = []

    def _circuit_table(self):
        out = dict(self.circuits)
        for p in self.world.prototypes:
            if p.circuit.name not in out:
                out[p.circuit.name] = _from_genome(p.genome)
        return out

    def circuits_json(self):
        t = self._circuit_table()
        return json.dumps([_circuit_doc(t[k]) for k in sorted(t)])

    def upload(self, text):
        c = _loads(text)
        old = self._circuit_table().get(c.name)
        if old is not None and old.flatten() != c.flatten():
            raise ValueError(f'genome: a different circuit named {c.name!r} is already known')
        self.circuits[c.name] = c
        return json.dumps(_circuit_doc(c))

    def layout_json(self):
        L = self.world.layout
        ser = L.brain_serial
        self.serial_index = np.full(int(ser.max()) + 1 if ser.size else 0, -1, np.int64)
        self.serial_index[ser] = np.arange(ser.size)
        names = [p.circuit.name for p in L.prototypes]
        groups = []
        for p in L.prototypes:
            idx = np.flatnonzero(L.brain_proto == p.index)
            groups.append([p.circuit.name, [int(x) for x in ser[idx]]])
        return json.dumps({
            'groups': groups,
            'sensors': [[names[g.proto], g.name, int(g.brains), int(g.channels), int(g.offset)] for g in L.sensor_groups],
            'actuators': [[names[g.proto], g.name, int(g.brains), int(g.width), int(g.out_offset)] for g in L.actuator_groups],
            'sensor_len': int(L.sensor_values.size), 'actuator_len': int(L.act_out.size),
            'sensor_ptr': int(L.sensor_values.ctypes.data), 'actuator_ptr': int(L.act_out.ctypes.data),
            'info_ptr': int(self.info.ctypes.data), 'dt': self.world.dt, 'max_substeps': int(self.world.clock.max_substeps),
            'version': spikeforge.__version__})

    def spawn(self, name, count):
        c = self._circuit_table().get(name)
        if c is None:
            raise KeyError(f'circuit: no circuit named {name!r}; upload its genome first')
        return json.dumps([b.id for b in self.world.spawn(c, count)])

    def despawn(self, ids_json):
        self.world.despawn(json.loads(ids_json))

    def claim(self, ids_json):
        missing = [i for i in json.loads(ids_json) if i not in self.world._index]
        if missing:
            raise KeyError(f'brain_ids: no brain with id(s) {missing}')

    def _bus_subscribe(self, entry):
        def on_spikes(ev, entry=entry):
            entry[4] = ev
        entry[3] = self.world.bus.subscribe(on_spikes, brains=entry[2], population=entry[1] or None,
                                            max_failures=1 << 30)

    def subscribe(self, population, ids_json):
        if len(self.subs) >= 64:
            raise ValueError('subscriptions: at most 64 per session')
        ids = json.loads(ids_json)
        if population and not any(population in p.pop_names for p in self.world.prototypes):
            raise KeyError(f'population: no spawned circuit has a population {population!r}')
        entry = [self.next_sub, population, ids or None, None, None]
        self.next_sub += 1
        self._bus_subscribe(entry)
        self.subs.append(entry)
        return entry[0]

    def unsubscribe(self, sub_id):
        for e in self.subs:
            if e[0] == sub_id:
                self.world.bus.unsubscribe(e[3])
                self.subs.remove(e)
                return
        raise KeyError(f'sub_id: no subscription {sub_id}')

    def advance(self, frame_dt):
        for e in self.subs:
            e[4] = None
        t0 = time.perf_counter()
        r = self.world.advance(frame_dt)
        t1 = time.perf_counter()
        info = self.info
        info[0] = r.steps; info[1] = r.alpha; info[2] = (t1 - t0) * 1e6
        self.exchanges += 1
        if self.subs:
            L = self.world.layout
            keep = []
            for k, e in enumerate(self.subs):
                ev = e[4]
                base = 3 + 4 * k
                if ev is None or len(ev) == 0:
                    info[base] = 0
                    continue
                b = self.serial_index[ev.brains]
                own = np.ascontiguousarray(L.brain_step[b] - (self.world.step_count - ev.steps), dtype=np.int64)
                brains = np.ascontiguousarray(ev.brains, dtype=np.int64)
                neurons = np.ascontiguousarray(ev.neurons, dtype=np.int32)
                keep += [own, brains, neurons]
                info[base] = own.size
                info[base + 1] = own.ctypes.data; info[base + 2] = brains.ctypes.data; info[base + 3] = neurons.ctypes.data
            self.keep = keep

    def reward(self, ids_json, values_json):
        ids, vals = json.loads(ids_json), json.loads(values_json)
        arr = np.zeros(self.world.layout.n_brains)
        for i, v in zip(ids, vals):
            if i not in self.world._index:
                raise KeyError(f'brain_ids: no brain with id {i}')
            arr[self.world._index[i]] += v
        self.world.reward(arr)

    def set_learning(self, enabled):
        self.world.learning(bool(enabled))

    def _path(self, name):
        if not _NAME.fullmatch(name):
            raise ValueError(f'name: {name!r} must match [A-Za-z0-9_-][A-Za-z0-9_.-]{{0,63}}')
        os.makedirs(self.snapshot_dir, exist_ok=True)
        return os.path.join(self.snapshot_dir, name)

    def save(self, name):
        self.world.save(self._path(name))

    def load(self, name):
        path = self._path(name)
        if not os.path.exists(path):
            raise FileNotFoundError(f'snapshot: no snapshot named {name!r} in {self.snapshot_dir}')
        self.world = spikeforge.World.load(path, backend=self.backend_request)
        for e in self.subs:
            self._bus_subscribe(e)

    def stats(self):
        return json.dumps(_plain({'world': self.world.stats(),
                                  'server': {'learning': 'world', 'in_process': True},
                                  'session': {'id': 1, 'brains': self.world.layout.n_brains,
                                              'steps': self.world.step_count, 'exchanges': self.exchanges,
                                              'shm': False}}))
";

        static readonly object InitLock = new object();
        static bool initialised;
        static IntPtr mainThreadState;
        static bool shutDown;

        readonly InProcessSettings settings;
        PyObject host;
        PyObject advanceFn;
        WorldLayout layout = WorldLayout.Empty;
        float[] sensors = new float[0];
        float[] actuators = new float[0];
        readonly List<SpikeBatch> subscriptions = new List<SpikeBatch>();
        float* sensorPtr;
        float* actuatorPtr;
        double* infoPtr;
        double dt;
        int maxSubsteps;
        string version = "";
        uint epoch;
        long exchanges;
        bool open;

        public InProcessSession(InProcessSettings settings)
        {
            if (settings == null) throw new ArgumentNullException("settings");
            if (settings.Python == null) throw new ArgumentException("settings.Python: resolve it with PythonEnvironment.FromExecutable");
            if (!(settings.Dt > 0)) throw new ArgumentException("settings.Dt: must be > 0 s, got " + settings.Dt);
            if (settings.MaxSubsteps < 1) throw new ArgumentException("settings.MaxSubsteps: must be >= 1, got " + settings.MaxSubsteps);
            this.settings = settings;
        }

        public string Mode { get { return "inprocess"; } }
        public bool IsOpen { get { return open; } }
        public double Dt { get { return dt; } }
        public int MaxSubsteps { get { return maxSubsteps; } }
        public string ServerVersion { get { return version; } }
        public WorldLayout Layout { get { return layout; } }
        public float[] Sensors { get { return sensors; } }
        public float[] Actuators { get { return actuators; } }
        public long Exchanges { get { return exchanges; } }

        /// <summary>Starts CPython once per process (pythonnet cannot restart it), then releases the GIL.</summary>
        static void EnsureEngine(InProcessSettings s)
        {
            lock (InitLock)
            {
                if (shutDown)
                    throw new SpikeforgeException("python", "the embedded Python was shut down (ShutdownPython); CPython cannot be restarted in this process");
                if (initialised) return;
                if (!System.IO.File.Exists(s.Python.PythonDll))
                    throw new SpikeforgeException("python", "settings.Python.PythonDll: no file at " + s.Python.PythonDll);
                Runtime.PythonDLL = s.Python.PythonDll;
                PythonEngine.PythonHome = s.Python.PythonHome;
                PythonEngine.Initialize();
                using (var sys = Py.Import("sys"))
                using (var site = Py.Import("site"))
                using (var path = sys.GetAttr("path"))
                {
                    foreach (var p in s.Python.SysPath)
                        using (var ps = new PyString(p))
                            using (var has = path.InvokeMethod("__contains__", ps))
                                if (!has.IsTrue()) path.InvokeMethod("append", ps).Dispose();
                    foreach (var d in s.Python.SiteDirs)
                        using (var ds = new PyString(d)) site.InvokeMethod("addsitedir", ds).Dispose();
                    for (int i = s.ExtraPaths.Length - 1; i >= 0; i--)
                        using (var zero = new PyInt(0))
                        using (var es = new PyString(s.ExtraPaths[i]))
                            path.InvokeMethod("insert", zero, es).Dispose();
                }
                mainThreadState = PythonEngine.BeginAllowThreads();
                initialised = true;
            }
        }

        /// <summary>
        /// Ends the embedded interpreter, e.g. at application exit (close every session first).
        /// CPython cannot be started again in this process afterwards.
        /// </summary>
        public static void ShutdownPython()
        {
            lock (InitLock)
            {
                if (!initialised || shutDown) return;
                PythonEngine.EndAllowThreads(mainThreadState);
                PythonEngine.Shutdown();
                shutDown = true;
            }
        }

        public void Open()
        {
            if (open) return;
            EnsureEngine(settings);
            using (Py.GIL())
            {
                try
                {
                    using (var scope = Py.CreateScope())
                    {
                        scope.Exec(HelperSource);
                        using (var cls = scope.Get("Host"))
                        using (var a = new PyFloat(settings.Dt))
                        using (var b = new PyString(settings.Backend))
                        using (var c = new PyInt(settings.Seed))
                        using (var d = new PyInt(settings.MaxSubsteps))
                        using (var e = new PyString(settings.SnapshotDir))
                            host = cls.Invoke(a, b, c, d, e);
                    }
                    advanceFn = host.GetAttr("advance");
                }
                catch (PythonException e)
                {
                    throw new SpikeforgeException("python", "in-process world failed to start: " + e.Message, e);
                }
                RefreshLayout();
            }
            open = true;
        }

        void CheckOpen()
        {
            if (!open) throw new SpikeforgeException("closed", "session is not open; call Open() first");
        }

        // Caller holds the GIL.
        string CallHost(string what, string method, params PyObject[] args)
        {
            try
            {
                using (var r = host.InvokeMethod(method, args))
                    return r.IsNone() ? null : r.ToString();
            }
            catch (PythonException e)
            {
                throw new SpikeforgeException(what, what + ": " + e.Message, e);
            }
            finally
            {
                foreach (var a in args) a.Dispose();
            }
        }

        // Caller holds the GIL.
        void RefreshLayout()
        {
            var doc = Json.ParseObject(CallHost("layout", "layout_json"));
            var gl = Json.GetList(doc, "groups", "layout");
            var groups = new BrainGroup[gl.Count];
            for (int g = 0; g < groups.Length; g++)
            {
                var row = (List<object>)gl[g];
                var idl = (List<object>)row[1];
                var ids = new long[idl.Count];
                for (int i = 0; i < ids.Length; i++) ids[i] = (long)idl[i];
                groups[g] = new BrainGroup((string)row[0], ids);
            }
            var next = new WorldLayout(++epoch, groups, Blocks(doc, "sensors"), Blocks(doc, "actuators"),
                                       (int)Json.GetLong(doc, "sensor_len", "layout"), (int)Json.GetLong(doc, "actuator_len", "layout"));
            sensorPtr = (float*)new IntPtr(Json.GetLong(doc, "sensor_ptr", "layout")).ToPointer();
            actuatorPtr = (float*)new IntPtr(Json.GetLong(doc, "actuator_ptr", "layout")).ToPointer();
            infoPtr = (double*)new IntPtr(Json.GetLong(doc, "info_ptr", "layout")).ToPointer();
            dt = Json.GetDouble(doc, "dt", "layout");
            maxSubsteps = (int)Json.GetLong(doc, "max_substeps", "layout");
            version = Json.GetString(doc, "version", "layout");
            layout = next;
            // The world's values are the truth after a re-layout: they moved with their brains.
            sensors = new float[next.SensorLength];
            actuators = new float[next.ActuatorLength];
            for (int i = 0; i < sensors.Length; i++) sensors[i] = sensorPtr[i];
            for (int i = 0; i < actuators.Length; i++) actuators[i] = actuatorPtr[i];
        }

        static OrganBlock[] Blocks(Dictionary<string, object> doc, string key)
        {
            var l = Json.GetList(doc, key, "layout");
            var res = new OrganBlock[l.Count];
            for (int i = 0; i < res.Length; i++)
            {
                var r = (List<object>)l[i];
                res[i] = new OrganBlock((string)r[0], (string)r[1], (int)(long)r[2], (int)(long)r[3], (int)(long)r[4]);
            }
            return res;
        }

        /// <summary>Writes the sensor array into the world's numpy sensor array (raw copy).</summary>
        void PushSensors()
        {
            long n = 4L * sensors.Length;
            if (n == 0) return;
            fixed (float* src = sensors) Buffer.MemoryCopy(src, sensorPtr, n, n);
        }

        static CircuitInfo ParseCircuit(Dictionary<string, object> d)
        {
            Func<string, OrganSpec[]> organs = key =>
            {
                var l = Json.GetList(d, key, "circuit");
                var res = new OrganSpec[l.Count];
                for (int i = 0; i < res.Length; i++)
                {
                    var r = (List<object>)l[i];
                    res[i] = new OrganSpec((string)r[0], (int)(long)r[1], (float)Convert.ToDouble(r[2], CultureInfo.InvariantCulture),
                                           (float)Convert.ToDouble(r[3], CultureInfo.InvariantCulture));
                }
                return res;
            };
            var pl = Json.GetList(d, "populations", "circuit");
            var pops = new KeyValuePair<string, int>[pl.Count];
            for (int i = 0; i < pops.Length; i++)
            {
                var r = (List<object>)pl[i];
                pops[i] = new KeyValuePair<string, int>((string)r[0], (int)(long)r[1]);
            }
            return new CircuitInfo(Json.GetString(d, "name", "circuit"), (int)Json.GetLong(d, "neurons", "circuit"),
                                   organs("sensors"), organs("actuators"), pops);
        }

        public CircuitInfo[] ListCircuits()
        {
            CheckOpen();
            string text;
            using (Py.GIL()) text = CallHost("circuits", "circuits_json");
            var l = Json.Parse(text) as List<object>;
            var res = new CircuitInfo[l.Count];
            for (int i = 0; i < res.Length; i++) res[i] = ParseCircuit((Dictionary<string, object>)l[i]);
            return res;
        }

        public CircuitInfo UploadGenome(string genomeJson)
        {
            CheckOpen();
            if (genomeJson == null) throw new ArgumentNullException("genomeJson");
            string text;
            using (Py.GIL()) text = CallHost("GENOME", "upload", new PyString(genomeJson));
            return ParseCircuit(Json.ParseObject(text));
        }

        public long[] Spawn(string circuit, int count)
        {
            CheckOpen();
            if (string.IsNullOrEmpty(circuit)) throw new ArgumentException("circuit: must name a circuit");
            if (count < 1 || count > 10000) throw new ArgumentException("count: must be 1..10000 per request, got " + count);
            using (Py.GIL())
            {
                PushSensors();
                string ids = CallHost("spawn", "spawn", new PyString(circuit), new PyInt(count));
                RefreshLayout();
                var list = (List<object>)Json.Parse(ids);
                var res = new long[list.Count];
                for (int i = 0; i < res.Length; i++) res[i] = (long)list[i];
                return res;
            }
        }

        public void Despawn(long[] brainIds)
        {
            CheckOpen();
            if (brainIds == null) throw new ArgumentNullException("brainIds");
            using (Py.GIL())
            {
                PushSensors();
                CallHost("despawn", "despawn", new PyString(Json.Write(brainIds)));
                RefreshLayout();
            }
        }

        public void Claim(long[] brainIds)
        {
            CheckOpen();
            using (Py.GIL()) CallHost("claim", "claim", new PyString(Json.Write(brainIds ?? new long[0])));
        }

        public int Subscribe(string population, long[] brainIds)
        {
            CheckOpen();
            population = population ?? "";
            int id;
            using (Py.GIL())
                id = int.Parse(CallHost("subscribe", "subscribe", new PyString(population), new PyString(Json.Write(brainIds ?? new long[0]))),
                               CultureInfo.InvariantCulture);
            subscriptions.Add(new SpikeBatch(id, population));
            return id;
        }

        public void Unsubscribe(int subscriptionId)
        {
            CheckOpen();
            int i = subscriptions.FindIndex(s => s.SubscriptionId == subscriptionId);
            if (i < 0) throw new ArgumentException("subscriptionId: no subscription " + subscriptionId + " in this session");
            using (Py.GIL()) CallHost("unsubscribe", "unsubscribe", new PyInt(subscriptionId));
            subscriptions.RemoveAt(i);
        }

        public SpikeBatch GetSpikes(int subscriptionId)
        {
            foreach (var s in subscriptions) if (s.SubscriptionId == subscriptionId) return s;
            throw new ArgumentException("subscriptionId: no subscription " + subscriptionId + " in this session");
        }

        public FrameInfo Exchange(double frameDt)
        {
            CheckOpen();
            if (!(frameDt >= 0 && frameDt <= 1))
                throw new ArgumentException("frameDt: must be a finite number in 0..1 s, got " + frameDt.ToString(CultureInfo.InvariantCulture));
            for (int i = 0; i < sensors.Length; i++)
            {
                float v = sensors[i];
                if (float.IsNaN(v) || float.IsInfinity(v))
                    throw new ArgumentException("sensors[" + i + "]: " + v.ToString(CultureInfo.InvariantCulture) + " is not finite");
            }
            using (Py.GIL())
            {
                PushSensors();
                try
                {
                    using (var a = new PyFloat(frameDt)) advanceFn.Invoke(a).Dispose();
                }
                catch (PythonException e)
                {
                    throw new SpikeforgeException("advance", "advance: " + e.Message, e);
                }
                long na = 4L * actuators.Length;
                if (na > 0) fixed (float* dst = actuators) Buffer.MemoryCopy(actuatorPtr, dst, na, na);
                var info = new FrameInfo { Steps = (int)infoPtr[0], Alpha = infoPtr[1], SimMicroseconds = infoPtr[2] };
                for (int k = 0; k < subscriptions.Count; k++)
                {
                    var b = subscriptions[k];
                    double* slot = infoPtr + 3 + 4 * k;
                    int n = (int)slot[0];
                    b.Count = 0;
                    b.Truncated = false;
                    if (n == 0) continue;
                    b.EnsureCapacity(n);
                    long* st = (long*)new IntPtr((long)slot[1]).ToPointer();
                    long* br = (long*)new IntPtr((long)slot[2]).ToPointer();
                    int* ne = (int*)new IntPtr((long)slot[3]).ToPointer();
                    for (int i = 0; i < n; i++)
                    {
                        b.Steps[i] = st[i];
                        b.Brains[i] = br[i];
                        b.Neurons[i] = ne[i];
                    }
                    b.Count = n;
                }
                exchanges++;
                return info;
            }
        }

        public void Reward(long[] brainIds, float[] values)
        {
            CheckOpen();
            if (brainIds == null || values == null) throw new ArgumentNullException(brainIds == null ? "brainIds" : "values");
            if (brainIds.Length != values.Length)
                throw new ArgumentException("values: " + values.Length + " rewards for " + brainIds.Length + " brains");
            for (int i = 0; i < values.Length; i++)
                if (float.IsNaN(values[i]) || float.IsInfinity(values[i]))
                    throw new ArgumentException("values[" + i + "]: reward must be finite");
            using (Py.GIL()) CallHost("reward", "reward", new PyString(Json.Write(brainIds)), new PyString(Json.Write(values)));
        }

        public void SetLearning(bool enabled)
        {
            CheckOpen();
            using (Py.GIL()) CallHost("learning", "set_learning", enabled ? PyObject.FromManagedObject(true) : PyObject.FromManagedObject(false));
        }

        public void Save(string name)
        {
            CheckOpen();
            using (Py.GIL())
            {
                PushSensors();
                CallHost("IO", "save", new PyString(name ?? ""));
            }
        }

        public void Load(string name)
        {
            CheckOpen();
            using (Py.GIL())
            {
                CallHost("IO", "load", new PyString(name ?? ""));
                advanceFn.Dispose();
                advanceFn = host.GetAttr("advance");
                RefreshLayout();
            }
        }

        public string Stats()
        {
            CheckOpen();
            using (Py.GIL()) return CallHost("stats", "stats");
        }

        public void Close(bool keepBrains)
        {
            if (!open) return;
            open = false;
            using (Py.GIL())
            {
                advanceFn.Dispose();
                host.Dispose();
                advanceFn = null;
                host = null;
            }
            sensorPtr = actuatorPtr = null;
            infoPtr = null;
            layout = WorldLayout.Empty;
            sensors = new float[0];
            actuators = new float[0];
        }

        public void Dispose() { Close(false); }
    }
}
