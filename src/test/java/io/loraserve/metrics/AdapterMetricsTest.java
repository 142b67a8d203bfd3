package io.loraserve.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.engine.EngineStats;
import io.loraserve.engine.FinishReason;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Per-adapter series: the label cap, removal, catalogue state and the vLLM adapter lists. */
class AdapterMetricsTest {
    private final Metrics metrics = new Metrics("m", 2, () -> new EngineStats(3, 1, 30, 120, 7, 0, 11, 0, 0, 0), Optional.empty());

    @AfterEach
    void close() {
        metrics.close();
    }

    @Test
    void adaptersPastTheCapShareTheOtherLabel() {
        for (String a : new String[] {"a", "b", "c", "d"}) {
            finishOk(a);
        }
        finishOk(null);
        String text = scrape();
        assertEquals(1, value(text, "loraserve_requests_total", "adapter=\"a\",status=\"ok\""));
        assertEquals(1, value(text, "loraserve_requests_total", "adapter=\"b\",status=\"ok\""));
        assertEquals(2, value(text, "loraserve_requests_total", "adapter=\"other\",status=\"ok\""));
        assertEquals(1, value(text, "loraserve_requests_total", "adapter=\"base\",status=\"ok\""));
        assertFalse(text.contains("{adapter=\"c\""), "c has no label of its own");
    }

    @Test
    void removedAdapterDropsItsSeriesAndFreesItsLabel() {
        finishOk("a");
        finishOk("b");
        metrics.adapterRemoved("a");
        finishOk("c");
        String text = scrape();
        assertFalse(text.contains("{adapter=\"a\""), "every series of a is gone");
        assertEquals(1, value(text, "loraserve_requests_total", "adapter=\"c\",status=\"ok\""));
        assertFalse(text.contains("{adapter=\"other\""), "c took a's place under the cap");
    }

    @Test
    void everyStatusStartsAtZeroAndTimeoutCountsAsError() {
        metrics.requestFinished("a", FinishReason.TIMEOUT, 5, 1, 1_000_000, 500_000);
        metrics.requestFinished("a", FinishReason.CANCELLED, 5, 1, 1_000_000, 500_000);
        metrics.requestRejected("a");
        String text = scrape();
        assertEquals(0, value(text, "loraserve_requests_total", "adapter=\"a\",status=\"ok\""));
        assertEquals(1, value(text, "loraserve_requests_total", "adapter=\"a\",status=\"error\""));
        assertEquals(1, value(text, "loraserve_requests_total", "adapter=\"a\",status=\"cancelled\""));
        assertEquals(1, value(text, "loraserve_requests_total", "adapter=\"a\",status=\"rejected\""));
        assertEquals(0, value(text, "loraserve_e2e_request_latency_seconds_count", "adapter=\"a\""),
                "latency histograms count successful requests only");
        assertEquals(10, value(text, "loraserve_prompt_tokens_total", "adapter=\"a\""));
    }

    @Test
    void timePerOutputTokenExcludesTheFirstToken() {
        // 11 tokens: first at 100 ms, last at 600 ms → 50 ms per token after the first.
        metrics.requestFinished("a", FinishReason.LENGTH, 3, 11, 600_000_000L, 100_000_000L);
        String text = scrape();
        assertEquals(0.05, value(text, "loraserve_time_per_output_token_seconds_sum", "adapter=\"a\""), 1e-9);
        assertEquals(0.6, value(text, "loraserve_e2e_request_latency_seconds_sum", "adapter=\"a\""), 1e-9);
    }

    @Test
    void catalogueEventsSetTheAdapterGauges() {
        metrics.adapterLoaded("a", 4096, 0.25);
        metrics.adapterTier("a", "device");
        metrics.adapterPinned("a", true);
        metrics.adapterLoaded("b", 100, 0.5);
        metrics.adapterLoaded("c", 200, 0.1);
        metrics.adapterLoaded("d", 300, 0.2);
        metrics.adapterRemoved("d");
        String text = scrape();
        assertEquals(1, value(text, "loraserve_adapter_loaded", "adapter=\"a\""));
        assertEquals(1, value(text, "loraserve_adapter_pinned", "adapter=\"a\""));
        assertEquals(4096, value(text, "loraserve_adapter_size_bytes", "adapter=\"a\""));
        assertEquals(0.25, value(text, "loraserve_adapter_last_load_seconds", "adapter=\"a\""));
        assertEquals(1, value(text, "loraserve_adapter_tier", "adapter=\"a\",tier=\"device\""));
        assertEquals(0, value(text, "loraserve_adapter_tier", "adapter=\"a\",tier=\"host\""));
        assertEquals(1, value(text, "loraserve_adapter_loaded", "adapter=\"other\""), "c loaded, d removed");
        assertEquals(200, value(text, "loraserve_adapter_size_bytes", "adapter=\"other\""));
        assertEquals(4, value(text, "loraserve_adapter_load_duration_seconds_count", ""));
        assertFalse(text.contains("loraserve_adapter_loaded{adapter=\"base\"}"), "the base model is no adapter");
        assertThrows(IllegalArgumentException.class, () -> metrics.adapterTier("a", "gpu"));
    }

    @Test
    void vllmLoraInfoListsRealAdapterNamesEvenPastTheCap() {
        metrics.maxLoras(4);
        finishOk("alpha");
        finishOk("x");
        Map<String, Integer> running = new HashMap<>();
        running.put("zeta", 1);
        running.put("alpha", 2);
        running.put("beta", 1);
        running.put(null, 3);
        metrics.queues(running, Map.of("gamma", 1));
        String text = scrape();
        Matcher m = Pattern.compile("(?m)^vllm:lora_requests_info\\{(.*)} \\S+$").matcher(text);
        assertTrue(m.find(), text);
        assertEquals("max_lora=\"4\",running_lora_adapters=\"alpha,beta,zeta\",waiting_lora_adapters=\"gamma\"",
                m.group(1));
        assertEquals(3, value(text, "loraserve_requests_running", "adapter=\"base\""));
        assertEquals(2, value(text, "loraserve_requests_running", "adapter=\"alpha\""));
        assertEquals(2, value(text, "loraserve_requests_running", "adapter=\"other\""), "beta and zeta");
        assertEquals(0.25, value(text, "vllm:kv_cache_usage_perc", "model_name=\"m\""));
        assertEquals(1, value(text, "vllm:num_requests_waiting", "model_name=\"m\""));
        assertEquals(3, value(text, "vllm:num_requests_running", "model_name=\"m\""));
    }

    private void finishOk(String adapter) {
        metrics.firstToken(adapter, 20_000_000);
        metrics.requestFinished(adapter, FinishReason.STOP, 4, 8, 100_000_000, 20_000_000);
    }

    private String scrape() {
        return new String(metrics.scrape(null).body(), StandardCharsets.UTF_8);
    }

    private static double value(String text, String name, String labels) {
        String series = labels.isEmpty() ? name : name + "{" + labels + "}";
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(series) + " (\\S+)$").matcher(text);
        assertTrue(m.find(), series + " not in:\n" + text);
        return Double.parseDouble(m.group(1));
    }
}
