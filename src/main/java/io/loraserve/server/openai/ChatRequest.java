package io.loraserve.server.openai;

import io.loraserve.chat.ChatTemplate;
import io.loraserve.chat.ChatTemplateException;
import io.loraserve.server.http.ApiException;
import io.loraserve.server.http.Params;
import io.loraserve.tools.Tool;
import io.loraserve.tools.ToolException;
import io.loraserve.tools.ToolRequest;
import jakarta.json.JsonArray;
import jakarta.json.JsonObject;
import jakarta.json.JsonString;
import jakarta.json.JsonValue;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * A validated {@code /v1/chat/completions} body: the messages, the chat API's logprobs fields,
 * and the options shared with completions. {@code max_completion_tokens} is OpenAI's newer name
 * for {@code max_tokens} and wins when both are given (as in vLLM).
 *
 * <p>Messages: {@code role} one of {@value #ROLES_TEXT}; {@code content} a string or a list of
 * {@code {"type":"text","text":…}} parts (joined with newlines, as vLLM does); an assistant
 * message may have null content. Structured output is parsed with the shared options
 * ({@link StructuredOutput}); tools with {@link ToolRequest} (a forced tool choice and a
 * structured-output constraint together are a 400: both would constrain the output). An assistant
 * message may carry {@code tool_calls} and a tool message {@code tool_call_id}, passed on to the
 * template.
 *
 * @param topLogprobs alternatives per token (0..{@value #MAX_TOP_LOGPROBS}) when {@code logprobs}
 */
record ChatRequest(List<ChatTemplate.Message> messages, Rendering rendering, boolean logprobs, int topLogprobs,
                   GenerationOptions options, ToolRequest tools) {

    /**
     * How the messages become a prompt, as vLLM takes it: {@code add_generation_prompt} (default
     * true) opens the assistant's turn; {@code continue_final_message} (default false) leaves the
     * final message open for the model to continue. Both true is a 400, as in vLLM.
     */
    record Rendering(boolean addGenerationPrompt, boolean continueFinalMessage) {
        static Rendering parse(Params p) {
            boolean add = p.bool("add_generation_prompt", true);
            boolean cont = p.bool("continue_final_message", false);
            if (add && cont) {
                throw ApiException.badRequest("continue_final_message", "'continue_final_message' needs"
                        + " 'add_generation_prompt': false (the final message is continued, no new turn opened)");
            }
            return new Rendering(add, cont);
        }

        /**
         * The prompt text, with the request's tools given to the template; a template's refusal is a
         * 400 about the field it names, a template that fails by itself a 500 {@code chat_template_error}.
         */
        String render(ChatTemplate template, List<ChatTemplate.Message> messages, ToolRequest tools) {
            try {
                return template.render(messages, addGenerationPrompt, continueFinalMessage,
                        tools.tools().stream().map(Tool::source).toList());
            } catch (ChatTemplateException e) {
                throw e.refused() ? ApiException.badRequest(e.param(), e.getMessage())
                        : ApiException.serverError(500, "chat_template_error", e.getMessage());
            }
        }
    }

    static final int MAX_TOP_LOGPROBS = 20;
    static final Set<String> ROLES = Set.of("system", "user", "assistant", "tool");
    static final String ROLES_TEXT = "system, user, assistant, tool";

    static ChatRequest parse(JsonObject body, int vocab, int maxN) {
        Params p = new Params(body);
        p.unsupported("functions", "this server does not call functions");
        boolean logprobs = p.bool("logprobs", false);
        int top = p.integer("top_logprobs", 0, 0, MAX_TOP_LOGPROBS);
        if (p.has("top_logprobs") && !logprobs) {
            throw ApiException.badRequest("top_logprobs", "'top_logprobs' needs 'logprobs': true");
        }
        String maxTokensParam = p.has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        GenerationOptions options = GenerationOptions.parse(p, vocab, maxN, logprobs ? top : -1, maxTokensParam, 1);
        ToolRequest tools = tools(p);
        if (tools.forced() && options.structured() != null) {
            throw ApiException.badRequest("tool_choice", "'tool_choice' " + tools.choice().mode().name()
                    .toLowerCase(java.util.Locale.ROOT) + " constrains the output to tool calls; it cannot be combined with '"
                    + options.structured().param() + "'");
        }
        return new ChatRequest(messages(p), Rendering.parse(p), logprobs, top, options, tools);
    }

    /** The tool-calling fields ({@link ToolRequest}). */
    static ToolRequest tools(Params p) {
        try {
            return ToolRequest.parse(p.raw("tools"), p.raw("tool_choice"), p.raw("parallel_tool_calls"));
        } catch (ToolException e) {
            throw ApiException.badRequest(e.param(), e.getMessage());
        }
    }

    static List<ChatTemplate.Message> messages(Params p) {
        if (!p.has("messages")) {
            throw ApiException.badRequest("messages", "'messages' is required");
        }
        if (!(p.raw("messages") instanceof JsonArray list) || list.isEmpty()) {
            throw ApiException.badRequest("messages", "'messages' must be a non-empty list of messages");
        }
        List<ChatTemplate.Message> out = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            String at = "messages[" + i + "]";
            if (!(list.get(i) instanceof JsonObject m)) {
                throw ApiException.badRequest(at, "'" + at + "' must be an object with 'role' and 'content'");
            }
            Params mp = new Params(m, at + ".");
            String role = mp.string("role", null);
            if (role == null || !ROLES.contains(role)) {
                throw mp.bad("role", "must be one of " + ROLES_TEXT + (role == null ? "" : ", got '" + role + "'"));
            }
            out.add(new ChatTemplate.Message(role, content(mp, m, at, role), mp.string("name", null),
                    toolCalls(mp, m, role), role.equals("tool") ? mp.string("tool_call_id", null) : null));
        }
        return out;
    }

    /** An assistant message's {@code tool_calls} as given (null when absent). */
    private static JsonArray toolCalls(Params mp, JsonObject m, String role) {
        JsonValue v = m.get("tool_calls");
        if (v == null || v == JsonValue.NULL) {
            return null;
        }
        if (!role.equals("assistant") || !(v instanceof JsonArray calls)
                || !calls.stream().allMatch(c -> c instanceof JsonObject o && o.get("function") instanceof JsonObject f
                && f.get("name") instanceof JsonString)) {
            throw mp.bad("tool_calls", "must be on an assistant message, a list of"
                    + " {\"id\",\"type\":\"function\",\"function\":{\"name\",\"arguments\"}}");
        }
        return calls;
    }

    private static String content(Params mp, JsonObject m, String at, String role) {
        JsonValue v = m.get("content");
        if ((v == null || v == JsonValue.NULL) && role.equals("assistant")) {
            return "";
        }
        if (v instanceof JsonString s) {
            return s.getString();
        }
        if (!(v instanceof JsonArray parts)) {
            throw mp.bad("content", "must be a string or a list of text parts");
        }
        List<String> texts = new ArrayList<>();
        for (int j = 0; j < parts.size(); j++) {
            String partAt = at + ".content[" + j + "]";
            if (!(parts.get(j) instanceof JsonObject part)) {
                throw ApiException.badRequest(partAt, "'" + partAt + "' must be an object {\"type\":\"text\",\"text\":…}");
            }
            Params pp = new Params(part, partAt + ".");
            String type = pp.string("type", null);
            if (!"text".equals(type)) {
                throw pp.bad("type", "must be 'text'" + (type == null ? "" : "; '" + type + "' parts are not supported"));
            }
            String text = pp.string("text", null);
            if (text == null) {
                throw pp.bad("text", "is required");
            }
            texts.add(text);
        }
        return String.join("\n", texts);
    }
}
