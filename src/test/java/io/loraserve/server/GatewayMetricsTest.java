package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.engine.EngineStats;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * loraserve's public {@code /metrics} read as the Gateway API Inference Extension's endpoint picker reads a vLLM
 * pod, re-implemented here from its documented behaviour (the model server protocol and its metrics extractor):
 * a metric is a family by exact name; for {@code vllm:lora_requests_info} the series with the highest value (its
 * update time) wins, {@code running_lora_adapters}/{@code waiting_lora_adapters} are comma-separated names (each
 * trimmed, empty ones skipped) and {@code max_lora} must parse as an integer; {@code vllm:cache_config_info}'s
 * {@code block_size} and {@code num_gpu_blocks} must parse as integers; the queue and KV gauges are plain values.
 */
class GatewayMetricsTest {
    private static TestServer server;

    @BeforeAll
    static void start() {
        server = TestServer.withFixtureAdapters("--max-adapters", "3", "--kv-block-size", "8");
    }

    @AfterAll
    static void stop() {
        server.close();
    }

    /** One series: its labels and value. */
    record Series(Map<String, String> labels, double value) {
    }

    private static final Pattern LINE = Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(.*)})?\\s+(\\S+)(\\s+\\d+)?$");
    private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"");

    /** The text exposition format, families by name (comments skipped). */
    static Map<String, List<Series>> families(String text) {
        Map<String, List<Series>> out = new LinkedHashMap<>();
        for (String line : text.split("\n")) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            Matcher m = LINE.matcher(line);
            assertTrue(m.matches(), "not a sample line: " + line);
            Map<String, String> labels = new LinkedHashMap<>();
            if (m.group(3) != null) {
                Matcher l = LABEL.matcher(m.group(3));
                while (l.find()) {
                    labels.put(l.group(1), l.group(2).replace("\\\"", "\"").replace("\\\\", "\\"));
                }
            }
            out.computeIfAbsent(m.group(1), k -> new ArrayList<>()).add(new Series(labels, Double.parseDouble(m.group(4))));
        }
        return out;
    }

    /** What the picker keeps of one scrape. */
    record Picked(int waiting, int running, double kvUsage, Set<String> active, Set<String> waitingModels, int maxLora,
                  int blockSize, int gpuBlocks) {
    }

    static Picked pick(Map<String, List<Series>> f) {
        Series lora = null;
        for (Series s : f.getOrDefault("vllm:lora_requests_info", List.of())) {
            if (lora == null || s.value() > lora.value()) {
                lora = s;
            }
        }
        assertNotNull(lora, "vllm:lora_requests_info");
        Series cache = latest(f, "vllm:cache_config_info");
        return new Picked((int) latest(f, "vllm:num_requests_waiting").value(),
                (int) latest(f, "vllm:num_requests_running").value(), latest(f, "vllm:kv_cache_usage_perc").value(),
                adapters(lora.labels().get("running_lora_adapters")), adapters(lora.labels().get("waiting_lora_adapters")),
                Integer.parseInt(lora.labels().get("max_lora")), Integer.parseInt(cache.labels().get("block_size")),
                Integer.parseInt(cache.labels().get("num_gpu_blocks")));
    }

    private static Series latest(Map<String, List<Series>> f, String name) {
        List<Series> family = f.get(name);
        assertTrue(family != null && !family.isEmpty(), "metric family " + name + " is present");
        return family.get(family.size() - 1);
    }

    private static Set<String> adapters(String csv) {
        assertNotNull(csv);
        Set<String> out = new TreeSet<>();
        for (String name : csv.split(",")) {
            if (!name.strip().isEmpty()) {
                out.add(name.strip());
            }
        }
        return out;
    }

    @Test
    void thePickerReadsWhatRunsAndWaitsAndTheCacheShape() throws Exception {
        EngineStats idle = server.awaitEngineIdle(java.time.Duration.ofSeconds(30));
        Picked quiet = pick(families(server.get("/metrics").body()));
        assertEquals(3, quiet.maxLora());
        assertEquals(8, quiet.blockSize());
        assertEquals(idle.kvBlocksTotal(), quiet.gpuBlocks());
        assertEquals(Set.of(), quiet.active());
        List<CompletableFuture<TestServer.Reply>> replies = new ArrayList<>();
        var registry = server.server.runtime().registry();
        try (EnginePause pause = new EnginePause(server.server.runtime().engine())) {
            for (String a : List.of("attn-r4", "mlp-r16-layer1-bf16")) {
                replies.add(server.postAsync("/v1/completions", "{\"prompt\":\"Hello\",\"model\":\"" + a
                        + "\",\"max_tokens\":200,\"ignore_eos\":true,\"temperature\":0}"));
                EnginePause.await(() -> registry.get(a).orElseThrow().inFlight() == 1, a + " is submitted");
            }
        }
        var engine = server.server.runtime().engine();
        EnginePause.await(() -> engine.stats().running() == 2 || replies.stream().anyMatch(CompletableFuture::isDone),
                "both are admitted");
        // scraped with the engine held between two steps: on an idle machine 200 tiny-model tokens take ~0.1 s
        try (EnginePause hold = new EnginePause(engine)) {
            Picked seen = pick(families(server.get("/metrics").body()));
            assertEquals(Set.of("attn-r4", "mlp-r16-layer1-bf16"), seen.active());
            assertEquals(2, seen.running());
            assertTrue(seen.kvUsage() > 0 && seen.kvUsage() <= 1, String.valueOf(seen.kvUsage()));
        }
        replies.forEach(r -> assertEquals(200, r.join().status()));
    }
}
