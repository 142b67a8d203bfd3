package io.loraserve.server;

import static io.loraserve.server.BaseModelGoldenTest.quoted;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.engine.EngineStats;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonValue;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@code /v1/completions} with {@code stream}: framing, reference tokens, text, usage, indices, latency. */
class StreamingTest {
    private static TestServer server;
    private static List<Fixtures.Case> cases;

    @BeforeAll
    static void start() {
        server = new TestServer(Fixtures.tinyModel(), "--adapter-root", Fixtures.tinyAdapters().toString());
        server.loadAdapter("attn-r4", Fixtures.tinyAdapter("attn-r4"));
        cases = Fixtures.tinyCases().stream().filter(c -> c.adapter() == null).toList();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static String streamBody(String prompt, int maxTokens, String extra) {
        return "{\"prompt\":" + prompt + ",\"max_tokens\":" + maxTokens
                + ",\"temperature\":0,\"ignore_eos\":true,\"stream\":true" + extra + "}";
    }

    private static JsonObject choice(JsonObject chunk) {
        assertEquals(1, chunk.getJsonArray("choices").size(), chunk.toString());
        return chunk.getJsonArray("choices").getJsonObject(0);
    }

    private static String nonStreamedText(String prompt, int maxTokens) {
        TestServer.Reply r = server.post("/v1/completions", "{\"prompt\":" + prompt + ",\"max_tokens\":" + maxTokens
                + ",\"temperature\":0,\"ignore_eos\":true}");
        assertEquals(200, r.status(), r.body());
        return r.json().getJsonArray("choices").getJsonObject(0).getString("text");
    }

    @Test
    void eventsAreSseDataLinesEndingWithDone() {
        TestServer.Reply r = server.post("/v1/completions", streamBody(quoted("Hello, world"), 4, ""));
        assertEquals(200, r.status());
        assertTrue(r.raw().headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
        String[] events = r.body().split("\n\n", -1);
        assertEquals("", events[events.length - 1], "the body ends with a blank line");
        assertEquals("data: [DONE]", events[events.length - 2]);
        for (int i = 0; i < events.length - 2; i++) {
            assertTrue(events[i].startsWith("data: {") && !events[i].contains("\n"), events[i]);
            JsonObject chunk = TestServer.parse(events[i].substring(6));
            assertEquals("text_completion", chunk.getString("object"));
            assertTrue(chunk.getString("id").startsWith("cmpl-"));
            assertEquals("tiny-llama", chunk.getString("model"));
        }
    }

    @Test
    void streamedTokensAndLogprobsMatchTheReference() {
        for (Fixtures.Case c : cases) {
            List<JsonObject> chunks = server.postStream("/v1/completions", streamBody(quoted(c.prompt()),
                    c.tokens().length, ",\"logprobs\":0,\"return_token_ids\":true")).chunks();
            List<Integer> tokens = new ArrayList<>();
            List<Double> logprobs = new ArrayList<>();
            for (JsonObject chunk : chunks) {
                JsonObject ch = choice(chunk);
                if (ch.containsKey("token_ids")) {
                    ch.getJsonArray("token_ids").getValuesAs(JsonNumber.class).forEach(n -> tokens.add(n.intValue()));
                    ch.getJsonObject("logprobs").getJsonArray("token_logprobs").getValuesAs(JsonNumber.class)
                            .forEach(n -> logprobs.add(n.doubleValue()));
                }
            }
            assertArrayEquals(c.tokens(), tokens.stream().mapToInt(Integer::intValue).toArray(), c.label());
            for (int i = 0; i < c.logprobs().length; i++) {
                assertEquals(c.logprobs()[i], logprobs.get(i), 1e-3, c.label() + " logprob " + i);
            }
            assertEquals("length", choice(chunks.getLast()).getString("finish_reason"));
        }
    }

    @Test
    void adapterStreamsItsReferenceTokensAndReleasesTheAdapter() {
        for (Fixtures.Case c : Fixtures.tinyCases().stream().filter(c -> "attn-r4".equals(c.adapter())).toList()) {
            List<JsonObject> chunks = server.postStream("/v1/completions", streamBody(quoted(c.prompt()),
                    c.tokens().length, ",\"model\":\"attn-r4\",\"return_token_ids\":true")).chunks();
            List<Integer> tokens = new ArrayList<>();
            for (JsonObject chunk : chunks) {
                assertEquals("attn-r4", chunk.getString("model"));
                JsonObject ch = choice(chunk);
                if (ch.containsKey("token_ids")) {
                    ch.getJsonArray("token_ids").getValuesAs(JsonNumber.class).forEach(n -> tokens.add(n.intValue()));
                }
            }
            assertArrayEquals(c.tokens(), tokens.stream().mapToInt(Integer::intValue).toArray(), c.label());
        }
        assertEquals(0, server.adminGet("/admin/adapters/attn-r4").json().getInt("requests_in_flight"));
    }

    /**
     * The random fixture model emits stray bytes that are not UTF-8 at all, so the reference text
     * itself holds U+FFFD. What streaming must guarantee: chunks concatenate to exactly the
     * non-streamed text, so no valid character was split or garbled at a chunk boundary, and no
     * chunk ends in half a surrogate pair.
     */
    @Test
    void streamedTextConcatenatesToTheNonStreamedText() {
        for (Fixtures.Case c : cases) {
            StringBuilder streamed = new StringBuilder();
            for (JsonObject chunk : server.postStream("/v1/completions",
                    streamBody(quoted(c.prompt()), c.tokens().length, "")).chunks()) {
                String piece = choice(chunk).getString("text");
                assertFalse(!piece.isEmpty() && Character.isHighSurrogate(piece.charAt(piece.length() - 1)), piece);
                streamed.append(piece);
            }
            assertEquals(nonStreamedText(quoted(c.prompt()), c.tokens().length), streamed.toString(), c.label());
        }
    }

    @Test
    void includeUsageEndsWithAChunkOfTotalsAndNoChoices() {
        Fixtures.Case c = cases.get(0);
        List<JsonObject> chunks = server.postStream("/v1/completions", streamBody(quoted(c.prompt()), 5,
                ",\"stream_options\":{\"include_usage\":true}")).chunks();
        JsonObject last = chunks.getLast();
        assertEquals(0, last.getJsonArray("choices").size());
        JsonObject usage = last.getJsonObject("usage");
        assertEquals(c.promptIds().length, usage.getInt("prompt_tokens"));
        assertEquals(5, usage.getInt("completion_tokens"));
        assertEquals(c.promptIds().length + 5, usage.getInt("total_tokens"));
        for (JsonObject chunk : chunks.subList(0, chunks.size() - 1)) {
            assertEquals(JsonValue.NULL, chunk.get("usage"), "usage is null on every other chunk");
        }
        JsonObject withoutOption = server.postStream("/v1/completions", streamBody(quoted("Hello, world"), 5, ""))
                .chunks().getLast();
        assertFalse(withoutOption.containsKey("usage"));
    }

    @Test
    void twoPromptsTimesTwoChoicesStreamInterleavedUnderTheirIndex() {
        Fixtures.Case a = cases.get(0);
        Fixtures.Case b = cases.get(1);
        List<JsonObject> chunks = server.postStream("/v1/completions", streamBody(
                "[" + quoted(a.prompt()) + "," + quoted(b.prompt()) + "]", 24,
                ",\"n\":2,\"return_token_ids\":true,\"logprobs\":0")).chunks();
        Map<Integer, List<Integer>> tokens = new HashMap<>();
        Map<Integer, String> finish = new HashMap<>();
        for (JsonObject chunk : chunks) {
            JsonObject ch = choice(chunk);
            int index = ch.getInt("index");
            if (ch.containsKey("token_ids")) {
                ch.getJsonArray("token_ids").getValuesAs(JsonNumber.class)
                        .forEach(n -> tokens.computeIfAbsent(index, k -> new ArrayList<>()).add(n.intValue()));
            }
            if (ch.get("finish_reason") != JsonValue.NULL) {
                assertFalse(finish.containsKey(index), "one finish per choice");
                finish.put(index, ch.getString("finish_reason"));
            }
        }
        assertEquals(Map.of(0, "length", 1, "length", 2, "length", 3, "length"), finish);
        for (int index = 0; index < 4; index++) {
            int[] expected = (index < 2 ? a : b).tokens();
            assertArrayEquals(expected, tokens.get(index).stream().mapToInt(Integer::intValue).toArray(), "choice " + index);
        }
    }

    @Test
    void stopStringIsCutAndNeverHalfSent() {
        Fixtures.Case c = cases.get(2);
        String full = nonStreamedText(quoted(c.prompt()), 24);
        String stop = full.substring(6, 10);
        StringBuilder streamed = new StringBuilder();
        List<JsonObject> chunks = server.postStream("/v1/completions", streamBody(quoted(c.prompt()), 24,
                ",\"stop\":" + quoted(stop))).chunks();
        chunks.forEach(chunk -> streamed.append(choice(chunk).getString("text")));
        assertEquals(full.substring(0, full.indexOf(stop)), streamed.toString());
        assertEquals("stop", choice(chunks.getLast()).getString("finish_reason"));
    }

    @Test
    void echoSendsThePromptAsTheFirstChunk() {
        List<JsonObject> chunks = server.postStream("/v1/completions", streamBody(quoted("Hello, world"), 3,
                ",\"echo\":true")).chunks();
        assertEquals("Hello, world", choice(chunks.getFirst()).getString("text"));
    }

    /**
     * With one sequence at a time and eight long choices, the first chunk must arrive while seven
     * choices still wait: the stream does not wait for anything but the first token. On libtorch's
     * kernels a choice takes most of a second; the Java kernels would end it in ~25 ms, too close to
     * how late the test thread may read the stats.
     */
    @Test
    void firstChunkArrivesAsSoonAsTheFirstTokenExists() throws Exception {
        try (TestServer oneAtATime = new TestServer(Fixtures.tinyModel(), "--max-num-seqs", "1", "--kernels", "torch")) {
            HttpResponse<InputStream> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(oneAtATime.uri("/v1/completions"))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(streamBody(quoted("Hello, world"), 240, ",\"n\":8")))
                    .build(), HttpResponse.BodyHandlers.ofInputStream());
            try (BufferedReader lines = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
                String first = lines.readLine();
                EngineStats stats = oneAtATime.server.runtime().engine().stats();
                assertTrue(first.startsWith("data: {"), first);
                assertEquals(JsonValue.NULL, choice(TestServer.parse(first.substring(6))).get("finish_reason"));
                assertTrue(stats.running() + stats.waiting() >= 7, "choices still to run: " + stats);
                while (lines.readLine() != null) {
                    // read the rest so the request ends normally
                }
            }
        }
    }
}
