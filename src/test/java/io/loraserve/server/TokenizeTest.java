package io.loraserve.server;

import static io.loraserve.server.BaseModelGoldenTest.ids;
import static io.loraserve.server.BaseModelGoldenTest.quoted;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.loraserve.Fixtures;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonString;
import jakarta.json.JsonValue;
import java.net.http.HttpRequest;
import java.util.Arrays;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code /tokenize} and {@code /detokenize} against the reference prompt ids, and against what
 * the generating endpoints count for the same prompt; every refusal is the error JSON.
 */
class TokenizeTest {
    private static final String MESSAGES = "\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
            + "{\"role\":\"user\",\"content\":\"Hello, world\"}]";
    private static TestServer server;

    @BeforeAll
    static void start() {
        server = new TestServer(Fixtures.tinyModel(), "--adapter-root", Fixtures.tinyAdapters().toString());
        server.loadAdapter("attn-r4", Fixtures.tinyAdapter("attn-r4"));
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    private static int[] ints(JsonObject o, String key) {
        return o.getJsonArray(key).getValuesAs(JsonNumber.class).stream().mapToInt(JsonNumber::intValue).toArray();
    }

    private static JsonObject ok(String path, String body) {
        TestServer.Reply r = server.post(path, body);
        assertEquals(200, r.status(), r.body());
        return r.json();
    }

    @Test
    void promptsGiveTheReferenceIdsAndDecodeBack() {
        for (Fixtures.Case c : Fixtures.tinyCases()) {
            JsonObject t = ok("/tokenize", "{\"prompt\":" + quoted(c.prompt()) + "}");
            assertArrayEquals(c.promptIds(), ints(t, "tokens"), c.label());
            assertEquals(c.promptIds().length, t.getInt("count"));
            assertEquals(256, t.getInt("max_model_len"));
            assertEquals(JsonValue.NULL, t.get("token_strs"));
            assertEquals(c.prompt(), ok("/detokenize", "{\"tokens\":" + ids(c.promptIds()) + "}").getString("prompt"));
        }
    }

    @Test
    void tokenStringsAndSpecialTokensOnRequest() {
        Fixtures.Case c = Fixtures.tinyCases().getFirst();
        JsonObject with = ok("/tokenize", "{\"prompt\":" + quoted(c.prompt()) + ",\"return_token_strs\":true}");
        assertEquals("<s>", with.getJsonArray("token_strs").getString(0));
        assertEquals(c.prompt(), String.join("", with.getJsonArray("token_strs").getValuesAs(JsonString.class)
                .stream().skip(1).map(JsonString::getString).toList()));
        JsonObject without = ok("/tokenize", "{\"prompt\":" + quoted(c.prompt()) + ",\"add_special_tokens\":false}");
        assertArrayEquals(Arrays.copyOfRange(c.promptIds(), 1, c.promptIds().length), ints(without, "tokens"));
    }

    /** The count /tokenize gives is what a generating endpoint bills for the same prompt, adapter or not. */
    @Test
    void countsMatchTheGeneratingEndpoints() {
        int chat = ok("/tokenize", "{\"model\":\"attn-r4\"," + MESSAGES + "}").getInt("count");
        JsonObject reply = ok("/v1/chat/completions", "{\"model\":\"attn-r4\"," + MESSAGES + ",\"max_tokens\":1}");
        assertEquals(reply.getJsonObject("usage").getInt("prompt_tokens"), chat);
        String prompt = "\"prompt\":\"Once upon a time\"";
        int text = ok("/tokenize", "{" + prompt + "}").getInt("count");
        assertEquals(ok("/v1/completions", "{" + prompt + ",\"max_tokens\":1}").getJsonObject("usage")
                .getInt("prompt_tokens"), text);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiter = '|', value = {
        "neither prompt nor messages | /tokenize | {} | 400 | prompt",
        "both prompt and messages | /tokenize | {\"prompt\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]} | 400 | messages",
        "prompt not a string | /tokenize | {\"prompt\":[1,2]} | 400 | prompt",
        "bad message | /tokenize | {\"messages\":[{\"role\":\"robot\",\"content\":\"a\"}]} | 400 | messages[0].role",
        "add_special_tokens string | /tokenize | {\"prompt\":\"a\",\"add_special_tokens\":\"no\"} | 400 | add_special_tokens",
        "unknown model | /tokenize | {\"model\":\"nope\",\"prompt\":\"a\"} | 404 | ",
        "tokens missing | /detokenize | {} | 400 | tokens",
        "tokens out of vocabulary | /detokenize | {\"tokens\":[1,512]} | 400 | tokens",
        "tokens not integers | /detokenize | {\"tokens\":[\"a\"]} | 400 | tokens",
    })
    void refusalsAreTheErrorJson(String name, String path, String body, int status, String param) {
        TestServer.Reply r = server.post(path, body);
        assertEquals(status, r.status(), r.body());
        assertEquals(param == null ? JsonValue.NULL : jakarta.json.Json.createValue(param), r.error().get("param"));
        assertFalse(r.error().getString("message").isEmpty());
        assertEquals(200, server.post("/tokenize", "{\"prompt\":\"a\"}").status(), "still serving");
    }

    @Test
    void wrongMethodAndContentTypeAreRefused() {
        TestServer.Reply get = server.get("/tokenize");
        assertEquals(405, get.status(), get.body());
        assertEquals("POST", get.raw().headers().firstValue("Allow").orElseThrow());
        TestServer.Reply text = TestServer.send(HttpRequest.newBuilder(server.uri("/detokenize"))
                .header("Content-Type", "text/plain").POST(HttpRequest.BodyPublishers.ofString("{\"tokens\":[1]}")).build());
        assertEquals(415, text.status(), text.body());
    }
}
