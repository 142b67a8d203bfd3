package io.loraserve.loadtest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.config.OptionSource;
import io.loraserve.config.Options;
import io.loraserve.server.LoraServer;
import jakarta.json.JsonObject;
import jakarta.json.JsonValue;
import java.io.StringReader;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The load generator against a real server: every request streams to the end and is measured. */
class LoadGeneratorTest {
    private static LoraServer server;

    @BeforeAll
    static void start() {
        Path adapters = Fixtures.tinyAdapters();
        server = LoraServer.start(Options.parse(new String[] {
            "--model", Fixtures.tinyModel().toString(),
                "--port", "0", "--admin-port", "0", "--adapter-root", adapters.toString(),
                "--adapter", "attn-r4=" + adapters.resolve("attn-r4"),
                "--adapter", "all-r8-rslora=" + adapters.resolve("all-r8-rslora")}, OptionSource.NONE),
                Path.of("").toAbsolutePath());
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    private static LoadGenerator.Settings settings(String... extra) {
        String[] base = {"--url", "http://127.0.0.1:" + server.port(), "--requests", "24", "--max-tokens", "6",
            "--prompt-tokens", "8", "--vocab", "512", "--adapters", "attn-r4,all-r8-rslora", "--duration", "120"};
        String[] all = new String[base.length + extra.length];
        System.arraycopy(base, 0, all, 0, base.length);
        System.arraycopy(extra, 0, all, base.length, extra.length);
        return LoadGenerator.Settings.parse(all);
    }

    @SuppressWarnings("unchecked")
    private static void assertComplete(Map<String, Object> report) {
        assertEquals(24, report.get("requests_ok"), report.toString());
        assertTrue(((Map<String, Object>) report.get("errors_by_status")).isEmpty(), report.toString());
        for (String k : new String[] {"ttft_ms", "tpot_ms", "e2e_ms"}) {
            Map<String, Object> p = (Map<String, Object>) report.get(k);
            double p50 = (Double) p.get("p50");
            double p99 = (Double) p.get("p99");
            // Tokens of this toy model can share one network read, so a TPOT may be measured as 0.
            assertTrue((k.equals("tpot_ms") ? p50 >= 0 : p50 > 0) && p99 >= p50, k + " " + p);
        }
        assertTrue((Double) report.get("output_tokens_per_s") > 0, report.toString());
        assertEquals(24 * 6, report.get("output_tokens"), "tokens from usage, not chunks (the finish chunk has none)");
    }

    @Test
    void aReportWithoutSamplesIsValidJson() {
        String json = Json.of(Map.of("tpot_ms", LoadGenerator.percentiles(new double[0]), "nan", Double.NaN));
        JsonObject parsed = jakarta.json.Json.createReader(new StringReader(json)).readObject();
        assertEquals(JsonValue.NULL, parsed.getJsonObject("tpot_ms").get("p50"));
        assertEquals(JsonValue.NULL, parsed.get("nan"));
    }

    @Test
    void closedLoopClientsMeasureEveryRequest() throws InterruptedException {
        assertComplete(new LoadGenerator(settings("--clients", "4")).run());
    }

    @Test
    void openLoopPoissonArrivalsMeasureEveryRequest() throws InterruptedException {
        assertComplete(new LoadGenerator(settings("--rate", "40")).run());
    }

    /**
     * A stream that answers 200 and then carries an error chunk ({@code data: {"error":…}}, as a request that outlives
     * {@code --request-timeout} ends) is a failed request, not a success and not nothing.
     */
    @Test
    void errorChunksInsideAStreamCountAsErrors() throws InterruptedException {
        try (LoraServer timingOut = LoraServer.start(Options.parse(new String[] {
            "--model", Fixtures.tinyModel().toString(), "--port", "0", "--admin-port", "0", "--request-timeout", "1"},
                OptionSource.NONE), Path.of("").toAbsolutePath())) {
            // The engine sleeps between two steps; requests that arrive meanwhile are over the timeout when it wakes.
            timingOut.runtime().engine().execute(() -> {
                try {
                    Thread.sleep(3000);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            Map<String, Object> report = new LoadGenerator(LoadGenerator.Settings.parse(new String[] {
                "--url", "http://127.0.0.1:" + timingOut.port(), "--clients", "2", "--requests", "2",
                "--max-tokens", "4", "--prompt-tokens", "4", "--vocab", "512", "--duration", "60"})).run();
            assertEquals(0, report.get("requests_ok"), report.toString());
            assertEquals(Map.of("stream_error:timeout", 2), report.get("errors_by_status"), report.toString());
        }
    }

    @Test
    void zipfPutsMostWeightOnTheFirstAdapter() {
        double[] cdf = LoadGenerator.zipfCdf(4, 1.0);
        assertEquals(1.0, cdf[3], 1e-12);
        assertEquals(1 / (1 + 0.5 + 1.0 / 3 + 0.25), cdf[0], 1e-12);
    }
}
