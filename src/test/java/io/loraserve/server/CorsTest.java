package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.config.OptionSource;
import io.loraserve.config.Options;
import io.loraserve.config.OptionsException;
import java.net.http.HttpRequest;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code --allowed-origins}: a browser page from an allowed origin may call the API (with the API
 * key set, whose check a preflight must not meet); other origins, and servers without the flag,
 * get no CORS headers.
 */
class CorsTest {
    private static final String UI = "http://ui.example:3000";
    private static final String KEY = "sk-cors-test";
    private static TestServer server;

    @BeforeAll
    static void start() {
        server = new TestServer(Fixtures.tinyModel(), "--allowed-origins", UI + ", https://other.example",
                "--api-key", KEY);
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    private static TestServer.Reply preflight(TestServer s, String origin) {
        return TestServer.send(HttpRequest.newBuilder(s.uri("/v1/chat/completions"))
                .method("OPTIONS", HttpRequest.BodyPublishers.noBody())
                .header("Origin", origin)
                .header("Access-Control-Request-Method", "POST")
                .header("Access-Control-Request-Headers", "authorization,content-type").build());
    }

    private static TestServer.Reply completion(TestServer s, String origin) {
        return TestServer.send(HttpRequest.newBuilder(s.uri("/v1/completions"))
                .header("Origin", origin).header("Authorization", "Bearer " + KEY)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"Hi\",\"max_tokens\":1}")).build());
    }

    private static Optional<String> header(TestServer.Reply r, String name) {
        return r.raw().headers().firstValue(name);
    }

    @Test
    void anAllowedOriginsPreflightIsAnsweredBeforeTheKeyCheck() {
        TestServer.Reply r = preflight(server, UI);
        assertEquals(204, r.status(), r.body());
        assertEquals(Optional.of(UI), header(r, "Access-Control-Allow-Origin"));
        assertTrue(header(r, "Access-Control-Allow-Methods").orElseThrow().contains("POST"));
        assertEquals(Optional.of("authorization,content-type"), header(r, "Access-Control-Allow-Headers"));
    }

    @Test
    void anAllowedOriginsRequestMayReadTheAnswerAndItsRequestId() {
        TestServer.Reply r = completion(server, UI);
        assertEquals(200, r.status(), r.body());
        assertEquals(Optional.of(UI), header(r, "Access-Control-Allow-Origin"));
        assertEquals(Optional.of("X-Request-Id"), header(r, "Access-Control-Expose-Headers"));
        assertEquals(Optional.of("Origin"), header(r, "Vary"));
    }

    @Test
    void otherOriginsGetNoCorsHeaders() {
        TestServer.Reply answer = completion(server, "http://evil.example");
        assertEquals(200, answer.status(), "the server answers; the browser keeps the page out");
        assertEquals(Optional.empty(), header(answer, "Access-Control-Allow-Origin"));
        TestServer.Reply pre = preflight(server, "http://evil.example");
        assertTrue(pre.status() >= 400, pre.status() + " " + pre.body());
        assertEquals(Optional.empty(), header(pre, "Access-Control-Allow-Origin"));
    }

    @Test
    void withoutTheFlagThereAreNoCorsHeadersAndStarAllowsAll() {
        try (TestServer plain = new TestServer(Fixtures.tinyModel()); TestServer all = new TestServer(Fixtures.tinyModel(),
                "--allowed-origins", "*")) {
            assertEquals(Optional.empty(), header(preflight(plain, UI), "Access-Control-Allow-Origin"));
            TestServer.Reply r = TestServer.send(HttpRequest.newBuilder(all.uri("/v1/models")).header("Origin", UI).GET()
                    .build());
            assertEquals(Optional.of("*"), header(r, "Access-Control-Allow-Origin"));
        }
    }

    @Test
    void aMalformedOriginListIsAStartUpError() {
        OptionsException e = assertThrows(OptionsException.class, () -> Options.parse(
                new String[] {"--allowed-origins", "ui.example/app"}, OptionSource.NONE));
        assertTrue(e.getMessage().contains("ui.example/app"), e.getMessage());
    }
}
