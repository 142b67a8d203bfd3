package io.loraserve.server;

import static io.loraserve.server.BaseModelGoldenTest.ids;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import jakarta.json.JsonArray;
import jakarta.json.JsonObject;
import jakarta.json.JsonValue;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code echo} with {@code logprobs} scores the prompt (OpenAI's legacy API, vLLM): checked against
 * the reference by sending each fixture case's prompt followed by its reference tokens, whose
 * scores must be the reference logprobs. Prompts are prefilled in chunks of 16 tokens here, so a
 * prompt is scored across several passes; all cases run alone and all at once.
 */
class PromptLogprobsTest {
    private static final int CONTINUED = 12;
    private static TestServer server;

    @BeforeAll
    static void start() {
        server = TestServer.withFixtureAdapters("--max-num-batched-tokens", "16");
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    /** The case's prompt and its first {@link #CONTINUED} reference tokens, to be scored. */
    private static String scoring(Fixtures.Case c, String extra) {
        int[] prompt = IntStream.concat(Arrays.stream(c.promptIds()), Arrays.stream(c.tokens()).limit(CONTINUED)).toArray();
        String adapter = c.adapter() == null ? "" : ",\"adapter\":\"" + c.adapter() + "\"";
        return "{\"prompt\":" + ids(prompt) + adapter + ",\"echo\":true,\"logprobs\":2,\"temperature\":0" + extra + "}";
    }

    /** The scored prompt: null for its first token, then the reference logprob at every continued token. */
    private static void assertScoredLikeTheReference(Fixtures.Case c, JsonObject logprobs) {
        JsonArray lps = logprobs.getJsonArray("token_logprobs");
        int p = c.promptIds().length;
        assertEquals(JsonValue.NULL, lps.get(0), c.label());
        assertEquals(JsonValue.NULL, logprobs.getJsonArray("top_logprobs").get(0), c.label());
        for (int i = 1; i < p + CONTINUED; i++) {
            assertTrue(lps.getJsonNumber(i).doubleValue() <= 0, c.label() + " token " + i);
        }
        for (int k = 0; k < CONTINUED; k++) {
            assertEquals(c.logprobs()[k], lps.getJsonNumber(p + k).doubleValue(), 1e-3, c.label() + " continued token " + k);
            JsonObject top = logprobs.getJsonArray("top_logprobs").getJsonObject(p + k);
            assertTrue(top.size() >= 1, c.label());  // two alternatives of the same text share one key
            double best = top.values().stream().mapToDouble(v -> ((jakarta.json.JsonNumber) v).doubleValue()).max()
                    .orElseThrow();
            assertEquals(c.logprobs()[k], best, 1e-3, c.label() + ": the greedy reference token is the most likely");
        }
    }

    private static JsonObject choice(TestServer.Reply r) {
        assertEquals(200, r.status(), r.body());
        return r.json().getJsonArray("choices").getJsonObject(0);
    }

    @Test
    void everyCaseScoredAloneMatchesTheReference() {
        for (Fixtures.Case c : Fixtures.tinyCases()) {
            assertScoredLikeTheReference(c, choice(server.post("/v1/completions", scoring(c, ",\"max_tokens\":1")))
                    .getJsonObject("logprobs"));
        }
    }

    @Test
    void allCasesScoredAtOnceMatchTheReference() {
        List<CompletableFuture<TestServer.Reply>> replies = new ArrayList<>();
        for (Fixtures.Case c : Fixtures.tinyCases()) {
            replies.add(server.postAsync("/v1/completions", scoring(c, ",\"max_tokens\":4")));
        }
        for (int i = 0; i < replies.size(); i++) {
            assertScoredLikeTheReference(Fixtures.tinyCases().get(i), choice(replies.get(i).join()).getJsonObject("logprobs"));
        }
    }

    /** max_tokens 0 with echo returns the prompt alone, scored: nothing generated, nothing billed. */
    @Test
    void maxTokensZeroScoresThePromptOnly() {
        Fixtures.Case c = Fixtures.tinyCases().getFirst();
        TestServer.Reply r = server.post("/v1/completions", scoring(c, ",\"max_tokens\":0,\"return_token_ids\":true"));
        JsonObject choice = choice(r);
        int scored = c.promptIds().length + CONTINUED;
        assertEquals(scored, choice.getJsonObject("logprobs").getJsonArray("tokens").size());
        assertEquals(0, choice.getJsonArray("token_ids").size());
        assertEquals("length", choice.getString("finish_reason"), "nothing generated, whatever the hidden token was");
        assertEquals(0, r.json().getJsonObject("usage").getInt("completion_tokens"));
        assertEquals(scored, r.json().getJsonObject("usage").getInt("prompt_tokens"));
        String text = server.post("/detokenize", "{\"tokens\":" + ids(IntStream.concat(Arrays.stream(c.promptIds()),
                Arrays.stream(c.tokens()).limit(CONTINUED)).toArray()) + "}").json().getString("prompt");
        assertEquals(text, choice.getString("text"));
        assertScoredLikeTheReference(c, choice.getJsonObject("logprobs"));
    }

    /** Offsets point into the echoed text: each prompt token's text (after BOS) starts where its offset says. */
    @Test
    void promptOffsetsPointIntoTheEchoedText() {
        TestServer.Reply r = server.post("/v1/completions",
                "{\"prompt\":\"The quick brown fox\",\"echo\":true,\"logprobs\":0,\"max_tokens\":3,\"temperature\":0}");
        JsonObject choice = choice(r);
        String text = choice.getString("text");
        JsonObject lp = choice.getJsonObject("logprobs");
        for (int i = 1; i < r.json().getJsonObject("usage").getInt("prompt_tokens"); i++) {
            int offset = lp.getJsonArray("text_offset").getInt(i);
            assertTrue(text.startsWith(lp.getJsonArray("tokens").getString(i), offset), "token " + i + " at " + offset
                    + " in " + choice);
        }
    }

    /** Streamed, the echo arrives with the prompt's scores in one chunk; all chunks' logprobs join to the non-streamed ones. */
    @Test
    void streamedScoresEqualTheAnswerScores() {
        Fixtures.Case c = Fixtures.tinyCases().get(7);
        JsonObject whole = choice(server.post("/v1/completions", scoring(c, ",\"max_tokens\":3"))).getJsonObject("logprobs");
        List<JsonObject> chunks = server.postStream("/v1/completions", scoring(c, ",\"max_tokens\":3,\"stream\":true"))
                .chunks();
        List<JsonValue> streamed = new ArrayList<>();
        for (JsonObject chunk : chunks) {
            JsonValue lp = chunk.getJsonArray("choices").getJsonObject(0).get("logprobs");
            if (lp != JsonValue.NULL) {
                streamed.addAll(((JsonObject) lp).getJsonArray("token_logprobs"));
            }
        }
        assertEquals(whole.getJsonArray("token_logprobs"), streamed);
        assertEquals(c.promptIds().length + CONTINUED, chunks.getFirst().getJsonArray("choices").getJsonObject(0)
                .getJsonObject("logprobs").getJsonArray("tokens").size(), "the first chunk holds the scored prompt");
    }
}
