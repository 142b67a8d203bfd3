package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.loraserve.Fixtures;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The base-model reference cases over real HTTP, from text and from token ids, alone and batched. */
class BaseModelGoldenTest {
    private static TestServer server;
    private static List<Fixtures.Case> cases;

    @BeforeAll
    static void start() {
        server = new TestServer(Fixtures.tinyModel());
        cases = Fixtures.tinyCases().stream().filter(c -> c.adapter() == null).toList();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static String body(String prompt, int maxTokens) {
        return "{\"prompt\":" + prompt + ",\"max_tokens\":" + maxTokens
                + ",\"temperature\":0,\"ignore_eos\":true,\"logprobs\":0,\"return_token_ids\":true}";
    }

    static String quoted(String s) {
        return jakarta.json.Json.createValue(s).toString();
    }

    static String ids(int[] ids) {
        return Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(",", "[", "]"));
    }

    static void assertMatches(Fixtures.Case c, JsonObject choice) {
        int[] tokens = choice.getJsonArray("token_ids").getValuesAs(JsonNumber.class).stream()
                .mapToInt(JsonNumber::intValue).toArray();
        assertArrayEquals(c.tokens(), tokens, c.label());
        var lps = choice.getJsonObject("logprobs").getJsonArray("token_logprobs").getValuesAs(JsonNumber.class);
        for (int i = 0; i < c.logprobs().length; i++) {
            assertEquals(c.logprobs()[i], lps.get(i).doubleValue(), 1e-3, c.label() + " logprob " + i);
        }
    }

    @Test
    void textPromptsGiveReferenceTokensAndLogprobs() {
        for (Fixtures.Case c : cases) {
            TestServer.Reply r = server.post("/v1/completions", body(quoted(c.prompt()), c.tokens().length));
            assertEquals(200, r.status(), r.body());
            JsonObject choice = r.json().getJsonArray("choices").getJsonObject(0);
            assertArrayEquals(c.promptIds(), choice.getJsonArray("prompt_token_ids").getValuesAs(JsonNumber.class)
                    .stream().mapToInt(JsonNumber::intValue).toArray(), c.label());
            assertMatches(c, choice);
            assertEquals("length", choice.getString("finish_reason"));
            assertEquals(c.tokens().length, r.json().getJsonObject("usage").getInt("completion_tokens"));
        }
    }

    @Test
    void tokenIdPromptsGiveReferenceTokensAndLogprobs() {
        for (Fixtures.Case c : cases) {
            TestServer.Reply r = server.post("/v1/completions", body(ids(c.promptIds()), c.tokens().length));
            assertEquals(200, r.status(), r.body());
            assertMatches(c, r.json().getJsonArray("choices").getJsonObject(0));
        }
    }

    @Test
    void fourConcurrentRequestsMatchTheirSoloReferences() {
        List<CompletableFuture<TestServer.Reply>> replies = cases.stream()
                .map(c -> server.postAsync("/v1/completions", body(quoted(c.prompt()), c.tokens().length)))
                .toList();
        for (int i = 0; i < cases.size(); i++) {
            TestServer.Reply r = replies.get(i).join();
            assertEquals(200, r.status(), r.body());
            assertMatches(cases.get(i), r.json().getJsonArray("choices").getJsonObject(0));
        }
    }

    @Test
    void oneRequestWithFourPromptsMatchesTheReference() {
        String prompts = cases.stream().map(c -> quoted(c.prompt())).collect(Collectors.joining(",", "[", "]"));
        TestServer.Reply r = server.post("/v1/completions", body(prompts, 24));
        assertEquals(200, r.status(), r.body());
        var choices = r.json().getJsonArray("choices");
        assertEquals(cases.size(), choices.size());
        for (int i = 0; i < cases.size(); i++) {
            assertEquals(i, choices.getJsonObject(i).getInt("index"));
            assertMatches(cases.get(i), choices.getJsonObject(i));
        }
    }
}
