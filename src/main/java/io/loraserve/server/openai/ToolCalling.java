package io.loraserve.server.openai;

import io.loraserve.constraint.Constraint;
import io.loraserve.constraint.ConstraintCache;
import io.loraserve.engine.FinishReason;
import io.loraserve.server.http.ApiException;
import io.loraserve.server.http.Json;
import io.loraserve.tools.ToolCall;
import io.loraserve.tools.ToolCallFormat;
import io.loraserve.tools.ToolChoice;
import io.loraserve.tools.ToolRequest;
import jakarta.json.JsonArrayBuilder;
import jakarta.json.JsonObjectBuilder;
import java.util.UUID;

/**
 * Tool calling on chat, as vLLM serves it: the server's tool-call format ({@code --tool-call-parser},
 * null = none) and whether {@code tool_choice: auto} is allowed ({@code --enable-auto-tool-choice}).
 * A request whose tool choice is not {@code none} needs the format (400 otherwise, as vLLM);
 * {@code required} or a named function constrains decoding to calls in that format; the answer's
 * calls are read out of the text and written as OpenAI's {@code tool_calls}.
 */
public record ToolCalling(ToolCallFormat format, boolean auto) {

    /** Refuses what this server cannot do for {@code t}: any tool choice but none without a format, auto unless enabled. */
    void check(ToolRequest t) {
        if (t.calls() && format == null) {
            throw ApiException.badRequest("tool_choice", "'tool_choice': " + mode(t) + " needs the server started"
                    + " with --tool-call-parser (" + ToolCallFormat.flags() + ")");
        }
        if (t.choice().mode() == ToolChoice.Mode.AUTO && !auto) {
            throw ApiException.badRequest("tool_choice", "'tool_choice': auto (the default when tools are given)"
                    + " requires the server started with --enable-auto-tool-choice and --tool-call-parser");
        }
    }

    /** The constraint a forced tool choice puts on the output, or null (400 when it cannot be compiled). */
    Constraint constraint(ConstraintCache cache, ToolRequest t) {
        if (!t.forced()) {
            return null;
        }
        return StructuredOutput.compile(cache, new StructuredOutput.Field("tools",
                format.constraint(t.choice().callable(t.tools()), t.parallel())));
    }

    /** What the model wrote, read for calls when {@code t} asks for them. */
    ToolCallFormat.Parsed read(ToolRequest t, String text) {
        return t.calls() ? format.parse(text) : new ToolCallFormat.Parsed(text, java.util.List.of());
    }

    /** OpenAI's finish reason: {@code tool_calls} when a stopped answer holds calls. */
    static String finishReason(FinishReason reason, ToolCallFormat.Parsed parsed) {
        return reason == FinishReason.STOP && !parsed.calls().isEmpty() ? "tool_calls" : reason.openAiName();
    }

    /**
     * The calls as OpenAI's {@code tool_calls}, each with a new {@code call_…} id; {@code indexed}
     * adds each call's {@code index}, as streamed deltas carry it.
     */
    static JsonArrayBuilder toJson(ToolCallFormat.Parsed parsed, boolean indexed) {
        JsonArrayBuilder calls = Json.BUILDERS.createArrayBuilder();
        for (int i = 0; i < parsed.calls().size(); i++) {
            ToolCall c = parsed.calls().get(i);
            JsonObjectBuilder b = Json.BUILDERS.createObjectBuilder();
            if (indexed) {
                b.add("index", i);
            }
            calls.add(b.add("id", "call_" + UUID.randomUUID().toString().replace("-", "").substring(0, 24))
                    .add("type", "function")
                    .add("function", Json.BUILDERS.createObjectBuilder().add("name", c.name()).add("arguments", c.arguments())));
        }
        return calls;
    }

    private static String mode(ToolRequest t) {
        return t.choice().mode() == ToolChoice.Mode.NAMED ? t.choice().function()
                : t.choice().mode().name().toLowerCase(java.util.Locale.ROOT);
    }
}
