package io.loraserve.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import java.io.InputStream;
import java.time.Clock;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Jinjava renders chat templates as Python Jinja2 does under HuggingFace's settings. The
 * reference texts in {@code chat-templates.json} were rendered by Python Jinja2 3.1 with
 * {@code render_chat_templates.py} beside it, on two conversations: Zephyr/TinyLlama, Llama 3,
 * ChatML (Qwen2), a {@code namespace}/filter/whitespace-control template, loraserve's own
 * default, and the constructs of Qwen3, DeepSeek-R1-Distill, Mistral and Llama 3.2 templates
 * that Jinjava alone renders wrong (loop filters, steps in slices, {@code not} precedence,
 * {@code str} methods, {@code strftime_now}, {@code tojson}, {@code tools}/{@code documents}).
 */
class ChatTemplateTest {
    private static final JsonObject REFERENCE = read();
    private static final List<ChatTemplate.Message> MESSAGES = conversation("multi-turn");
    private static final Clock NOW = Clock.fixed(LocalDateTime.parse(REFERENCE.getString("now"))
            .toInstant(ZoneOffset.UTC), ZoneOffset.UTC);

    private static List<ChatTemplate.Message> conversation(String name) {
        return REFERENCE.getJsonObject("conversations").getJsonArray(name).getValuesAs(JsonObject.class).stream()
                .map(m -> new ChatTemplate.Message(m.getString("role"), m.getString("content"), null)).toList();
    }

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
        return new ChatTemplate(source, REFERENCE.getString("bos_token"), REFERENCE.getString("eos_token"), NOW);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("references")
    void rendersWhatPythonJinja2Renders(JsonObject c) {
        assertEquals(c.getString("expected"),
                template(c.getString("template")).render(conversation(c.getString("conversation"))),
                c.getString("name") + " on " + c.getString("conversation"));
    }

    @Test
    void modelWithoutTemplateGetsTheDefaultThatPythonJinja2AlsoRenders() {
        JsonObject reference = references().filter(c -> c.getString("name").equals("loraserve-default")
                && c.getString("conversation").equals("multi-turn")).findFirst().orElseThrow();
        assertEquals(ChatTemplate.DEFAULT, reference.getString("template"));
        assertEquals(reference.getString("expected"), template(null).render(MESSAGES));
    }

    @Test
    void raiseExceptionInTheTemplateIsA400AboutMessages() {
        ChatTemplate alternating = template("{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
                + "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
                + "{% endif %}{{ m['content'] }}{% endfor %}");
        ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> alternating.render(MESSAGES));
        assertTrue(e.refused());
        assertEquals("messages", e.param());
        assertTrue(e.getMessage().contains("Conversation roles must alternate"), e.getMessage());
    }

    @Test
    void brokenTemplateIsAServerError() {
        ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> template("{% for %}").render(MESSAGES));
        assertFalse(e.refused());
        assertTrue(e.getMessage().startsWith("the model's chat template failed: "), e.getMessage());
    }

    @Test
    void forElseAndLoopFiltersReadingLoopAreRefusedNotRenderedWrong() {
        for (String source : List.of("{% for m in messages %}{{ m.role }}{% else %}none{% endfor %}",
                "{% for m in messages if loop.index > 1 %}{{ m.role }}{% endfor %}")) {
            ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> template(source).render(MESSAGES), source);
            assertFalse(e.refused());
            assertTrue(e.getMessage().contains("not supported"), e.getMessage());
        }
    }

    @Test
    void absentSpecialTokensRenderEmpty() {
        assertEquals("<|user|>\nHi\n<|assistant|>\n",
                new ChatTemplate(null, null, null).render(List.of(new ChatTemplate.Message("user", "Hi", null))));
    }

    /**
     * What a template may not do is a clear 500 naming it, not a Java call or a silent blank:
     * Java's own String methods (a template's {@code .format} once reached Java's String.format with
     * the client's text as the format), unknown filters and tests, and reading files through
     * include.
     */
    @Test
    void javaMethodsUnknownFiltersAndIncludesAreRefused() {
        for (String[] source : new String[][] {
            {"{{ messages[0].content.repeat(3) }}", "repeat"},
            {"{{ messages[0].content.getBytes() }}", "getBytes"},
            {"{{ messages[0].content | shout }}", "filter 'shout'"},
            {"{% if messages[0].content is palindrome %}x{% endif %}", "test 'palindrome'"},
            {"{% include 'META-INF/MANIFEST.MF' %}", "MANIFEST"},
            {"{{ messages[0].content.startswith('B', 1) }}", "at most 1"},
        }) {
            ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> template(source[0]).render(MESSAGES), source[0]);
            assertFalse(e.refused(), source[0]);
            assertTrue(e.getMessage().contains(source[1]), source[0] + ": " + e.getMessage());
        }
    }

    /** Values a template computes at the edges: a step past the list, a negative JSON indent. */
    @Test
    void extremeSlicesAndIndentsRenderAsPythonDoes() {
        assertEquals("b", template("{{ 'abc'[1::9223372036854775807] }}").render(MESSAGES));
        assertEquals("c", template("{{ 'abc'[-1::-9223372036854775807] }}").render(MESSAGES));
        assertEquals("[\n1\n]", template("{{ [1] | tojson(indent=-1) }}").render(MESSAGES));
    }

    /**
     * continue_final_message as transformers applies it: the text ends right after the final
     * message's content, keeping its trailing spacing where the template kept it (ChatML) and not
     * where the template trimmed it (Llama 3's {@code | trim}).
     */
    @Test
    void continuingTheFinalMessageCutsTheTextRightAfterIt() {
        String chatml = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
                + "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
        String trimming = "{% for m in messages %}<{{ m.role }}>{{ m.content | trim }}</s>{% endfor %}"
                + "{% if add_generation_prompt %}<assistant>{% endif %}";
        List<ChatTemplate.Message> chat = List.of(new ChatTemplate.Message("user", "Write a haiku", null),
                new ChatTemplate.Message("assistant", "Autumn moon ", null));
        assertEquals("<|im_start|>user\nWrite a haiku<|im_end|>\n<|im_start|>assistant\nAutumn moon ",
                template(chatml).render(chat, false, true, null));
        assertEquals("<user>Write a haiku</s><assistant>Autumn moon", template(trimming).render(chat, false, true, null));
        assertEquals("<user>Write a haiku</s><assistant>Autumn moon</s>", template(trimming).render(chat, false, false, null));
        ChatTemplateException e = assertThrows(ChatTemplateException.class, () -> template("{{ messages[0].content }}")
                .render(chat, false, true, null));
        assertTrue(e.refused());
        assertEquals("continue_final_message", e.param());
    }
}
