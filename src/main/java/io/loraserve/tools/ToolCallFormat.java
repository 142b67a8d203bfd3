package io.loraserve.tools;

import io.loraserve.constraint.ConstraintSpec;
import jakarta.json.Json;
import jakarta.json.JsonArray;
import jakarta.json.JsonArrayBuilder;
import jakarta.json.JsonObject;
import jakarta.json.JsonObjectBuilder;
import jakarta.json.JsonReader;
import jakarta.json.JsonString;
import jakarta.json.JsonValue;
import java.io.StringReader;
import java.util.ArrayList;
import java.util.List;

/**
 * How a model family writes tool calls, as vLLM's {@code --tool-call-parser} names them: reading
 * the calls out of generated text ({@link #parse}) and the constraint that makes the model write
 * calls that parse and whose arguments match the tools' schemas ({@link #constraint}).
 * <ul>
 * <li>{@code hermes} (Hermes, Qwen 2.5/3): {@code <tool_call>\n{"name": …, "arguments": {…}}\n</tool_call>},
 *     one block per call; text before the first block is content.</li>
 * <li>{@code llama3_json} (Llama 3.1+): the whole output is {@code {"name": …, "parameters": {…}}}
 *     (after an optional {@code <|python_tag|>}), several calls separated by {@code ; }.</li>
 * <li>{@code mistral}: {@code [TOOL_CALLS]} then a JSON list of {@code {"name": …, "arguments": {…}}};
 *     text before it is content.</li>
 * </ul>
 * Output that does not parse as calls is content, as vLLM's parsers answer.
 */
public enum ToolCallFormat {
    HERMES("hermes", "arguments"),
    LLAMA3_JSON("llama3_json", "parameters"),
    MISTRAL("mistral", "arguments");

    /** What the model wrote: the text outside the calls (null when empty) and the calls in order. */
    public record Parsed(String content, List<ToolCall> calls) {
    }

    private static final String HERMES_OPEN = "<tool_call>";
    private static final String HERMES_CLOSE = "</tool_call>";
    private static final String PYTHON_TAG = "<|python_tag|>";
    private static final String MISTRAL_TAG = "[TOOL_CALLS]";

    private final String flag;
    private final String argumentsKey;

    ToolCallFormat(String flag, String argumentsKey) {
        this.flag = flag;
        this.argumentsKey = argumentsKey;
    }

    /** The {@code --tool-call-parser} value. */
    public String flag() {
        return flag;
    }

    /** The format a {@code --tool-call-parser} value names; IllegalArgumentException for others. */
    public static ToolCallFormat of(String flag) {
        for (ToolCallFormat f : values()) {
            if (f.flag.equals(flag)) {
                return f;
            }
        }
        throw new IllegalArgumentException("unknown tool-call parser '" + flag + "'");
    }

    /** The {@code --tool-call-parser} values, for help and errors. */
    public static String flags() {
        return String.join("|", java.util.Arrays.stream(values()).map(ToolCallFormat::flag).toList());
    }

    /** The calls in {@code text}; no calls (and all of {@code text} as content) when it holds none that parse. */
    public Parsed parse(String text) {
        List<ToolCall> calls = switch (this) {
            case HERMES -> hermes(text);
            case LLAMA3_JSON -> llama3(text);
            case MISTRAL -> mistral(text);
        };
        if (calls == null || calls.isEmpty()) {
            return new Parsed(text, List.of());
        }
        int at = switch (this) {
            case HERMES -> text.indexOf(HERMES_OPEN);
            case LLAMA3_JSON -> 0;
            case MISTRAL -> text.indexOf(MISTRAL_TAG);
        };
        String content = text.substring(0, at).strip();
        return new Parsed(content.isEmpty() ? null : content, calls);
    }

    private List<ToolCall> hermes(String text) {
        List<ToolCall> calls = new ArrayList<>();
        int at = text.indexOf(HERMES_OPEN);
        while (at >= 0) {
            int body = at + HERMES_OPEN.length();
            int end = text.indexOf(HERMES_CLOSE, body);
            ToolCall c = call(text.substring(body, end < 0 ? text.length() : end));
            if (c == null) {
                return null;
            }
            calls.add(c);
            if (end < 0) {
                break;
            }
            at = text.indexOf(HERMES_OPEN, end + HERMES_CLOSE.length());
        }
        return calls;
    }

