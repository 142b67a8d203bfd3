package io.loraserve.server.openai;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.chat.ChatTemplate;
import io.loraserve.server.http.ApiException;
import io.loraserve.tools.ToolRequest;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * How a chat template's refusals and failures reach the client: a refusal is a 400 about the field
 * the template names, a template that fails by itself a 500 {@code chat_template_error}, each with
 * the template's message.
 */
class ChatTemplateErrorsTest {
    private static final List<ChatTemplate.Message> CHAT = List.of(new ChatTemplate.Message("user", "Hi", null),
            new ChatTemplate.Message("assistant", "Hello ", null));
    private static final ChatRequest.Rendering OPEN_TURN = new ChatRequest.Rendering(true, false);

    @Test
    void raiseExceptionIsA400AboutMessages() {
        ChatTemplate t = new ChatTemplate("{{ raise_exception('Conversation roles must alternate') }}", null, null);
        ApiException e = assertThrows(ApiException.class, () -> OPEN_TURN.render(t, CHAT, ToolRequest.NONE));
        assertEquals(400, e.status());
        assertEquals("invalid_request_error", e.type());
        assertEquals("messages", e.param());
        assertEquals("the model's chat template refused the messages: Conversation roles must alternate",
                e.getMessage());
    }

    @Test
    void aFinalMessageTheTemplateDropsIsA400AboutContinuing() {
        ChatTemplate t = new ChatTemplate("{{ messages[0].content }}", null, null);
        ApiException e = assertThrows(ApiException.class, () -> new ChatRequest.Rendering(false, true).render(t, CHAT, ToolRequest.NONE));
        assertEquals(400, e.status());
        assertEquals("continue_final_message", e.param());
    }

    @Test
    void brokenTemplateIsA500ChatTemplateError() {
        ChatTemplate t = new ChatTemplate("{% for %}", null, null);
        ApiException e = assertThrows(ApiException.class, () -> OPEN_TURN.render(t, CHAT, ToolRequest.NONE));
        assertEquals(500, e.status());
        assertEquals("server_error", e.type());
        assertEquals("chat_template_error", e.code());
        assertNull(e.param());
        assertTrue(e.getMessage().startsWith("the model's chat template failed: "), e.getMessage());
    }

    @Test
    void unsupportedFilterIsA500NamingIt() {
        ChatTemplate t = new ChatTemplate("{{ messages[0].content | shout }}", null, null);
        ApiException e = assertThrows(ApiException.class, () -> OPEN_TURN.render(t, CHAT, ToolRequest.NONE));
        assertEquals(500, e.status());
        assertEquals("chat_template_error", e.code());
        assertTrue(e.getMessage().contains("filter 'shout'"), e.getMessage());
    }
}
