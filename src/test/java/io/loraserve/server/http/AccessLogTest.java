package io.loraserve.server.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.server.TestServer;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** X-Request-Id in and out, one structured access-log line per request, and {@code GET /version}. */
class AccessLogTest {
    private static final Logger ACCESS = Logger.getLogger("io.loraserve.access");
    private static final List<String> LINES = new CopyOnWriteArrayList<>();
    private static final Handler CAPTURE = new Handler() {
        @Override
        public void publish(LogRecord record) {
            LINES.add(record.getMessage());
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };
    private static TestServer server;

    @BeforeAll
    static void start() {
        ACCESS.addHandler(CAPTURE);
        server = new TestServer(Fixtures.tinyModel());
    }

    @AfterAll
    static void stop() {
        server.close();
        ACCESS.removeHandler(CAPTURE);
    }

    private static TestServer.Reply post(String requestId, String body) {
        HttpRequest.Builder b = HttpRequest.newBuilder(server.uri("/v1/completions")).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body));
        if (requestId != null) {
            b.header("X-Request-Id", requestId);
        }
        return TestServer.send(b.build());
    }

    /** The access line of {@code requestId}; it is written just after the response, so wait a little. */
    private static String lineOf(String requestId) throws InterruptedException {
        for (int i = 0; i < 200; i++) {
            for (String line : LINES) {
                if (line.endsWith(" request_id=" + requestId) || line.contains(" request_id=" + requestId + " ")) {
                    return line;
                }
            }
            Thread.sleep(10);
        }
        throw new AssertionError("no access line for " + requestId + " in " + LINES);
    }

    @Test
    void clientsRequestIdIsEchoedAndEndsItsLogLine() throws InterruptedException {
        TestServer.Reply r = post("trace-42", "{\"prompt\":\"Hello, world\",\"max_tokens\":3}");
        assertEquals(200, r.status());
        assertEquals("trace-42", r.raw().headers().firstValue("X-Request-Id").orElseThrow());
        String line = lineOf("trace-42");
        Matcher m = Pattern.compile("method=POST path=/v1/completions status=200 adapter=- prompt_tokens=(\\d+)"
                + " completion_tokens=3 latency_ms=(\\d+) request_id=trace-42").matcher(line);
        assertTrue(m.matches(), line);
        assertEquals(r.json().getJsonObject("usage").getInt("prompt_tokens"), Integer.parseInt(m.group(1)));
    }

    @Test
    void missingOrUnusableRequestIdIsReplacedByAFreshOne() {
        for (String given : new String[] {null, "has spaces", "x".repeat(AccessLog.MAX_ID + 1)}) {
            String id = post(given, "{\"prompt\":\"Hello\",\"max_tokens\":1}").raw().headers().firstValue("X-Request-Id")
                    .orElseThrow();
            assertNotEquals(given, id);
            assertEquals(id, UUID.fromString(id).toString());
        }
    }

    @Test
    void errorsCarryTheRequestIdAndAreLoggedWithTheirStatus() throws InterruptedException {
        TestServer.Reply r = post("bad-1", "{\"prompt\":\"Hello\",\"temperature\":9}");
        assertEquals(400, r.status());
        assertEquals("bad-1", r.raw().headers().firstValue("X-Request-Id").orElseThrow());
        assertTrue(lineOf("bad-1").contains(" status=400 "));
    }

    /** A body declared over --max-body-bytes is refused by Helidon before any filter runs: it is still traced. */
    @Test
    void aBodyRefusedBeforeRoutingCarriesTheRequestIdAndIsLogged() throws Exception {
        try (Socket socket = new Socket("127.0.0.1", server.server.port())) {
            socket.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: test\r\nX-Request-Id: big-1\r\n"
                    + "Content-Type: application/json\r\nContent-Length: 3000000\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            String head = new String(socket.getInputStream().readNBytes(200), StandardCharsets.US_ASCII);
            assertTrue(head.startsWith("HTTP/1.1 413 "), head);
            assertTrue(head.toLowerCase(Locale.ROOT).contains("x-request-id: big-1\r\n"), head);
        }
        assertTrue(lineOf("big-1").startsWith("method=POST path=/v1/completions status=413 "), lineOf("big-1"));
    }

    @Test
    void streamedRequestsAreLoggedWithTheirTokenCounts() throws InterruptedException {
        HttpRequest request = HttpRequest.newBuilder(server.uri("/v1/chat/completions"))
                .header("Content-Type", "application/json").header("X-Request-Id", "stream-7")
                .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                        + "\"max_tokens\":4,\"n\":2,\"ignore_eos\":true,\"stream\":true}")).build();
        assertEquals(200, TestServer.send(request).status());
        assertTrue(lineOf("stream-7").contains(" completion_tokens=8 "), lineOf("stream-7"));
    }

    @Test
    void versionIsTheMavenProjectVersion() throws Exception {
        Matcher m = Pattern.compile("<artifactId>loraserve</artifactId>\\s*<version>([^<]+)</version>")
                .matcher(Files.readString(Path.of("pom.xml")));
        assertTrue(m.find());
        TestServer.Reply r = server.get("/version");
        assertEquals(200, r.status());
        assertEquals(m.group(1), r.json().getString("version"));
    }
}
