package io.loraserve.server;

import static io.loraserve.server.LoraGoldenTest.body;
import static io.loraserve.server.LoraGoldenTest.firstChoice;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code --quantization int8} on the demo model (every matrix quantized) and its adapters. Int8
 * weights move logits, so it is held to the reference within a stated tolerance, as 16-bit dtypes
 * are ({@link DeviceSmokeTest}): a step's token must equal the reference while every step up to it
 * had a top-1/top-2 logit gap of at least {@link #GAP}, with its logprob within {@link #LOGPROB}
 * (measured: 28 steps qualify, largest logprob error 0.021). Batching and pinning change nothing beyond float rounding, as at full precision.
 */
class Int8QuantizationTest {
    /** Top-2 gap (logits) beyond which int8 must pick the reference token. */
    static final double GAP = 0.25;
    /** Logprob tolerance at those steps. */
    static final double LOGPROB = 0.1;
    private static final List<String> ADAPTERS = List.of("code", "verse", "legal");
    private static TestServer server;
    /** Each demo case's reply, sent alone. */
    private static List<JsonObject> alone;

    @BeforeAll
    static void start() {
        server = new TestServer(Fixtures.demoModel(), "--quantization", "int8", "--kernels", "java",
                "--adapter-root", Fixtures.demoAdapters().toString());
        for (String a : ADAPTERS) {
            server.loadAdapter(a, Fixtures.demoAdapter(a));
        }
        alone = new ArrayList<>();
        for (Fixtures.Case c : Fixtures.demoCases()) {
            alone.add(firstChoice(server.post("/v1/completions", body(c))));
        }
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void demoCasesHoldTheReferenceWithinTheStatedTolerance() throws IOException {
        List<Fixtures.Case> cases = Fixtures.demoCases();
        List<double[]> gaps = DeviceSmokeTest.gaps("demo/expected.json");
        int compared = 0;
        double worst = 0;
        for (int k = 0; k < cases.size(); k++) {
            Fixtures.Case c = cases.get(k);
            JsonObject choice = alone.get(k);
            List<JsonNumber> tokens = choice.getJsonArray("token_ids").getValuesAs(JsonNumber.class);
            List<JsonNumber> logprobs = choice.getJsonObject("logprobs").getJsonArray("token_logprobs")
                    .getValuesAs(JsonNumber.class);
            for (int i = 0; i < c.tokens().length && gaps.get(k)[i] >= GAP; i++, compared++) {
                assertEquals(c.tokens()[i], tokens.get(i).intValue(), c.label() + ", step " + i);
                assertEquals(c.logprobs()[i], logprobs.get(i).doubleValue(), LOGPROB, c.label() + ", step " + i);
                worst = Math.max(worst, Math.abs(c.logprobs()[i] - logprobs.get(i).doubleValue()));
            }
        }
        System.out.printf("int8: %d steps compared, largest logprob error %.4f%n", compared, worst);
        assertTrue(compared >= cases.size(), "at least a step a case was compared: " + compared);
    }

    @Test
    void batchingAndPinningChangeNothing() {
        List<Fixtures.Case> cases = Fixtures.demoCases();
        assertSame(cases, alone, together(cases), "in one batch");
        for (String a : ADAPTERS) {
            assertEquals(200, server.adminPost("/admin/adapters/" + a + "/pin", "").status());
        }
        try {
            assertSame(cases, alone, together(cases), "pinned, in one batch");
        } finally {
            for (String a : ADAPTERS) {
                assertEquals(200, server.adminPost("/admin/adapters/" + a + "/unpin", "").status());
            }
        }
    }

    @Test
    void theStartupLogLineSaysHowManyMatricesAreInt8() {  // 6 layers x 4 fused matrices, and the LM head
        assertEquals("float32 (int8: 25 of 25 matrices)", server.server.runtime().weightsDescription());
    }

    private static List<JsonObject> together(List<Fixtures.Case> cases) {
        List<CompletableFuture<TestServer.Reply>> replies = cases.stream()
                .map(c -> server.postAsync("/v1/completions", body(c))).toList();
        return replies.stream().map(r -> firstChoice(r.join())).toList();
    }

    private static void assertSame(List<Fixtures.Case> cases, List<JsonObject> expected, List<JsonObject> got,
                                   String how) {
        for (int k = 0; k < cases.size(); k++) {
            assertEquals(expected.get(k).getJsonArray("token_ids"), got.get(k).getJsonArray("token_ids"),
                    cases.get(k).label() + " " + how);
            List<JsonNumber> a = expected.get(k).getJsonObject("logprobs").getJsonArray("token_logprobs")
                    .getValuesAs(JsonNumber.class);
            List<JsonNumber> b = got.get(k).getJsonObject("logprobs").getJsonArray("token_logprobs")
                    .getValuesAs(JsonNumber.class);
            for (int i = 0; i < a.size(); i++) {
                assertEquals(a.get(i).doubleValue(), b.get(i).doubleValue(), 1e-3, cases.get(k).label() + " " + how
                        + ", step " + i);
            }
        }
    }
}

