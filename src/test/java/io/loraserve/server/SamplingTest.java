package io.loraserve.server;

import static io.loraserve.server.BaseModelGoldenTest.quoted;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import io.loraserve.Fixtures;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Sampling parameters over HTTP, measured against the reference where one exists: top_k 1 is
 * greedy at any temperature; a seeded request gives the same tokens alone and in a busy mixed
 * batch; logit_bias steers the choice while logprobs stay those of the raw logits.
 */
class SamplingTest {
    private static TestServer server;
    private static List<Fixtures.Case> base;

    @BeforeAll
    static void start() {
        server = TestServer.withFixtureAdapters();
        base = Fixtures.tinyCases().stream().filter(c -> c.adapter() == null).toList();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    private static JsonObject choice(String body) {
        TestServer.Reply r = server.post("/v1/completions", body);
        assertEquals(200, r.status(), r.body());
        return r.json().getJsonArray("choices").getJsonObject(0);
    }

    private static int[] tokens(JsonObject choice) {
        return choice.getJsonArray("token_ids").getValuesAs(JsonNumber.class).stream().mapToInt(JsonNumber::intValue)
                .toArray();
    }

    private static String body(Fixtures.Case c, String sampling) {
        return body(c, c.tokens().length, sampling);
    }

    private static String body(Fixtures.Case c, int maxTokens, String sampling) {
        String adapter = c.adapter() == null ? "" : ",\"adapter\":\"" + c.adapter() + "\"";
        return "{\"prompt\":" + quoted(c.prompt()) + adapter + ",\"max_tokens\":" + maxTokens
                + ",\"ignore_eos\":true,\"return_token_ids\":true," + sampling + "}";
    }

    @Test
    void topKOneIsTheReferenceGreedyOutputAtAnyTemperature() {
        for (Fixtures.Case c : Fixtures.tinyCases()) {
            int[] got = tokens(choice(body(c, "\"temperature\":1.9,\"top_k\":1,\"seed\":3")));
            assertArrayEquals(c.tokens(), got, c.label());
        }
    }

    /**
     * The seeded request alone, twice, then again while fifteen other requests (every adapter, some
     * sampled without a seed) run beside it: the same tokens each time. Another seed gives others.
     */
    @Test
    void aSeededRequestGivesTheSameTokensAloneAndInABusyMixedBatch() {
        Fixtures.Case c = Fixtures.tinyCases().get(5);
        String seeded = body(c, 64, "\"temperature\":1.0,\"top_p\":0.95,\"seed\":11");
        int[] alone = tokens(choice(seeded));
        assertArrayEquals(alone, tokens(choice(seeded)));
        assertFalse(Arrays.equals(alone, tokens(choice(seeded.replace("\"seed\":11", "\"seed\":12")))),
                "another seed, other tokens");
        List<CompletableFuture<TestServer.Reply>> others = new ArrayList<>();
        for (Fixtures.Case other : Fixtures.tinyCases()) {
            if (other != c) {
                others.add(server.postAsync("/v1/completions", body(other, "\"temperature\":0.8")));
            }
        }
        CompletableFuture<TestServer.Reply> inBatch = server.postAsync("/v1/completions", seeded);
        others.forEach(f -> assertEquals(200, f.join().status()));
        TestServer.Reply r = inBatch.join();
        assertEquals(200, r.status(), r.body());
        assertArrayEquals(alone, tokens(r.json().getJsonArray("choices").getJsonObject(0)));
    }

    /**
     * n seeded choices differ from each other (choice k samples with seed + k, as vLLM's parallel
     * sampling does), the first is the n = 1 answer, and the whole answer repeats.
     */
    @Test
    void seededChoicesDifferAndTheFirstIsTheSingleAnswer() {
        Fixtures.Case c = base.getFirst();
        String one = body(c, 32, "\"temperature\":1.0,\"seed\":7");
        String three = one.replace("\"seed\":7", "\"seed\":7,\"n\":3");
        List<int[]> choices = choices(three);
        assertEquals(3, choices.stream().map(Arrays::toString).distinct().count(), "three different choices");
        assertArrayEquals(tokens(choice(one)), choices.getFirst());
        List<int[]> again = choices(three);
        for (int i = 0; i < 3; i++) {
            assertArrayEquals(choices.get(i), again.get(i), "choice " + i + " repeats");
        }
    }

    private static List<int[]> choices(String body) {
        TestServer.Reply r = server.post("/v1/completions", body);
        assertEquals(200, r.status(), r.body());
        return r.json().getJsonArray("choices").getValuesAs(JsonObject.class).stream().map(SamplingTest::tokens).toList();
    }

    /** +100 forces a token at every step; the reported logprobs stay the raw ones (as vLLM reports them). */
    @Test
    void aLogitBiasOfPlus100ForcesItsToken() {
        Fixtures.Case c = base.getFirst();
        int forced = 100;
        JsonObject biased = choice(body(c, "\"temperature\":0,\"logprobs\":0,\"logit_bias\":{\"" + forced + "\":100}"));
        int[] expected = new int[c.tokens().length];
        Arrays.fill(expected, forced);
        assertArrayEquals(expected, tokens(biased));
    }

    /**
     * -100 on the reference's first token: the first token becomes the reference's runner-up (the
     * unbiased request's second alternative), reported with its raw logprob; the bias stays on for
     * every step, so that token never appears.
     */
    @Test
    void aLogitBiasOfMinus100BansItsTokenAndLeavesLogprobsRaw() {
        Fixtures.Case c = base.getFirst();
        int banned = c.tokens()[0];
        JsonObject unbiased = choice(body(c, "\"temperature\":0,\"logprobs\":2"));
        Map.Entry<String, Double> runnerUp = topLogprobs(unbiased, 0).get(1);
        JsonObject biased = choice(body(c, "\"temperature\":0,\"logprobs\":2,\"logit_bias\":{\"" + banned + "\":-100}"));
        assertEquals(runnerUp.getKey(), biased.getJsonObject("logprobs").getJsonArray("tokens").getString(0));
        assertEquals(runnerUp.getValue(), biased.getJsonObject("logprobs").getJsonArray("token_logprobs")
                .getJsonNumber(0).doubleValue(), 1e-5);
        assertEquals(0, Arrays.stream(tokens(biased)).filter(t -> t == banned).count());
    }

    /** The {@code top_logprobs} of token {@code i}, most likely first. */
    private static List<Map.Entry<String, Double>> topLogprobs(JsonObject choice, int i) {
        JsonObject tops = choice.getJsonObject("logprobs").getJsonArray("top_logprobs").getJsonObject(i);
        return tops.entrySet().stream()
                .map(e -> Map.entry(e.getKey(), ((JsonNumber) e.getValue()).doubleValue()))
                .sorted(Map.Entry.<String, Double>comparingByValue().reversed())
                .toList();
    }
}
