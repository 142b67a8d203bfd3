package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import jakarta.json.JsonObject;
import jakarta.json.JsonValue;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SIGTERM on a real {@code java io.loraserve.Main} process ({@link Process#destroy()} sends
 * SIGTERM on Linux): new requests and readiness get 503 at once, running requests finish within
 * {@code --shutdown-grace} or are cancelled when it ends, and the process exits 0.
 */
class GracefulShutdownTest {
    /** A server process on a free port; the port is read from its ready line. */
    private record Server(Process process, int port) implements AutoCloseable {
        static Server start(Path logs, String... flags) throws Exception {
            List<String> args = new ArrayList<>(List.of("--model", Fixtures.tinyModel().toString(), "--port", "0",
                    "--admin-port", "0", "--max-num-seqs", "1"));
            args.addAll(List.of(flags));
            ServerProcess started = ServerProcess.start(logs, args);
            return new Server(started.process(), started.port());
        }

        TestServer.Reply get(String path) {
            return TestServer.send(HttpRequest.newBuilder(TestServer.uri(port, path)).GET().build());
        }

        TestServer.Reply post(String requestId, String body) {
            return TestServer.send(HttpRequest.newBuilder(TestServer.uri(port, "/v1/completions"))
                    .header("Content-Type", "application/json").header("X-Request-Id", requestId)
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build());
        }

        /** The number of tokens {@link #longStream}'s prompt has. */
        int promptTokens() {
            return TestServer.send(HttpRequest.newBuilder(TestServer.uri(port, "/tokenize"))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"Hello, world\"}")).build()).json()
                    .getInt("count");
        }

        /**
         * Starts a stream of {@code n} long choices, one chunk per token (with its id), and returns it once its first
         * event has arrived.
         */
        BufferedReader longStream(int n, String requestId) throws Exception {
            HttpResponse<InputStream> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(TestServer.uri(port, "/v1/completions"))
                    .header("Content-Type", "application/json").header("X-Request-Id", requestId)
                    .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"Hello, world\",\"max_tokens\":240,\"n\":" + n
                            + ",\"ignore_eos\":true,\"stream\":true,\"return_token_ids\":true}")).build(),
                    HttpResponse.BodyHandlers.ofInputStream());
            BufferedReader lines = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8));
            assertTrue(lines.readLine().startsWith("data: {"));
            return lines;
        }

        @Override
        public void close() {
            process.destroyForcibly();
        }
    }

    /** The rest of a stream: its finish reasons by choice and whether it ended with an error event. */
    private static List<String> rest(BufferedReader lines) throws IOException {
        List<String> events = new ArrayList<>();
        for (String line; (line = lines.readLine()) != null; ) {
            if (line.startsWith("data: ")) {
                events.add(line.substring(6));
            }
        }
        return events;
    }

    private static long finished(List<String> events) {
        return events.stream().filter(e -> e.startsWith("{\"id\"")).map(TestServer::parse)
                .map(c -> c.getJsonArray("choices").getJsonObject(0))
                .filter(c -> c.get("finish_reason") != JsonValue.NULL).count();
    }

    @Test
    void sigtermRefusesNewWorkFinishesRunningWorkAndExitsZero(@TempDir Path logs) throws Exception {
        try (Server server = Server.start(logs, "--shutdown-grace", "60")) {
            BufferedReader stream = server.longStream(4, "finishing-1");
            server.process().destroy();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (server.get("/health/ready").status() != 503) {
                assertTrue(System.nanoTime() < deadline, "ready never turned 503");
                Thread.sleep(20);
            }
            assertEquals(503, server.get("/health").status(), "vLLM's /health agrees with /health/ready");
            TestServer.Reply refused = server.post("late-1", "{\"prompt\":\"Hello\",\"max_tokens\":1}");
            assertEquals(503, refused.status(), refused.body());
            assertEquals("shutting_down", refused.error().getString("code"));
            assertTrue(refused.raw().headers().firstValue("Retry-After").isPresent());
            assertEquals(200, server.get("/health/live").status());
            List<String> events = rest(stream);
            assertEquals("[DONE]", events.getLast());
            assertEquals(4, finished(events), "every choice ran to its end: " + events.size() + " events");
            assertTrue(server.process().waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, server.process().exitValue());
            String log = Files.readString(logs.resolve("stderr.txt"));
            assertTrue(log.lines().anyMatch(l -> l.contains(" status=503 ") && l.endsWith(" request_id=late-1")), log);
        }
    }

    @Test
    void requestsStillRunningWhenTheGraceEndsAreCancelledAndTheProcessStillExitsZero(@TempDir Path logs)
            throws Exception {
        try (Server server = Server.start(logs, "--shutdown-grace", "1")) {
            int promptTokens = server.promptTokens();
            BufferedReader stream = server.longStream(8, "cancelled-1");
            long start = System.nanoTime();
            server.process().destroy();
            List<String> events = rest(stream);
            assertEquals("[DONE]", events.getLast());
            JsonObject error = TestServer.parse(events.get(events.size() - 2)).getJsonObject("error");
            assertEquals("shutting_down", error.getString("code"), events.get(events.size() - 2));
            assertTrue(finished(events) < 8);
            assertTrue(server.process().waitFor(30, TimeUnit.SECONDS));
            assertEquals(0, server.process().exitValue());
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(20));
            // The access log tells what happened: the 503 the stream ended with, the tokens it really had.
            long tokens = 1 + events.stream().filter(e -> e.startsWith("{\"id\"")).map(TestServer::parse)
                    .map(c -> c.getJsonArray("choices").getJsonObject(0))
                    .filter(c -> c.get("finish_reason") == JsonValue.NULL).count();  // +1: the first, read by longStream
            String log = Files.readString(logs.resolve("stderr.txt"));
            String line = log.lines().filter(l -> l.contains(" request_id=cancelled-1")).findFirst().orElseThrow(
                    () -> new AssertionError("no access line for cancelled-1 in " + log));
            assertTrue(line.contains(" status=503 ") && line.contains(" prompt_tokens=" + 8 * promptTokens + " ")
                    && line.contains(" completion_tokens=" + tokens + " ") && line.endsWith(" outcome=error_mid_stream"),
                    line);
        }
    }
}