    private List<ToolCall> llama3(String text) {
        String s = text.strip();
        if (s.startsWith(PYTHON_TAG)) {
            s = s.substring(PYTHON_TAG.length()).strip();
        }
        if (!s.startsWith("{")) {
            return null;
        }
        List<ToolCall> calls = new ArrayList<>();
        int from = 0;
        while (true) {
            int end = JsonScan.valueEnd(s, from);
            ToolCall c = end < 0 ? null : call(s.substring(from, end));
            if (c == null) {
                return null;
            }
            calls.add(c);
            String rest = s.substring(end).strip();
            if (rest.isEmpty()) {
                return calls;
            }
            if (!rest.startsWith(";")) {
                return null;
            }
            s = rest.substring(1).strip();
            from = 0;
        }
    }

    private List<ToolCall> mistral(String text) {
        int at = text.indexOf(MISTRAL_TAG);
        if (at < 0) {
            return null;
        }
        JsonValue v = read(text.substring(at + MISTRAL_TAG.length()));
        if (v instanceof JsonObject) {
            v = Json.createArrayBuilder().add(v).build();
        }
        if (!(v instanceof JsonArray list)) {
            return null;
        }
        List<ToolCall> calls = new ArrayList<>();
        for (JsonValue e : list) {
            ToolCall c = e instanceof JsonObject o ? call(o) : null;
            if (c == null) {
                return null;
            }
            calls.add(c);
        }
        return calls;
    }

    private ToolCall call(String json) {
        return read(json) instanceof JsonObject o ? call(o) : null;
    }

    /** {@code {"name": …, argumentsKey: {…}}}; "arguments" and "parameters" are both taken, as vLLM does. */
    private ToolCall call(JsonObject o) {
        if (!(o.get("name") instanceof JsonString name)) {
            return null;
        }
        JsonValue args = o.get(argumentsKey);
        if (args == null) {
            args = o.get(argumentsKey.equals("arguments") ? "parameters" : "arguments");
        }
        if (args instanceof JsonString s && read(s.getString()) instanceof JsonObject parsed) {
            args = parsed;
        }
        if (args == null) {
            args = JsonValue.EMPTY_JSON_OBJECT;
        }
        return args instanceof JsonObject ? new ToolCall(name.getString(), args.toString()) : null;
    }

    private static JsonValue read(String json) {
        try (JsonReader r = Json.createReader(new StringReader(json.strip()))) {
            return r.readValue();
        } catch (RuntimeException e) {
            return null;
        }
    }

    /**
     * What the model may write when it must call a tool: calls naming one of {@code tools} with
     * arguments valid under that tool's parameters schema, in this format; more than one call only
     * when {@code parallel}.
     */
    public ConstraintSpec constraint(List<Tool> tools, boolean parallel) {
        JsonArrayBuilder anyCall = Json.createArrayBuilder();
        for (Tool t : tools) {
            anyCall.add(Json.createObjectBuilder().add("type", "object")
                    .add("properties", Json.createObjectBuilder()
                            .add("name", Json.createObjectBuilder().add("const", t.name()))
                            .add(argumentsKey, t.parameters()))
                    .add("required", Json.createArrayBuilder().add("name").add(argumentsKey))
                    .add("additionalProperties", false));
        }
        JsonObject call = Json.createObjectBuilder().add("anyOf", anyCall).build();
        int max = parallel ? -1 : 1;
        return switch (this) {
            case HERMES -> ConstraintSpec.framedJson(HERMES_OPEN + "\n", call, "\n" + HERMES_CLOSE, "\n", max);
            case LLAMA3_JSON -> ConstraintSpec.framedJson("", call, "", "; ", max);
            case MISTRAL -> {
                JsonObjectBuilder list = Json.createObjectBuilder().add("type", "array").add("items", call)
                        .add("minItems", 1);
                if (!parallel) {
                    list.add("maxItems", 1);
                }
                yield ConstraintSpec.framedJson(MISTRAL_TAG, list.build(), "", "", 1);
            }
        };
    }
}
