package io.loraserve.metrics;

import io.loraserve.engine.EngineStats;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot;
import io.prometheus.metrics.model.snapshots.GaugeSnapshot.GaugeDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.util.Collection;
import java.util.TreeSet;
import java.util.function.IntSupplier;
import java.util.function.Supplier;

/**
 * The gauges the Kubernetes Gateway API Inference Extension's endpoint picker scrapes from vLLM,
 * with vLLM's names and meaning, so an InferencePool can balance load and route by adapter
 * affinity across loraserve replicas. Registered straight on the Prometheus client registry so
 * the names ({@code vllm:…}) are exported exactly, whatever Micrometer's naming convention does.
 *
 * <p>Semantics, as in vLLM: {@code vllm:num_requests_waiting}/{@code _running} count sequences
 * (all adapters and the base model); {@code vllm:kv_cache_usage_perc} is the used fraction of the
 * KV block pool, 0..1; {@code vllm:lora_requests_info} is one series whose labels list the
 * adapters (real names, never capped, base model excluded) with a running or a waiting sequence,
 * comma-separated and sorted, and {@code max_lora} = how many adapters fit on the device at once;
 * its value is the scrape's Unix time in seconds, so a reader can pick the newest series.
 * {@code vllm:prefix_cache_queries} and {@code vllm:prefix_cache_hits} are counters (exported with
 * {@code _total}, as vLLM's) of prompt tokens looked up in the prefix cache and found there.
 * {@code vllm:cache_config_info} (value 1) carries the KV pool's {@code block_size} and {@code num_gpu_blocks} as
 * labels, which the endpoint picker reads on every scrape (and logs an error without).
 */
final class VllmCollector implements MultiCollector {
    /** Names of the adapters with running and with waiting sequences (null = base model). */
    record Adapters(Collection<String> running, Collection<String> waiting) {
    }

    private final String modelName;
    private final Supplier<EngineStats> engine;
    private final Supplier<Adapters> adapters;
    private final IntSupplier maxLoras;
    private final IntSupplier blockSize;

    VllmCollector(String modelName, Supplier<EngineStats> engine, Supplier<Adapters> adapters, IntSupplier maxLoras,
                  IntSupplier blockSize) {
        this.modelName = modelName;
        this.engine = engine;
        this.adapters = adapters;
        this.maxLoras = maxLoras;
        this.blockSize = blockSize;
    }

    @Override
    public MetricSnapshots collect() {
        EngineStats s = engine.get();
        Adapters a = adapters.get();
        Labels model = Labels.of(MetricNames.VLLM_MODEL_NAME, modelName);
        double kvUsage = s.kvBlocksTotal() == 0 ? 0 : (double) s.kvBlocksUsed() / s.kvBlocksTotal();
        Labels lora = Labels.of(
                MetricNames.VLLM_MAX_LORA, Integer.toString(maxLoras.getAsInt()),
                MetricNames.VLLM_RUNNING_ADAPTERS, names(a.running()),
                MetricNames.VLLM_WAITING_ADAPTERS, names(a.waiting()));
        Labels cache = Labels.of(
                MetricNames.VLLM_BLOCK_SIZE, Integer.toString(blockSize.getAsInt()),
                MetricNames.VLLM_NUM_GPU_BLOCKS, Integer.toString(s.kvBlocksTotal()));
        return MetricSnapshots.of(
                gauge(MetricNames.VLLM_CACHE_CONFIG, cache, 1),
                gauge(MetricNames.VLLM_WAITING, model, s.waiting()),
                gauge(MetricNames.VLLM_RUNNING, model, s.running()),
                gauge(MetricNames.VLLM_KV_USAGE, model, kvUsage),
                counter(MetricNames.VLLM_PREFIX_QUERIES, model, s.prefixCacheQueries()),
                counter(MetricNames.VLLM_PREFIX_HITS, model, s.prefixCacheHits()),
                gauge(MetricNames.VLLM_LORA_INFO, lora, System.currentTimeMillis() / 1000.0));
    }

    private static String names(Collection<String> adapters) {
        TreeSet<String> sorted = new TreeSet<>();
        adapters.stream().filter(n -> n != null).forEach(sorted::add);
        return String.join(",", sorted);
    }

    private static CounterSnapshot counter(MetricNames.Def def, Labels labels, double value) {
        return CounterSnapshot.builder().name(def.name()).help(def.help())
                .dataPoint(CounterDataPointSnapshot.builder().labels(labels).value(value).build())
                .build();
    }

    private static GaugeSnapshot gauge(MetricNames.Def def, Labels labels, double value) {
        return GaugeSnapshot.builder().name(def.name()).help(def.help())
                .dataPoint(GaugeDataPointSnapshot.builder().labels(labels).value(value).build())
                .build();
    }
}
