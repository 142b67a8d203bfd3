package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.loraserve.Fixtures;
import java.net.http.HttpRequest;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@code --api-key}: /v1/ routes and the tokenizer's need the Bearer key; health and version stay open. */
class ApiKeyTest {
    private static final String KEY = "sk-test-3f9a";
    private static TestServer server;

    @BeforeAll
    static void start() {
        server = new TestServer(Fixtures.tinyModel(), "--api-key", KEY);
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    private static TestServer.Reply completion(String authorization) {
        HttpRequest.Builder b = HttpRequest.newBuilder(server.uri("/v1/completions")).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"Hello\",\"max_tokens\":1}"));
        if (authorization != null) {
            b.header("Authorization", authorization);
        }
        return TestServer.send(b.build());
    }

    @Test
    void rightBearerKeyIsServed() {
        assertEquals(200, completion("Bearer " + KEY).status());
        assertEquals(200, completion("bearer " + KEY).status(), "the scheme name is case-insensitive");
    }

    @Test
    void missingWrongOrMalformedKeyIs401WithTheErrorJson() {
        for (String auth : new String[] {null, "Bearer sk-wrong", "Bearer " + KEY + "x", "Bearer " + KEY.substring(1),
                "Basic " + KEY, KEY, "Bearer "}) {
            TestServer.Reply r = completion(auth);
            assertEquals(401, r.status(), String.valueOf(auth));
            assertEquals("invalid_api_key", r.error().getString("code"));
            assertEquals("authentication_error", r.error().getString("type"));
            assertEquals("Bearer", r.raw().headers().firstValue("WWW-Authenticate").orElseThrow());
        }
        assertEquals(401, server.get("/v1/models").status());
        assertEquals(401, server.post("/tokenize", "{\"prompt\":\"Hi\"}").status());
        assertEquals(401, server.post("/detokenize", "{\"tokens\":[1]}").status());
    }

    @Test
    void healthAndVersionNeedNoKey() {
        assertEquals(200, server.get("/health/live").status());
        assertEquals(200, server.get("/health/ready").status());
        assertEquals(200, server.get("/health").status());
        assertEquals(200, server.get("/version").status());
        assertEquals(200, server.adminGet("/health/ready").status());
    }
}
