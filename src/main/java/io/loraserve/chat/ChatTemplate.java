package io.loraserve.chat;

import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import io.loraserve.chat.jinja.Jinja2;
import jakarta.json.JsonArray;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import jakarta.json.JsonString;
import jakarta.json.JsonValue;
import java.io.StringReader;
import java.time.Clock;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Logger;

/**
 * Renders chat messages into prompt text with the model's Jinja {@code chat_template}
 * ({@code tokenizer_config.json}), run by Jinjava configured the way HuggingFace transformers
 * configures Jinja2 for {@code apply_chat_template}: {@code trim_blocks}, {@code lstrip_blocks},
 * Jinja2's operator precedence, whitespace control and loop semantics, one trailing newline of
 * the template source dropped. Variables: {@code messages} (maps with {@code role},
 * {@code content} and, when given, {@code name}, {@code tool_calls}, {@code tool_call_id}),
 * {@code tools} (the request's {@code tools[]} entries, or none), {@code bos_token}, {@code eos_token},
 * {@code add_generation_prompt} (true), and the function {@code raise_exception(message)}, whose
 * message becomes a refusal about {@code messages} ({@link ChatTemplateException}).
 *
 * <p>A model without a template gets {@link #DEFAULT}, a plain ChatML-like format:
 *
 * <pre>{bos_token}&lt;|system|&gt;
 * You are terse.
 * &lt;|user|&gt;
 * Hello
 * &lt;|assistant|&gt;
 * </pre>
 *
 * The rendered text holds every special token the model needs (templates write {@code bos_token}
 * themselves), so it is tokenized without adding special tokens, as vLLM does. Message content is
 * data: it is never evaluated as template code. Thread-safe.
 */
public final class ChatTemplate {
    /**
     * One chat message; {@code name} may be null. {@code toolCalls} (an assistant's calls, as the
     * API gives them) and {@code toolCallId} (a tool message's answer to) are null when absent.
     */
    public record Message(String role, String content, String name, JsonArray toolCalls, String toolCallId) {
        public Message(String role, String content, String name) {
            this(role, content, name, null, null);
        }
    }

    static final String DEFAULT = "{{ bos_token }}{% for message in messages %}<|{{ message.role }}|>\n"
            + "{{ message.content }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}";
    private static final long MAX_OUTPUT_CHARS = 16L << 20;
    private static final Logger LOG = Logger.getLogger(ChatTemplate.class.getName());

    private final String template;
    private final String bosToken;
    private final String eosToken;
    private final Jinja2 jinjava;
    /** Filters and tests the template names that this server lacks; non-empty refuses every render. */
    private final List<String> unsupported;

    /** {@code template} null means {@link #DEFAULT}; absent BOS/EOS tokens render as "". */
    public ChatTemplate(String template, String bosToken, String eosToken) {
        this(template, bosToken, eosToken, Clock.systemDefaultZone());
    }

    /** As above, with {@code clock} telling {@code strftime_now} the date. */
    ChatTemplate(String template, String bosToken, String eosToken, Clock clock) {
        if (template == null) {
            LOG.info("the model has no chat_template: /v1/chat/completions uses loraserve's default template");
        }
        String source = (template == null ? DEFAULT : template).replaceAll("\r\n?", "\n");  // Jinja2's newlines
        this.template = Jinja2.lstripBlocks(source.endsWith("\n") ? source.substring(0, source.length() - 1) : source);
        this.bosToken = bosToken == null ? "" : bosToken;
        this.eosToken = eosToken == null ? "" : eosToken;
        this.jinjava = new Jinja2(MAX_OUTPUT_CHARS, clock);
        this.unsupported = jinjava.unknownFiltersAndTests(this.template);
        if (!unsupported.isEmpty()) {
            LOG.warning("the model's chat_template uses " + String.join(", ", unsupported) + ", which this server"
                    + " does not implement: /v1/chat/completions will answer 500");
        }
    }

    /** The prompt text for {@code messages}, ending with the assistant's turn opened. */
    String render(List<Message> messages) {
        return render(messages, true, false, null);
    }

    /**
     * The prompt text for {@code messages}: with {@code addGenerationPrompt} the assistant's turn
     * opened; with {@code continueFinalMessage} the text cut right after the final message's
     * content, so the model continues that message (transformers' {@code continue_final_message}:
     * the last occurrence of the stripped content, keeping its trailing spacing when the template
     * kept it).
     *
     * @throws ChatTemplateException when the template refuses the messages or cannot render them
     */
    public String render(List<Message> messages, boolean addGenerationPrompt, boolean continueFinalMessage, List<JsonObject> tools) {
        String text = renderTemplate(messages, addGenerationPrompt, tools);
        if (!continueFinalMessage) {
            return text;
        }
        String last = messages.getLast().content();
        int at = last.isBlank() ? -1 : text.lastIndexOf(last.strip());
        if (at < 0) {
            throw ChatTemplateException.refused("continue_final_message", "the final message does not appear in the chat"
                    + " the template renders, so it cannot be continued");
        }
        int keep = last.stripLeading().length();
        return text.startsWith(last, at) ? text.substring(0, at + keep)
                : text.substring(0, at + last.strip().length());
    }

