package io.loraserve.server.openai;

import io.loraserve.chat.ChatTemplate;
import io.loraserve.chat.ChatTemplateException;
import io.loraserve.server.http.ApiException;
import io.loraserve.server.http.Params;
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
 * ({@link StructuredOutput}); tool calling is refused rather than silently ignored.
 *
 * @param topLogprobs alternatives per token (0..{@value #MAX_TOP_LOGPROBS}) when {@code logprobs}
 */
record ChatRequest(List<ChatTemplate.Message> messages, Rendering rendering, boolean logprobs, int topLogprobs,
                   GenerationOptions options) {

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
         * The prompt text; a template's refusal is a 400 about the field it names, a template that
         * fails by itself a 500 {@code chat_template_error}.
         */
        String render(ChatTemplate template, List<ChatTemplate.Message> messages) {
            try {
                return template.render(messages, addGenerationPrompt, continueFinalMessage);
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
        p.unsupported("tools", "this server does not call tools");
        p.unsupported("functions", "this server does not call functions");
        boolean logprobs = p.bool("logprobs", false);
        int top = p.integer("top_logprobs", 0, 0, MAX_TOP_LOGPROBS);
        if (p.has("top_logprobs") && !logprobs) {
            throw ApiException.badRequest("top_logprobs", "'top_logprobs' needs 'logprobs': true");
        }
        String maxTokensParam = p.has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        GenerationOptions options = GenerationOptions.parse(p, vocab, maxN, logprobs ? top : -1, maxTokensParam, 1);
        return new ChatRequest(messages(p), Rendering.parse(p), logprobs, top, options);
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
            out.add(new ChatTemplate.Message(role, content(mp, m, at, role), mp.string("name", null)));
        }
        return out;
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
