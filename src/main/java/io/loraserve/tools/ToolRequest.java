package io.loraserve.tools;

import jakarta.json.JsonValue;
import java.util.List;

/**
 * The tool-calling fields of a chat body: {@code tools}, {@code tool_choice} and
 * {@code parallel_tool_calls} (default true: several calls allowed in one answer).
 */
public record ToolRequest(List<Tool> tools, ToolChoice choice, boolean parallel) {
    /** No tools: answers are text. */
    public static final ToolRequest NONE = new ToolRequest(List.of(), new ToolChoice(ToolChoice.Mode.NONE, null), true);

    /**
     * The fields' values (null = absent): {@code tools}, {@code tool_choice}, {@code parallel_tool_calls};
     * throws {@link ToolException} naming the field that is wrong.
     */
    public static ToolRequest parse(JsonValue t, JsonValue toolChoice, JsonValue p) {
        List<Tool> tools = t == null || t == JsonValue.NULL ? List.of() : Tool.parseAll(t);
        ToolChoice choice = ToolChoice.parse(toolChoice, tools);
        if (p != null && p != JsonValue.NULL && p != JsonValue.TRUE && p != JsonValue.FALSE) {
            throw new ToolException("parallel_tool_calls", "'parallel_tool_calls' must be true or false");
        }
        return new ToolRequest(tools, choice, p != JsonValue.FALSE);
    }

    /** Whether the output is read for calls (tool_choice other than none). */
    public boolean calls() {
        return choice.mode() != ToolChoice.Mode.NONE;
    }

    /** Whether the output must be calls (required or a named function), so decoding is constrained to them. */
    public boolean forced() {
        return choice.mode() == ToolChoice.Mode.REQUIRED || choice.mode() == ToolChoice.Mode.NAMED;
    }
}
