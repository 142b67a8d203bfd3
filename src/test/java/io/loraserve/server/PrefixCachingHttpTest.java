package io.loraserve.server;

import static io.loraserve.server.BaseModelGoldenTest.assertMatches;
import static io.loraserve.server.BaseModelGoldenTest.body;
import static io.loraserve.server.BaseModelGoldenTest.ids;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonValue;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * Prefix caching through the API, with blocks of 4 tokens: {@code usage.prompt_tokens_details.cached_tokens}
 * in completions and chat, streamed or not; reference outputs from cached prompts; prompt scores
 * ({@code echo} + {@code logprobs}) the same before and after their prompt is cached; the hit
 * counters on {@code /metrics} under vLLM's and loraserve's names; {@code --no-enable-prefix-caching}.
 */
class PrefixCachingHttpTest {
    private static final String CHAT = "/v1/chat/completions";

    private static int cached(JsonObject response) {
        return response.getJsonObject("usage").getJsonObject("prompt_tokens_details").getInt("cached_tokens");
    }

    /** What a repeat of a {@code tokens}-token prompt finds cached: whole 4-token blocks before the last token's. */
    private static int fullHit(int tokens) {
        return (tokens - 1) / 4 * 4;
    }

    private static String adapterBody(Fixtures.Case c) {
        String b = body(ids(c.promptIds()), c.tokens().length);
        return c.adapter() == null ? b : b.replaceFirst("\\{", "{\"model\":\"" + c.adapter() + "\",");
    }

    @Test
    void completionsAndChatReportCachedTokensStreamedOrNot() {
        try (TestServer server = TestServer.withFixtureAdapters("--kv-block-size", "4")) {
            for (Fixtures.Case c : Fixtures.tinyCases()) {
                JsonObject miss = server.post("/v1/completions", adapterBody(c)).json();
                assertMatches(c, miss.getJsonArray("choices").getJsonObject(0));
                assertEquals(0, cached(miss), c.label());
                JsonObject hit = server.post("/v1/completions", adapterBody(c)).json();
                assertMatches(c, hit.getJsonArray("choices").getJsonObject(0));
                assertEquals(fullHit(c.promptIds().length), cached(hit), c.label());
                assertEquals(c.promptIds().length, hit.getJsonObject("usage").getInt("prompt_tokens"));
            }
            Fixtures.Case c = Fixtures.tinyCases().get(3);
            List<JsonObject> chunks = server.postStream("/v1/completions", StreamingTest.streamBody(ids(c.promptIds()), 4,
                    ",\"stream_options\":{\"include_usage\":true}")).chunks();
            assertEquals(fullHit(c.promptIds().length), cached(chunks.getLast()));
            assertEquals(JsonValue.NULL, chunks.getFirst().get("usage"));

            String chat = "{\"model\":\"all-r8-rslora\",\"messages\":[{\"role\":\"system\",\"content\":\"You answer in"
                    + " rhymes.\"},{\"role\":\"user\",\"content\":\"Tell me about the sea\"}],\"max_tokens\":5,"
                    + "\"temperature\":0";
            JsonObject first = server.post(CHAT, chat + "}").json();
            int promptTokens = first.getJsonObject("usage").getInt("prompt_tokens");
            assertEquals(0, cached(first));
            JsonObject second = server.post(CHAT, chat + "}").json();
            assertEquals(fullHit(promptTokens), cached(second));
            assertEquals(first.getJsonArray("choices"), second.getJsonArray("choices"));
            List<JsonObject> chatChunks = server.postStream(CHAT, chat + ",\"stream\":true,\"stream_options\":"
                    + "{\"include_usage\":true}}").chunks();
            assertEquals(fullHit(promptTokens), cached(chatChunks.getLast()));

            String metrics = server.get("/metrics").body();
            long vllmHits = counter(metrics, "vllm:prefix_cache_hits_total\\{model_name=\"tiny-llama\"\\}");
            long vllmQueries = counter(metrics, "vllm:prefix_cache_queries_total\\{model_name=\"tiny-llama\"\\}");
            assertTrue(vllmHits > 0 && vllmHits < vllmQueries, vllmHits + " of " + vllmQueries);
            assertEquals(vllmHits, counter(metrics, "loraserve_engine_prefix_cache_hits_total"));
            assertEquals(vllmQueries, counter(metrics, "loraserve_engine_prefix_cache_queries_total"));
        }
    }

    /** Scoring a prompt (echo + logprobs, max_tokens 0) after it was cached gives the scores it gave before. */
    @Test
    void promptScoresAreTheSameBeforeAndAfterThePromptIsCached() {
        try (TestServer server = TestServer.withFixtureAdapters("--kv-block-size", "4")) {
            for (Fixtures.Case c : Fixtures.tinyCases()) {
                String score = "{\"model\":\"" + (c.adapter() == null ? "tiny-llama" : c.adapter()) + "\",\"prompt\":"
                        + ids(c.promptIds()) + ",\"max_tokens\":0,\"echo\":true,\"logprobs\":2}";
                JsonObject before = server.post("/v1/completions", score).json();
                server.post("/v1/completions", adapterBody(c));
                JsonObject after = server.post("/v1/completions", score).json();
                assertEquals(0, cached(after), c.label());
                List<JsonValue> want = logprobs(before);
                List<JsonValue> got = logprobs(after);
                assertEquals(c.promptIds().length, got.size());
                assertEquals(JsonValue.NULL, got.getFirst());
                for (int i = 1; i < got.size(); i++) {
                    assertEquals(((JsonNumber) want.get(i)).doubleValue(), ((JsonNumber) got.get(i)).doubleValue(), 1e-6,
                            c.label() + " at " + i);
                }
            }
        }
    }

    @Test
    void withoutPrefixCachingNothingIsCached() {
        try (TestServer server = TestServer.withFixtureAdapters("--kv-block-size", "4", "--no-enable-prefix-caching")) {
            Fixtures.Case c = Fixtures.tinyCases().get(7);
            for (int i = 0; i < 2; i++) {
                JsonObject r = server.post("/v1/completions", adapterBody(c)).json();
                assertMatches(c, r.getJsonArray("choices").getJsonObject(0));
                assertEquals(0, cached(r));
            }
            String metrics = server.get("/metrics").body();
            assertEquals(0, counter(metrics, "vllm:prefix_cache_queries_total\\{model_name=\"tiny-llama\"\\}"));
            assertEquals(0, counter(metrics, "loraserve_engine_kv_blocks_cached"));
        }
    }

    private static List<JsonValue> logprobs(JsonObject completion) {
        return completion.getJsonArray("choices").getJsonObject(0).getJsonObject("logprobs").getJsonArray("token_logprobs");
    }

    /** The value of the one series {@code series} (a regex) in a Prometheus text scrape. */
    private static long counter(String scrape, String series) {
        Matcher m = Pattern.compile("(?m)^" + series + " ([0-9.E+]+)$").matcher(scrape);
        assertTrue(m.find(), series + " not in /metrics");
        return (long) Double.parseDouble(m.group(1));
    }
}
