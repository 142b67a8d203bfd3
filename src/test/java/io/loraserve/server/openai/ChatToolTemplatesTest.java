package io.loraserve.server.openai;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.loraserve.chat.ChatTemplate;
import io.loraserve.server.http.Params;
import io.loraserve.tools.ToolRequest;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import java.io.InputStream;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Chat templates given the request's tools, through the chat request's own parsing, against Python Jinja2. */
class ChatToolTemplatesTest {
    /**
     * Templates that offer tools, rendered by Python Jinja2 with {@code tools} and a conversation
     * holding an assistant's tool calls and the tools' results (tool-templates.json); the same
     * request goes through loraserve's chat parsing ({@link ChatRequest}) and renders the same text.
     */
    @Test
    void toolsAndToolCallsRenderAsPythonJinja2RendersThem() {
        JsonObject reference;
        try (InputStream in = ChatToolTemplatesTest.class.getResourceAsStream("tool-templates.json");
             JsonReader r = jakarta.json.Json.createReader(in)) {
            reference = r.readObject();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        Params request = new Params(reference.getJsonObject("request"));
        List<ChatTemplate.Message> messages = ChatRequest.messages(request);
        ToolRequest tools = ChatRequest.tools(request);
        assertEquals(2, tools.tools().size());
        for (JsonObject c : reference.getJsonArray("cases").getValuesAs(JsonObject.class)) {
            ChatTemplate t = new ChatTemplate(c.getString("template"), reference.getString("bos_token"),
                    reference.getString("eos_token"));
            assertEquals(c.getString("expected"), new ChatRequest.Rendering(true, false).render(t, messages, tools),
                    c.getString("name"));
        }
    }
}