    private String renderTemplate(List<Message> messages, boolean addGenerationPrompt, List<JsonObject> tools) {
        if (!unsupported.isEmpty()) {
            throw ChatTemplateException.failed("the model's chat template uses "
                    + String.join(", ", unsupported) + ", which this server does not implement");
        }
        Map<String, Object> context = new HashMap<>();
        context.put("messages", messages.stream().map(ChatTemplate::asMap).toList());
        context.put("bos_token", bosToken);
        context.put("eos_token", eosToken);
        context.put("add_generation_prompt", addGenerationPrompt);
        // none is null, as transformers passes it (but `tools is defined` is false here)
        context.put("tools", tools == null || tools.isEmpty() ? null : tools.stream().map(ChatTemplate::plain).toList());
        context.put("documents", null);
        RenderResult result = jinjava.renderForResult(template, context);
        for (TemplateError e : result.getErrors()) {
            if (e.getSeverity() != TemplateError.ErrorType.FATAL && !unknownFilterOrTest(e)) {
                continue;
            }
            for (Throwable t = e.getException(); t != null; t = t.getCause()) {
                if (t instanceof Jinja2.Raised raised) {
                    throw ChatTemplateException.refused("messages", "the model's chat template refused the messages: "
                            + raised.getMessage());
                }
            }
            throw ChatTemplateException.failed("the model's chat template failed: "
                    + e.getMessage() + (e.getFieldName() == null ? "" : " (" + e.getFieldName() + ")")
                    + rootCause(e.getException()));
        }
        return result.getOutput();
    }

    /** Jinja2 refuses a filter or test it does not know; Jinjava renders nothing and warns. */
    private static boolean unknownFilterOrTest(TemplateError e) {
        return e.getReason() == TemplateError.ErrorReason.UNKNOWN
                && (e.getItem() == TemplateError.ErrorItem.FILTER || e.getItem() == TemplateError.ErrorItem.EXPRESSION_TEST);
    }

    private static String rootCause(Throwable t) {
        Throwable root = t;
        while (root != null && root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        return root == null || root == t || root.getMessage() == null ? "" : ": " + root.getMessage();
    }

    private static Map<String, Object> asMap(Message m) {
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("role", m.role());
        map.put("content", m.content());
        if (m.name() != null) {
            map.put("name", m.name());
        }
        if (m.toolCalls() != null) {
            map.put("tool_calls", m.toolCalls().stream().map(ChatTemplate::toolCall).toList());
        }
        if (m.toolCallId() != null) {
            map.put("tool_call_id", m.toolCallId());
        }
        return map;
    }

    /**
     * An assistant's call for the template: as given, but with {@code function.arguments} a map when
     * it is a JSON object's text, as vLLM hands it to templates (many write {@code arguments | tojson}).
     */
    private static Object toolCall(JsonValue call) {
        @SuppressWarnings("unchecked")
        Map<String, Object> map = (Map<String, Object>) plain(call);
        if (map.get("function") instanceof Map<?, ?> f && f.get("arguments") instanceof String args) {
            try (JsonReader r = jakarta.json.Json.createReader(new StringReader(args))) {
                Map<String, Object> function = new LinkedHashMap<>();
                f.forEach((k, v) -> function.put((String) k, v));
                function.put("arguments", plain(r.readObject()));
                map.put("function", function);
            } catch (RuntimeException notAnObject) {
                return map;  // the text stays as given
            }
        }
        return map;
    }

    /** {@code v} as the maps, lists, strings, numbers and booleans a template sees. */
    private static Object plain(JsonValue v) {
        return switch (v.getValueType()) {
            case OBJECT -> {
                Map<String, Object> map = new LinkedHashMap<>();
                v.asJsonObject().forEach((k, e) -> map.put(k, plain(e)));
                yield map;
            }
            case ARRAY -> v.asJsonArray().stream().map(ChatTemplate::plain).toList();
            case STRING -> ((JsonString) v).getString();
            case NUMBER -> ((JsonNumber) v).isIntegral() ? (Object) ((JsonNumber) v).longValue()
                    : (Object) ((JsonNumber) v).doubleValue();
            case TRUE -> true;
            case FALSE -> false;
            case NULL -> null;
        };
    }
}
