// A small, strict JSON reader/writer for the control messages of the spikeforge protocol
// (handshake, spawn replies, layouts). Bulk arrays never go through JSON.
// No UnityEngine dependency: JsonUtility cannot read free-form objects.
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace Spikeforge.Client
{
    /// <summary>Raised when a JSON document is malformed or a field has the wrong type.</summary>
    public sealed class JsonFormatException : FormatException
    {
        public JsonFormatException(string message) : base(message) { }
    }

    /// <summary>
    /// Parses JSON text into <see cref="Dictionary{String,Object}"/>, <see cref="List{Object}"/>,
    /// <see cref="string"/>, <see cref="double"/>, <see cref="long"/>, <see cref="bool"/> and null.
    /// Integers without fraction or exponent become <c>long</c>; other numbers <c>double</c>.
    /// </summary>
    public static class Json
    {
        public static object Parse(string text)
        {
            if (text == null) throw new ArgumentNullException("text");
            int i = 0;
            object value = ParseValue(text, ref i);
            SkipWs(text, ref i);
            if (i != text.Length) throw new JsonFormatException("json: trailing characters at offset " + i);
            return value;
        }

        public static Dictionary<string, object> ParseObject(string text)
        {
            var obj = Parse(text) as Dictionary<string, object>;
            if (obj == null) throw new JsonFormatException("json: expected an object at the top level");
            return obj;
        }

        static void SkipWs(string s, ref int i)
        {
            while (i < s.Length && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
        }

        static object ParseValue(string s, ref int i)
        {
            SkipWs(s, ref i);
            if (i >= s.Length) throw new JsonFormatException("json: unexpected end of text");
            char c = s[i];
            if (c == '{') return ParseObj(s, ref i);
            if (c == '[') return ParseArr(s, ref i);
            if (c == '"') return ParseString(s, ref i);
            if (c == 't') { Expect(s, ref i, "true"); return true; }
            if (c == 'f') { Expect(s, ref i, "false"); return false; }
            if (c == 'n') { Expect(s, ref i, "null"); return null; }
            return ParseNumber(s, ref i);
        }

        static void Expect(string s, ref int i, string word)
        {
            if (string.CompareOrdinal(s, i, word, 0, word.Length) != 0)
                throw new JsonFormatException("json: unexpected token at offset " + i);
            i += word.Length;
        }

        static Dictionary<string, object> ParseObj(string s, ref int i)
        {
            var d = new Dictionary<string, object>();
            i++;
            SkipWs(s, ref i);
            if (i < s.Length && s[i] == '}') { i++; return d; }
            while (true)
            {
                SkipWs(s, ref i);
                if (i >= s.Length || s[i] != '"') throw new JsonFormatException("json: expected a key at offset " + i);
                string key = ParseString(s, ref i);
                SkipWs(s, ref i);
                if (i >= s.Length || s[i] != ':') throw new JsonFormatException("json: expected ':' at offset " + i);
                i++;
                d[key] = ParseValue(s, ref i);
                SkipWs(s, ref i);
                if (i >= s.Length) throw new JsonFormatException("json: unterminated object");
                if (s[i] == ',') { i++; continue; }
                if (s[i] == '}') { i++; return d; }
                throw new JsonFormatException("json: expected ',' or '}' at offset " + i);
            }
        }

        static List<object> ParseArr(string s, ref int i)
        {
            var list = new List<object>();
            i++;
            SkipWs(s, ref i);
            if (i < s.Length && s[i] == ']') { i++; return list; }
            while (true)
            {
                list.Add(ParseValue(s, ref i));
                SkipWs(s, ref i);
                if (i >= s.Length) throw new JsonFormatException("json: unterminated array");
                if (s[i] == ',') { i++; continue; }
                if (s[i] == ']') { i++; return list; }
                throw new JsonFormatException("json: expected ',' or ']' at offset " + i);
            }
        }

        static string ParseString(string s, ref int i)
        {
            var sb = new StringBuilder();
            i++;
            while (i < s.Length)
            {
                char c = s[i++];
                if (c == '"') return sb.ToString();
                if (c != '\\') { sb.Append(c); continue; }
                if (i >= s.Length) break;
                char e = s[i++];
                switch (e)
                {
                    case '"': sb.Append('"'); break;
                    case '\\': sb.Append('\\'); break;
                    case '/': sb.Append('/'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'n': sb.Append('\n'); break;
                    case 'r': sb.Append('\r'); break;
                    case 't': sb.Append('\t'); break;
                    case 'u':
                        if (i + 4 > s.Length) throw new JsonFormatException("json: bad \\u escape");
                        sb.Append((char)int.Parse(s.Substring(i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        i += 4;
                        break;
                    default: throw new JsonFormatException("json: bad escape \\" + e);
                }
            }
            throw new JsonFormatException("json: unterminated string");
        }

        static object ParseNumber(string s, ref int i)
        {
            int start = i;
            bool integer = true;
            if (i < s.Length && s[i] == '-') i++;
            while (i < s.Length)
            {
                char c = s[i];
                if (c >= '0' && c <= '9') { i++; continue; }
                if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') { integer = false; i++; continue; }
                break;
            }
            if (i == start) throw new JsonFormatException("json: unexpected character '" + s[start] + "' at offset " + start);
            string tok = s.Substring(start, i - start);
            long l;
            if (integer && long.TryParse(tok, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out l)) return l;
            double d;
            if (!double.TryParse(tok, NumberStyles.Float, CultureInfo.InvariantCulture, out d))
                throw new JsonFormatException("json: bad number '" + tok + "'");
            return d;
        }

        // ------------------------------------------------------------------ writing
        public static string Write(object value)
        {
            var sb = new StringBuilder();
            WriteValue(sb, value);
            return sb.ToString();
        }

        static void WriteValue(StringBuilder sb, object v)
        {
            if (v == null) { sb.Append("null"); return; }
            var str = v as string;
            if (str != null) { WriteString(sb, str); return; }
            if (v is bool) { sb.Append((bool)v ? "true" : "false"); return; }
            if (v is int || v is long || v is short || v is uint || v is ulong)
            {
                sb.Append(Convert.ToString(v, CultureInfo.InvariantCulture)); return;
            }
            if (v is float || v is double)
            {
                double d = Convert.ToDouble(v, CultureInfo.InvariantCulture);
                if (double.IsNaN(d) || double.IsInfinity(d)) throw new JsonFormatException("json: cannot write non-finite number " + d);
                sb.Append(d.ToString("R", CultureInfo.InvariantCulture)); return;
            }
            var dict = v as IDictionary<string, object>;
            if (dict != null)
            {
                sb.Append('{');
                bool first = true;
                foreach (var kv in dict)
                {
                    if (!first) sb.Append(',');
                    first = false;
                    WriteString(sb, kv.Key);
                    sb.Append(':');
                    WriteValue(sb, kv.Value);
                }
                sb.Append('}');
                return;
            }
            var seq = v as System.Collections.IEnumerable;
            if (seq != null)
            {
                sb.Append('[');
                bool first = true;
                foreach (var item in seq)
                {
                    if (!first) sb.Append(',');
                    first = false;
                    WriteValue(sb, item);
                }
                sb.Append(']');
                return;
            }
            throw new JsonFormatException("json: cannot write a value of type " + v.GetType().Name);
        }

        static void WriteString(StringBuilder sb, string s)
        {
            sb.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    default:
                        if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                        else sb.Append(c);
                        break;
                }
            }
            sb.Append('"');
        }

        // ------------------------------------------------------------------ typed access
        public static object Field(Dictionary<string, object> obj, string key, string where)
        {
            object v;
            if (!obj.TryGetValue(key, out v)) throw new JsonFormatException(where + "." + key + ": missing");
            return v;
        }

        public static long GetLong(Dictionary<string, object> obj, string key, string where)
        {
            object v = Field(obj, key, where);
            if (v is long) return (long)v;
            throw new JsonFormatException(where + "." + key + ": expected an integer, got " + Describe(v));
        }

        public static double GetDouble(Dictionary<string, object> obj, string key, string where)
        {
            object v = Field(obj, key, where);
            if (v is long) return (long)v;
            if (v is double) return (double)v;
            throw new JsonFormatException(where + "." + key + ": expected a number, got " + Describe(v));
        }

        public static string GetString(Dictionary<string, object> obj, string key, string where)
        {
            var s = Field(obj, key, where) as string;
            if (s == null) throw new JsonFormatException(where + "." + key + ": expected a string");
            return s;
        }

        public static bool GetBool(Dictionary<string, object> obj, string key, string where)
        {
            object v = Field(obj, key, where);
            if (v is bool) return (bool)v;
            throw new JsonFormatException(where + "." + key + ": expected true or false, got " + Describe(v));
        }

        public static List<object> GetList(Dictionary<string, object> obj, string key, string where)
        {
            var l = Field(obj, key, where) as List<object>;
            if (l == null) throw new JsonFormatException(where + "." + key + ": expected an array");
            return l;
        }

        public static Dictionary<string, object> GetObject(Dictionary<string, object> obj, string key, string where)
        {
            var o = Field(obj, key, where) as Dictionary<string, object>;
            if (o == null) throw new JsonFormatException(where + "." + key + ": expected an object");
            return o;
        }

        public static long[] GetLongArray(Dictionary<string, object> obj, string key, string where)
        {
            var l = GetList(obj, key, where);
            var a = new long[l.Count];
            for (int k = 0; k < a.Length; k++)
            {
                if (!(l[k] is long)) throw new JsonFormatException(where + "." + key + "[" + k + "]: expected an integer");
                a[k] = (long)l[k];
            }
            return a;
        }

        static string Describe(object v)
        {
            return v == null ? "null" : v.GetType().Name;
        }
    }
}
