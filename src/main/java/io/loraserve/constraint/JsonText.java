package io.loraserve.constraint;

import jakarta.json.JsonArray;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonString;
import jakarta.json.JsonValue;
import java.util.Map;

/** JSON values written as {@link JsonSchemaCompiler}'s outputs are: separators ", " and ": ", nothing else. */
final class JsonText {
    private JsonText() {
    }

    static String write(JsonValue v) {
        StringBuilder b = new StringBuilder();
        write(v, b);
        return b.toString();
    }

    private static void write(JsonValue v, StringBuilder b) {
        switch (v) {
            case JsonString s -> quote(s.getString(), b);
            case JsonNumber n -> b.append(n);
            case JsonArray a -> {
                b.append('[');
                for (int i = 0; i < a.size(); i++) {
                    b.append(i == 0 ? "" : ", ");
                    write(a.get(i), b);
                }
                b.append(']');
            }
            case JsonObject o -> {
                b.append('{');
                boolean first = true;
                for (Map.Entry<String, JsonValue> e : o.entrySet()) {
                    b.append(first ? "" : ", ");
                    first = false;
                    quote(e.getKey(), b);
                    b.append(": ");
                    write(e.getValue(), b);
                }
                b.append('}');
            }
            default -> b.append(v);  // true, false, null
        }
    }

    private static void quote(String s, StringBuilder b) {
        b.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        b.append('"');
    }
}
