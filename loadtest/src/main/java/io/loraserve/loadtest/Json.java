package io.loraserve.loadtest;

import java.util.Map;
import java.util.stream.Collectors;

/** Minimal JSON rendering of nested maps, numbers and strings for benchmark reports. */
final class Json {
    private Json() {
    }

    static String of(Object v) {
        if (v instanceof Map<?, ?> m) {
            return m.entrySet().stream().map(e -> quote(e.getKey().toString()) + ":" + of(e.getValue()))
                    .collect(Collectors.joining(",", "{", "}"));
        }
        if (v == null || v instanceof Double d && !Double.isFinite(d) || v instanceof Float f && !Float.isFinite(f)) {
            return "null";  // JSON has no NaN or infinity
        }
        if (v instanceof Number || v instanceof Boolean) {
            return v.toString();
        }
        return quote(String.valueOf(v));
    }

    private static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }
}
