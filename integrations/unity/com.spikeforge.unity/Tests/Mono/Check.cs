// Tiny assertion helpers for the Mono-run test programs (no NUnit here: mcs + mono only).
using System;
using System.Globalization;

namespace Spikeforge.Tests
{
    public static class Check
    {
        public static int Passed;

        public static void True(bool cond, string what)
        {
            if (!cond) throw new Exception("FAILED: " + what);
            Passed++;
        }

        public static void Equal(long expected, long actual, string what)
        {
            if (expected != actual) throw new Exception("FAILED: " + what + ": expected " + expected + ", got " + actual);
            Passed++;
        }

        public static void Equal(string expected, string actual, string what)
        {
            if (expected != actual) throw new Exception("FAILED: " + what + ": expected '" + expected + "', got '" + actual + "'");
            Passed++;
        }

        /// <summary>Bit-equality of two float arrays (the reference comparison: no tolerance).</summary>
        public static void BitEqual(float[] expected, float[] actual, string what)
        {
            if (expected.Length != actual.Length) throw new Exception("FAILED: " + what + ": length " + actual.Length + ", expected " + expected.Length);
            for (int i = 0; i < expected.Length; i++)
                if (BitConverter.ToInt32(BitConverter.GetBytes(expected[i]), 0) != BitConverter.ToInt32(BitConverter.GetBytes(actual[i]), 0))
                    throw new Exception("FAILED: " + what + "[" + i + "]: expected " + expected[i].ToString("R", CultureInfo.InvariantCulture) +
                                        ", got " + actual[i].ToString("R", CultureInfo.InvariantCulture));
            Passed++;
        }

        public static T Throws<T>(Action a, string what) where T : Exception
        {
            try { a(); }
            catch (T e) { Passed++; return e; }
            catch (Exception e) { throw new Exception("FAILED: " + what + ": expected " + typeof(T).Name + ", got " + e.GetType().Name + ": " + e.Message); }
            throw new Exception("FAILED: " + what + ": expected " + typeof(T).Name + ", nothing was thrown");
        }

        public static string Arg(string[] args, string name, string fallback)
        {
            for (int i = 0; i + 1 < args.Length; i++) if (args[i] == name) return args[i + 1];
            if (fallback == null) throw new ArgumentException("missing argument " + name);
            return fallback;
        }
    }
}
