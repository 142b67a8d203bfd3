package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import jakarta.json.JsonObject;
import jakarta.json.JsonValue;
import java.io.IOException;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Each kind of bad request gets its status and an OpenAI-shaped error naming what is wrong, and
 * costs nobody else anything: after every one, a good request still returns the reference output.
 */
class BadRequestsTest {
    private static final int MAX_MODEL_LEN = 48;
    private static TestServer server;
    private static Fixtures.Case good;

    @BeforeAll
    static void start() {
        server = new TestServer(Fixtures.tinyModel(), "--max-model-len", Integer.toString(MAX_MODEL_LEN));
        good = Fixtures.tinyCases().stream().filter(c -> c.adapter() == null).findFirst().orElseThrow();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @AfterEach
    void goodRequestStillGetsTheReferenceOutput() {
        TestServer.Reply r = server.post("/v1/completions",
                BaseModelGoldenTest.body(BaseModelGoldenTest.quoted(good.prompt()), good.tokens().length));
        assertEquals(200, r.status(), r.body());
        BaseModelGoldenTest.assertMatches(good, r.json().getJsonArray("choices").getJsonObject(0));
    }

    /** Asserts {@code r} is an error of {@code status} in OpenAI's shape, and returns its error object. */
    private static JsonObject assertError(TestServer.Reply r, int status, String param) {
        assertEquals(status, r.status(), r.body());
        assertTrue(r.raw().headers().firstValue("Content-Type").orElse("").startsWith("application/json"),
                r.raw().headers().toString());
        JsonObject body = r.json();
        assertEquals(Set.of("error"), body.keySet(), r.body());
        JsonObject e = body.getJsonObject("error");
        assertEquals(Set.of("message", "type", "param", "code"), e.keySet(), r.body());
        assertFalse(e.getString("message").isBlank(), r.body());
        assertFalse(e.getString("type").isBlank(), r.body());
        assertTrue(e.get("code") == JsonValue.NULL || e.get("code").getValueType() == JsonValue.ValueType.STRING,
                r.body());
        if (param == null) {
            assertEquals(JsonValue.NULL, e.get("param"), r.body());
        } else {
            assertEquals(param, e.getString("param"), r.body());
        }
        return e;
    }

    private static String ids(int count) {
        return IntStream.range(0, count).mapToObj(i -> Integer.toString(3 + i % 500))
                .collect(Collectors.joining(",", "[", "]"));
    }

    @Test
    void promptLongerThanMaxModelLenIsRefusedNamingTheLimit() {
        JsonObject e = assertError(server.post("/v1/completions",
                "{\"prompt\":" + ids(MAX_MODEL_LEN + 5) + ",\"max_tokens\":1}"), 400, "prompt");
        assertTrue(e.getString("message").contains(Integer.toString(MAX_MODEL_LEN)), e.toString());

        String longText = BaseModelGoldenTest.quoted("many words ".repeat(40));
        e = assertError(server.post("/v1/completions", "{\"prompt\":" + longText + ",\"max_tokens\":1}"), 400,
                "prompt");
        assertTrue(e.getString("message").contains(Integer.toString(MAX_MODEL_LEN)), e.toString());
    }

    @Test
    void promptPlusMaxTokensOverTheLimitIsRefusedNamingMaxTokens() {
        JsonObject e = assertError(server.post("/v1/completions",
                "{\"prompt\":" + ids(MAX_MODEL_LEN - 10) + ",\"max_tokens\":11}"), 400, "max_tokens");
        assertTrue(e.getString("message").contains(Integer.toString(MAX_MODEL_LEN)), e.toString());
    }

    @Test
    void maxTokensBelowOneIsRefused() {
        for (String maxTokens : new String[] {"0", "-1", "-2147483649"}) {
            assertError(server.post("/v1/completions", "{\"prompt\":\"Hello\",\"max_tokens\":" + maxTokens + "}"),
                    400, "max_tokens");
        }
    }

    @Test
    void nonJsonBodyIsA400() {
        for (String body : new String[] {"{\"prompt\": \"Hello\",", "prompt=Hello", "{'prompt': 'Hello'}", "[1, 2]",
                "\"just a string\"", "null"}) {
            assertError(server.post("/v1/completions", body), 400, null);
        }
    }

    @Test
    void emptyBodyIsA400() {
        assertError(server.post("/v1/completions", ""), 400, null);
    }

    @Test
    void wrongContentTypeIsA415() {
        String body = "{\"prompt\":\"Hello\",\"max_tokens\":1}";
        assertError(TestServer.send(HttpRequest.newBuilder(server.uri("/v1/completions"))
                .header("Content-Type", "text/plain").POST(HttpRequest.BodyPublishers.ofString(body)).build()),
                415, null);
        assertError(TestServer.send(HttpRequest.newBuilder(server.uri("/v1/completions"))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .POST(HttpRequest.BodyPublishers.ofString("prompt=Hello")).build()), 415, null);
    }

    /** A request whose body cannot be framed, its error code and a phrase of its message. */
    record Unframeable(String name, String header, String body, String code, String says) {
        @Override
        public String toString() {
            return name;
        }
    }

    static List<Unframeable> unframeable() {
        return List.of(
                new Unframeable("negative Content-Length", "Content-Length: -5", "", "malformed_body", "Content-Length"),
                new Unframeable("Content-Length not a number (refused by Helidon before routing)", "Content-Length: 12abc",
                        "", "invalid_request", "Bad Request"),
                new Unframeable("chunk size not hexadecimal", "Transfer-Encoding: chunked", "ZZ\r\n{}\r\n0\r\n\r\n",
                        "malformed_body", "chunk size"),
                new Unframeable("body shorter than declared, then a half-close", "Content-Length: 100", "{\"prompt\":",
                        "malformed_body", "ended before"));
    }

    /**
     * Bodies that cannot be framed, sent on a raw socket: each is a 400 in the error shape, answered
     * at once, after which the server closes the connection (what follows such a body cannot be
     * trusted to be a request); never a 500.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("unframeable")
    void unframeableBodiesAre400AndCloseTheConnection(Unframeable u) throws IOException {
        String request = "POST /v1/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                + u.header() + "\r\n\r\n" + u.body();
        try (Socket socket = new Socket("127.0.0.1", server.server.port())) {
            socket.setSoTimeout(10_000);
            socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
            if (u.header().equals("Content-Length: 100")) {
                socket.shutdownOutput();
            }
            String reply = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(reply.startsWith("HTTP/1.1 400 "), reply);
            JsonObject error = TestServer.parse(reply.substring(reply.indexOf("\r\n\r\n") + 4)).getJsonObject("error");
            assertEquals(u.code(), error.getString("code"), reply);
            assertTrue(error.getString("message").contains(u.says()), reply);
        }
    }
}
