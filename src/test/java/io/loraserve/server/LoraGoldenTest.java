package io.loraserve.server;

import static io.loraserve.server.BaseModelGoldenTest.assertMatches;
import static io.loraserve.server.BaseModelGoldenTest.quoted;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import jakarta.json.JsonObject;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every fixture case (base + three adapters) over HTTP with adapters loaded at runtime through
 * the admin API: alone, all sixteen at once in mixed batches, and with each adapter pinned.
 */
class LoraGoldenTest {
    private static TestServer server;

    @BeforeAll
    static void start() {
        server = TestServer.withFixtureAdapters();
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    static String body(Fixtures.Case c) {
        String adapter = c.adapter() == null ? "" : ",\"adapter\":\"" + c.adapter() + "\"";
        return "{\"prompt\":" + quoted(c.prompt()) + adapter + ",\"max_tokens\":" + c.tokens().length
                + ",\"temperature\":0,\"ignore_eos\":true,\"logprobs\":0,\"return_token_ids\":true}";
    }

    static JsonObject firstChoice(TestServer.Reply r) {
        assertEquals(200, r.status(), r.body());
        return r.json().getJsonArray("choices").getJsonObject(0);
    }

    @Test
    void everyCaseAloneMatchesTheReference() {
        for (Fixtures.Case c : Fixtures.tinyCases()) {
            assertMatches(c, firstChoice(server.post("/v1/completions", body(c))));
        }
    }

    /** Sends every case at once, so the engine batches them together, and checks each reply. */
    static void allAtOnceMatchTheReference(TestServer server, List<Fixtures.Case> cases) {
        List<CompletableFuture<TestServer.Reply>> replies = cases.stream()
                .map(c -> server.postAsync("/v1/completions", body(c)))
                .toList();
        for (int i = 0; i < cases.size(); i++) {
            assertMatches(cases.get(i), firstChoice(replies.get(i).join()));
        }
    }

    @Test
    void allSixteenCasesAtOnceMatchTheReference() {
        allAtOnceMatchTheReference(server, Fixtures.tinyCases());
    }

    @Test
    void pinnedAdaptersServeTheReferenceFromMergedWeights() {
        for (String a : TestServer.FIXTURE_ADAPTERS) {
            TestServer.Reply pin = server.adminPost("/admin/adapters/" + a + "/pin", "");
            assertEquals(200, pin.status(), pin.body());
            assertTrue(pin.json().getBoolean("pinned"));
        }
        try {
            allAtOnceMatchTheReference(server, Fixtures.tinyCases());
        } finally {
            for (String a : TestServer.FIXTURE_ADAPTERS) {
                assertEquals(200, server.adminPost("/admin/adapters/" + a + "/unpin", "").status());
            }
        }
    }

    @Test
    void modelFieldNamingAnAdapterSelectsIt() {
        Fixtures.Case c = Fixtures.tinyCases().stream().filter(k -> "attn-r4".equals(k.adapter())).findFirst().orElseThrow();
        String body = body(new Fixtures.Case(null, c.prompt(), c.promptIds(), c.tokens(), c.logprobs()))
                .replace("{\"prompt\"", "{\"model\":\"attn-r4\",\"prompt\"");
        JsonObject reply = server.post("/v1/completions", body).json();
        assertEquals("attn-r4", reply.getString("model"));
        assertMatches(c, reply.getJsonArray("choices").getJsonObject(0));
    }
}
