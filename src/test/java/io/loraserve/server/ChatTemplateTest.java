package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import java.io.InputStream;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Jinjava renders chat templates as Python Jinja2 does under HuggingFace's settings. The
 * reference texts in {@code chat-templates.json} were rendered by Python Jinja2 3.1 with
 * {@code render_chat_templates.py} beside it: Zephyr/TinyLlama, Llama 3, ChatML (Qwen2),
 * a {@code namespace}/filter/whitespace-control template, and loraserve's own default.
 */
class ChatTemplateTest {
    private static final JsonObject REFERENCE = read();
    private static final List<ChatTemplate.Message> MESSAGES = REFERENCE.getJsonArray("messages")
            .getValuesAs(JsonObject.class).stream()
            .map(m -> new ChatTemplate.Message(m.getString("role"), m.getString("content"), null)).toList();

    private static JsonObject read() {
        try (InputStream in = ChatTemplateTest.class.getResourceAsStream("chat-templates.json");
             JsonReader r = jakarta.json.Json.createReader(in)) {
            return r.readObject();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static Stream<JsonObject> references() {
        return REFERENCE.getJsonArray("cases").getValuesAs(JsonObject.class).stream();
    }

    private static ChatTemplate template(String source) {
        return new ChatTemplate(source, REFERENCE.getString("bos_token"), REFERENCE.getString("eos_token"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("references")
    void rendersWhatPythonJinja2Renders(JsonObject c) {
        assertEquals(c.getString("expected"), template(c.getString("template")).render(MESSAGES), c.getString("name"));
    }

    @Test
    void modelWithoutTemplateGetsTheDefaultThatPythonJinja2AlsoRenders() {
        JsonObject reference = references().filter(c -> c.getString("name").equals("loraserve-default")).findFirst()
                .orElseThrow();
        assertEquals(ChatTemplate.DEFAULT, reference.getString("template"));
        assertEquals(reference.getString("expected"), template(null).render(MESSAGES));
    }

    @Test
    void raiseExceptionInTheTemplateIsA400AboutMessages() {
        ChatTemplate alternating = template("{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
                + "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
                + "{% endif %}{{ m['content'] }}{% endfor %}");
        ApiException e = assertThrows(ApiException.class, () -> alternating.render(MESSAGES));
        assertEquals(400, e.status());
        assertEquals("messages", e.param());
        assertTrue(e.getMessage().contains("Conversation roles must alternate"), e.getMessage());
    }

    @Test
    void brokenTemplateIsAServerError() {
        ApiException e = assertThrows(ApiException.class, () -> template("{% for %}").render(MESSAGES));
        assertEquals(500, e.status());
        assertEquals("chat_template_error", e.code());
    }

    @Test
    void absentSpecialTokensRenderEmpty() {
        assertEquals("<|user|>\nHi\n<|assistant|>\n",
                new ChatTemplate(null, null, null).render(List.of(new ChatTemplate.Message("user", "Hi", null))));
    }
}
