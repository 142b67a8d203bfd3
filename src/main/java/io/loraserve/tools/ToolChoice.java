package io.loraserve.tools;

import jakarta.json.JsonObject;
import jakarta.json.JsonString;
import jakarta.json.JsonValue;
import java.util.List;

/**
 * OpenAI's {@code tool_choice}: {@code none} (answer in text), {@code auto} (the model decides),
 * {@code required} (at least one call), or one named function
 * {@code {"type":"function","function":{"name":…}}}. Absent, it is {@code auto} when tools are given
 * and {@code none} otherwise, as in OpenAI's API and vLLM.
 *
 * @param function the named function's name ({@link Mode#NAMED}), else null
 */
public record ToolChoice(Mode mode, String function) {
    public enum Mode { NONE, AUTO, REQUIRED, NAMED }

    /** {@code v} null = absent; {@code tools} the request's tools (empty = none given). */
    public static ToolChoice parse(JsonValue v, List<Tool> tools) {
        if (v == null || v == JsonValue.NULL) {
            return new ToolChoice(tools.isEmpty() ? Mode.NONE : Mode.AUTO, null);
        }
        ToolChoice c;
        if (v instanceof JsonString s) {
            c = switch (s.getString()) {
                case "none" -> new ToolChoice(Mode.NONE, null);
                case "auto" -> new ToolChoice(Mode.AUTO, null);
                case "required" -> new ToolChoice(Mode.REQUIRED, null);
                default -> throw new ToolException("tool_choice", "'tool_choice' must be none, auto, required or"
                        + " {\"type\":\"function\",\"function\":{\"name\":…}}, not '" + s.getString() + "'");
            };
        } else if (v instanceof JsonObject o && o.get("function") instanceof JsonObject f
                && f.get("name") instanceof JsonString n && (o.get("type") == null
                || o.get("type") instanceof JsonString t && t.getString().equals("function"))) {
            if (tools.stream().noneMatch(t -> t.name().equals(n.getString()))) {
                throw new ToolException("tool_choice", "'tool_choice' names the function '" + n.getString()
                        + "', which is not in 'tools'");
            }
            c = new ToolChoice(Mode.NAMED, n.getString());
        } else {
            throw new ToolException("tool_choice", "'tool_choice' must be none, auto, required or"
                    + " {\"type\":\"function\",\"function\":{\"name\":…}}");
        }
        if (c.mode() != Mode.NONE && tools.isEmpty()) {
            throw new ToolException("tool_choice", "'tool_choice' other than none needs 'tools'");
        }
        return c;
    }

    /** The tools a call may name under this choice. */
    public List<Tool> callable(List<Tool> tools) {
        return mode == Mode.NAMED ? tools.stream().filter(t -> t.name().equals(function)).toList() : tools;
    }
}
