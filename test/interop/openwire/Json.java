import java.util.Base64;
import java.util.List;
import java.util.Map;

/** Just enough JSON for the driver's report lines: maps, lists, strings, numbers, booleans, null, bytes (base64). */
final class Json {
  private Json() {}

  static String of(Object value) {
    StringBuilder out = new StringBuilder();
    write(out, value);
    return out.toString();
  }

  private static void write(StringBuilder out, Object value) {
    if (value == null) {
      out.append("null");
    } else if (value instanceof String || value instanceof Character) {
      string(out, value.toString());
    } else if (value instanceof Float || value instanceof Double) {
      double d = ((Number) value).doubleValue();
      // NaN and infinities have no JSON form; the string keeps them visible
      if (Double.isNaN(d) || Double.isInfinite(d)) string(out, value.toString());
      else out.append(value.toString());
    } else if (value instanceof Number || value instanceof Boolean) {
      out.append(value.toString());
    } else if (value instanceof byte[]) {
      string(out, Base64.getEncoder().encodeToString((byte[]) value));
    } else if (value instanceof Map) {
      out.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> e : ((Map<?, ?>) value).entrySet()) {
        if (!first) out.append(',');
        first = false;
        string(out, String.valueOf(e.getKey()));
        out.append(':');
        write(out, e.getValue());
      }
      out.append('}');
    } else if (value instanceof List) {
      out.append('[');
      boolean first = true;
      for (Object item : (List<?>) value) {
        if (!first) out.append(',');
        first = false;
        write(out, item);
      }
      out.append(']');
    } else {
      string(out, value.toString());
    }
  }

  private static void string(StringBuilder out, String s) {
    out.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"': out.append("\\\""); break;
        case '\\': out.append("\\\\"); break;
        case '\n': out.append("\\n"); break;
        case '\r': out.append("\\r"); break;
        case '\t': out.append("\\t"); break;
        default:
          if (c < 0x20) out.append(String.format("\\u%04x", (int) c));
          else out.append(c);
      }
    }
    out.append('"');
  }
}
