package io.loraserve.server;

import static io.loraserve.server.BaseModelGoldenTest.assertMatches;
import static io.loraserve.server.BaseModelGoldenTest.body;
import static io.loraserve.server.BaseModelGoldenTest.quoted;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import jakarta.json.JsonNumber;
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
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/**
 * {@code --max-queued-requests}: a full queue answers 429 with Retry-After; what was admitted runs on untouched.
 *
 * <p>The servers run libtorch's kernels: a 240-token blocker must still run while the test sends
 * its next requests, and the Java kernels finish it on the tiny model within milliseconds.
 */
class BackpressureTest {

    /**
     * One sequence at a time and room for two waiting. Request A runs (its first chunk has
     * arrived); request B, two choices with {@code echo} (so its first chunk proves both were
     * queued), fills the queue. The burst that follows meets a full queue until A ends; requests
     * of the burst that arrive once a slot frees are admitted and must be exact.
     */
    @Test
    void fullQueueAnswers429WithRetryAfterAndAdmittedRequestsKeepTheirOutput() throws Exception {
        List<Fixtures.Case> cases = Fixtures.tinyCases().stream().filter(c -> c.adapter() == null).toList();
        Fixtures.Case blockerCase = cases.getFirst();
        try (TestServer server = new TestServer(Fixtures.tinyModel(), "--max-num-seqs", "1", "--max-queued-requests", "2", "--kernels", "torch")) {
            Opened running = stream(server, blockerCase, 240, 1, false);
            Opened queued = stream(server, blockerCase, 24, 2, true);
            List<CompletableFuture<TestServer.Reply>> burst = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                Fixtures.Case c = cases.get(i % cases.size());
                burst.add(CompletableFuture.supplyAsync(
                        () -> server.post("/v1/completions", body(quoted(c.prompt()), c.tokens().length))));
            }
            int refused = 0;
            for (int i = 0; i < burst.size(); i++) {
                TestServer.Reply r = burst.get(i).join();
                if (r.status() == 429) {
                    refused++;
                    assertTrue(Integer.parseInt(r.raw().headers().firstValue("Retry-After").orElseThrow()) >= 1);
                    assertEquals("too_many_requests", r.error().getString("code"));
                    assertTrue(r.error().getString("message").contains("2"), r.body());
                } else {
                    assertEquals(200, r.status(), r.body());
                    assertMatches(cases.get(i % cases.size()), r.json().getJsonArray("choices").getJsonObject(0));
                }
            }
            assertTrue(refused >= 1, "the burst met a full queue");
            assertCompleted(running, blockerCase, 240, 1);
            assertCompleted(queued, blockerCase, 24, 2);
            assertEquals(0, server.awaitEngineIdle(Duration.ofSeconds(5)).kvBlocksUsed());
        }
    }

    /**
     * A request's choices are queued all at once or not at all. With A running and B's one choice
     * waiting, C's two choices do not fit the queue of two: C gets 429 and none of its choices was
     * ever queued (the engine counts both as rejected and cancels nothing); A and B are untouched.
     * A request whose choices could never fit the queue is a 400 naming both numbers.
     */
    @Test
    void aRequestIsQueuedWholeOrNotAtAll() throws Exception {
        Fixtures.Case c = Fixtures.tinyCases().getFirst();
        try (TestServer server = new TestServer(Fixtures.tinyModel(), "--max-num-seqs", "1", "--max-queued-requests", "2", "--kernels", "torch")) {
            TestServer.Reply tooMany = server.post("/v1/completions", "{\"prompt\":[\"a\",\"b\"],\"n\":2}");
            assertEquals(400, tooMany.status(), tooMany.body());
            assertEquals("n", tooMany.error().getString("param"));
            assertTrue(tooMany.error().getString("message").contains("4 choices"), tooMany.body());
            assertTrue(tooMany.error().getString("message").contains("(2, --max-queued-requests)"), tooMany.body());

            Opened running = stream(server, c, 240, 1, false);
            Opened queued = stream(server, c, 24, 1, true);
            TestServer.Reply refused = server.post("/v1/completions", body(quoted(c.prompt()), 24).replace("{", "{\"n\":2,"));
            assertEquals(429, refused.status(), refused.body());
            assertCompleted(running, c, 240, 1);
            assertCompleted(queued, c, 24, 1);
            String metrics = server.get("/metrics").body();
            assertEquals(2.0, sample(metrics, "loraserve_requests_total{adapter=\"base\",status=\"rejected\"}"), metrics);
            assertEquals(0.0, sample(metrics, "loraserve_requests_total{adapter=\"base\",status=\"cancelled\"}"), metrics);
            assertEquals(200, server.post("/v1/completions", body(quoted(c.prompt()), 24).replace("{", "{\"n\":2,")).status());
        }
    }

    private static double sample(String metrics, String series) {
        return metrics.lines().filter(l -> l.startsWith(series + " ")).mapToDouble(l -> Double.parseDouble(l.substring(series.length() + 1)))
                .findFirst().orElseThrow(() -> new AssertionError("no " + series));
    }

    /**
     * A streamed request of {@code n} greedy choices, returned once its first chunk has arrived:
     * its first token, or with {@code echo} the echoed prompt, sent as soon as every choice is queued.
     */
    private static Opened stream(TestServer server, Fixtures.Case c, int maxTokens, int n, boolean echo)
            throws Exception {
        HttpResponse<InputStream> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(server.uri("/v1/completions"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":" + quoted(c.prompt()) + ",\"max_tokens\":"
                        + maxTokens + ",\"n\":" + n + ",\"temperature\":0,\"ignore_eos\":true,\"stream\":true,"
                        + "\"echo\":" + echo + ",\"return_token_ids\":true}"))
                .build(), HttpResponse.BodyHandlers.ofInputStream());
        assertEquals(200, r.statusCode());
        BufferedReader lines = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8));
        String first = lines.readLine();
        assertTrue(first.startsWith("data: {"), first);
        return new Opened(first, lines);
    }

    /** A stream whose first line has been read. */
    private record Opened(String first, BufferedReader rest) {
    }

    /** Every choice of the stream ran its {@code maxTokens}, greedy, starting with the reference tokens. */
    private static void assertCompleted(Opened stream, Fixtures.Case c, int maxTokens, int n) throws IOException {
        Map<Integer, List<Integer>> tokens = new HashMap<>();
        Map<Integer, String> finish = new HashMap<>();
        List<String> lines = new ArrayList<>(List.of(stream.first()));
        for (String line; (line = stream.rest().readLine()) != null; ) {
            lines.add(line);
        }
        for (String line : lines) {
            if (!line.startsWith("data: {")) {
                continue;
            }
            JsonObject choice = TestServer.parse(line.substring(6)).getJsonArray("choices").getJsonObject(0);
            int index = choice.getInt("index");
            if (choice.containsKey("token_ids")) {
                choice.getJsonArray("token_ids").getValuesAs(JsonNumber.class)
                        .forEach(id -> tokens.computeIfAbsent(index, k -> new ArrayList<>()).add(id.intValue()));
            }
            if (choice.get("finish_reason") != JsonValue.NULL) {
                finish.put(index, choice.getString("finish_reason"));
            }
        }
        assertEquals(n, finish.size());
        for (int index = 0; index < n; index++) {
            assertEquals("length", finish.get(index));
            int[] got = tokens.get(index).stream().mapToInt(Integer::intValue).toArray();
            assertEquals(maxTokens, got.length, "choice " + index);
            assertArrayEquals(c.tokens(), Arrays.copyOf(got, c.tokens().length), "choice " + index);
        }
    }
}
