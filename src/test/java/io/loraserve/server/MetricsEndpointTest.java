package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import java.net.http.HttpRequest;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@code GET /metrics} over real HTTP: formats, ports, and the names other tools depend on. */
class MetricsEndpointTest {
    private static TestServer server;

    @BeforeAll
    static void start() {
        server = new TestServer(Fixtures.tinyModel(), "--served-model-name", "tiny");
        TestServer.Reply r = server.post("/v1/completions",
                "{\"model\":\"tiny\",\"prompt\":\"Hello, world\",\"max_tokens\":4,\"temperature\":0,\"ignore_eos\":true}");
        assertEquals(200, r.status(), r.body());
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    @Test
    void vllmCompatibleGaugesExistWithTheirLabels() {
        String text = server.get("/metrics").body();
        assertGauge(text, "vllm:num_requests_waiting", "model_name=\"tiny\"");
        assertGauge(text, "vllm:num_requests_running", "model_name=\"tiny\"");
        double usage = value(text, "vllm:kv_cache_usage_perc\\{model_name=\"tiny\"}");
        assertTrue(usage >= 0 && usage <= 1, "kv usage is a fraction: " + usage);
        Matcher lora = Pattern.compile("(?m)^vllm:lora_requests_info\\{([^}]*)} (\\S+)$").matcher(text);
        assertTrue(lora.find(), "vllm:lora_requests_info is exported:\n" + text);
        for (String label : List.of("max_lora=\"", "running_lora_adapters=\"", "waiting_lora_adapters=\"")) {
            assertTrue(lora.group(1).contains(label), label + " in " + lora.group(1));
        }
        double timestamp = Double.parseDouble(lora.group(2));
        assertTrue(Math.abs(timestamp - System.currentTimeMillis() / 1000.0) < 600, "value is a Unix time: " + timestamp);
    }

    @Test
    void finishedRequestCountsUnderTheBaseAdapterLabel() {
        String text = server.get("/metrics").body();
        assertEquals(1.0, value(text, "loraserve_requests_total\\{adapter=\"base\",status=\"ok\"}"));
        assertEquals(0.0, value(text, "loraserve_requests_total\\{adapter=\"base\",status=\"error\"}"));
        assertEquals(4.0, value(text, "loraserve_generation_tokens_total\\{adapter=\"base\"}"));
        assertEquals(1.0, value(text, "loraserve_time_to_first_token_seconds_count\\{adapter=\"base\"}"));
        assertEquals(1.0, value(text, "loraserve_time_to_first_token_seconds_bucket\\{adapter=\"base\",le=\"\\+Inf\"}"));
        assertTrue(value(text, "loraserve_engine_step_seconds_count") >= 4, "steps counted");
        assertTrue(value(text, "loraserve_native_physical_bytes") > 0, "native memory reported");
        assertTrue(text.contains("\njvm_memory_used_bytes{"), "JVM binders registered");
    }

    @Test
    void aCpuServerExportsNativeMemoryButNoDeviceMemory() {
        String text = server.get("/metrics").body();
        assertTrue(text.lines().anyMatch(l -> l.startsWith("loraserve_native_physical_bytes ")), text);
        assertFalse(text.contains("loraserve_device_memory"), "device memory is a CUDA-only gauge");
    }

    @Test
    void defaultFormatIsPrometheusText() {
        TestServer.Reply r = server.get("/metrics");
        assertEquals(200, r.status());
        String type = r.raw().headers().firstValue("Content-Type").orElseThrow();
        assertTrue(type.startsWith("text/plain; version=0.0.4"), type);
        assertTrue(r.body().contains("# TYPE loraserve_requests_total counter"), "text format names counters with _total");
    }

    @Test
    void openMetricsWhenAcceptAsksForIt() {
        TestServer.Reply r = TestServer.send(HttpRequest.newBuilder(server.uri("/metrics"))
                .header("Accept", "application/openmetrics-text; version=1.0.0; charset=utf-8").GET().build());
        assertEquals(200, r.status());
        String type = r.raw().headers().firstValue("Content-Type").orElseThrow();
        assertTrue(type.startsWith("application/openmetrics-text"), type);
        assertTrue(r.body().contains("# TYPE loraserve_requests counter"), "OpenMetrics names the counter family");
        assertTrue(r.body().endsWith("# EOF\n"), "OpenMetrics ends with # EOF");
        assertTrue(r.body().contains("\nvllm:num_requests_waiting{"), "vLLM names survive OpenMetrics too");
    }

    @Test
    void adminPortServesTheSameMetrics() {
        TestServer.Reply r = server.adminGet("/metrics");
        assertEquals(200, r.status());
        assertTrue(r.body().contains("loraserve_requests_total{adapter=\"base\",status=\"ok\"}"));
    }

    private static void assertGauge(String text, String name, String labels) {
        assertTrue(text.contains("# TYPE " + name + " gauge"), name + " is a gauge");
        assertTrue(Pattern.compile("(?m)^" + Pattern.quote(name + "{" + labels + "}") + " \\S+$").matcher(text).find(),
                name + "{" + labels + "} is exported");
    }

    /** The value of the one sample whose name and labels match {@code series} (a regex). */
    private static double value(String text, String series) {
        Matcher m = Pattern.compile("(?m)^" + series + " (\\S+)$").matcher(text);
        assertTrue(m.find(), series + " not in:\n" + text);
        return Double.parseDouble(m.group(1));
    }
}
