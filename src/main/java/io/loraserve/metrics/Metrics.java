package io.loraserve.metrics;

import io.loraserve.engine.EngineListener;
import io.loraserve.lora.AdapterEvents;
import io.loraserve.tensor.DeviceMemory;
import io.loraserve.engine.EngineStats;
import io.loraserve.engine.FinishReason;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmInfoMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.prometheus.metrics.expositionformats.ExpositionFormatWriter;
import io.prometheus.metrics.expositionformats.ExpositionFormats;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.Optional;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import java.util.function.ToIntFunction;
import org.bytedeco.javacpp.Pointer;

/**
 * The process's one metrics registry (Micrometer over the Prometheus client) and every meter in
 * it: per adapter, engine, process and the vLLM-compatible gauges. Meters are created here once
 * (per-adapter ones when an adapter is first seen, see {@link AdapterMeters}), never per request.
 *
 * <p>Fed from three sides: the engine through {@link EngineListener} (this class is the listener),
 * the engine's {@link EngineStats} read at scrape time, and the LoRA registry through the
 * {@code adapter…} methods. All methods are thread-safe and cheap. Owned by the server, which
 * closes it after the engine.
 */
public final class Metrics implements EngineListener, AdapterEvents, AutoCloseable {
    /** A scrape: the body and its content type. */
    public record Scrape(String contentType, byte[] body) {
    }

    private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    private final ExpositionFormats formats = ExpositionFormats.init();
    private final JvmGcMetrics gc = new JvmGcMetrics();
    private final AdapterMeters adapters;
    private final DistributionSummary batchSize;
    private final DistributionSummary batchTokens;
    private final Timer step;
    private final Timer adapterLoads;
    private final TokenRate tokenRate = new TokenRate();
    private final AtomicInteger deviceFault = new AtomicInteger();
    private volatile VllmCollector.Adapters active = new VllmCollector.Adapters(List.of(), List.of());
    private volatile int maxLoras;
    private volatile int kvBlockSize;
    private final Map<String, Counter> tierHits = new HashMap<>();
    private final Map<String, Counter> tierMisses = new HashMap<>();
    private final Map<String, Counter> tierEvictions = new HashMap<>();
    private final Map<String, Timer> tierFill = new HashMap<>();

    /**
     * @param modelName     the served model's name (the vLLM gauges' {@code model_name})
     * @param adapterLabels how many adapters get their own {@code adapter} label; others share {@code other}
     * @param engine        the engine's counters, read at each scrape
     * @param device        the CUDA device's memory counters; empty on CPU (no device-memory gauges)
     */
    public Metrics(String modelName, int adapterLabels, Supplier<EngineStats> engine, Optional<DeviceMemory> device) {
        new JvmMemoryMetrics().bindTo(registry);
        gc.bindTo(registry);
        new JvmThreadMetrics().bindTo(registry);
        new ClassLoaderMetrics().bindTo(registry);
        new JvmInfoMetrics().bindTo(registry);
        new ProcessorMetrics().bindTo(registry);
        new UptimeMetrics().bindTo(registry);
        new FileDescriptorMetrics().bindTo(registry);
        Gauge.builder(MetricNames.NATIVE_PHYSICAL.name(), Pointer::physicalBytes)
                .description(MetricNames.NATIVE_PHYSICAL.help()).baseUnit("bytes").register(registry);
        device.ifPresent(d -> {
            Gauge.builder(MetricNames.DEVICE_MEMORY.name(), d, DeviceMemory::allocatedBytes).tag(MetricNames.KIND, "allocated")
                    .description(MetricNames.DEVICE_MEMORY.help()).baseUnit("bytes").register(registry);
            Gauge.builder(MetricNames.DEVICE_MEMORY.name(), d, DeviceMemory::reservedBytes).tag(MetricNames.KIND, "reserved")
                    .description(MetricNames.DEVICE_MEMORY.help()).baseUnit("bytes").register(registry);
        });

        adapters = new AdapterMeters(registry, adapterLabels);
        batchSize = DistributionSummary.builder(MetricNames.BATCH_SIZE.name()).description(MetricNames.BATCH_SIZE.help())
                .serviceLevelObjectives(MetricNames.BATCH_SIZE_BUCKETS).register(registry);
        batchTokens = DistributionSummary.builder(MetricNames.BATCH_TOKENS.name())
                .description(MetricNames.BATCH_TOKENS.help())
                .serviceLevelObjectives(MetricNames.BATCH_TOKEN_BUCKETS).register(registry);
        step = timer(MetricNames.STEP, MetricNames.STEP_BUCKETS);
        adapterLoads = timer(MetricNames.ADAPTER_LOAD_DURATION, MetricNames.ADAPTER_LOAD_BUCKETS);
        engineGauge(MetricNames.ENGINE_RUNNING, engine, EngineStats::running);
        engineGauge(MetricNames.ENGINE_WAITING, engine, EngineStats::waiting);
        engineGauge(MetricNames.KV_BLOCKS_USED, engine, EngineStats::kvBlocksUsed);
        engineGauge(MetricNames.KV_BLOCKS_CAPACITY, engine, EngineStats::kvBlocksTotal);
        engineGauge(MetricNames.KV_BLOCKS_CACHED, engine, EngineStats::kvBlocksCached);
        FunctionCounter.builder(MetricNames.PREFIX_CACHE_QUERIES.name(), engine, e -> e.get().prefixCacheQueries())
                .description(MetricNames.PREFIX_CACHE_QUERIES.help()).register(registry);
        FunctionCounter.builder(MetricNames.PREFIX_CACHE_HITS.name(), engine, e -> e.get().prefixCacheHits())
                .description(MetricNames.PREFIX_CACHE_HITS.help()).register(registry);
        FunctionCounter.builder(MetricNames.PREEMPTIONS.name(), engine, e -> e.get().preemptions())
                .description(MetricNames.PREEMPTIONS.help()).register(registry);
        FunctionCounter.builder(MetricNames.GENERATED_TOKENS.name(), engine, e -> e.get().generatedTokens())
                .description(MetricNames.GENERATED_TOKENS.help()).register(registry);
        Gauge.builder(MetricNames.DEVICE_FAULT.name(), deviceFault, AtomicInteger::get)
                .description(MetricNames.DEVICE_FAULT.help()).register(registry);
        Gauge.builder(MetricNames.TOKENS_PER_SECOND.name(), tokenRate, r -> r.perSecond(System.nanoTime()))
                .description(MetricNames.TOKENS_PER_SECOND.help()).register(registry);

        for (String tier : MetricNames.CACHE_TIERS) {
            tierHits.put(tier, counter(MetricNames.TIER_HITS, tier));
            tierMisses.put(tier, counter(MetricNames.TIER_MISSES, tier));
            tierEvictions.put(tier, counter(MetricNames.TIER_EVICTIONS, tier));
            tierFill.put(tier, Timer.builder(MetricNames.TIER_FILL.name()).description(MetricNames.TIER_FILL.help())
                    .tag(MetricNames.TIER, tier)
                    .serviceLevelObjectives(MetricNames.TIER_FILL_BUCKETS.toArray(Duration[]::new)).register(registry));
        }

        registry.getPrometheusRegistry().register(
                new VllmCollector(modelName, engine, () -> active, () -> maxLoras, () -> kvBlockSize));
    }

    /** Renders every metric in the format {@code accept} asks for (Prometheus text by default, OpenMetrics on request). */
    public Scrape scrape(String accept) {
        ExpositionFormatWriter writer = formats.findWriter(accept);
        ByteArrayOutputStream out = new ByteArrayOutputStream(64 * 1024);
        try {
            writer.write(out, registry.getPrometheusRegistry().scrape());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new Scrape(writer.getContentType(), out.toByteArray());
    }

    // The LoRA registry's side.

    /** How many adapters fit on the device at once (vLLM's {@code max_lora}). */
    public void maxLoras(int n) {
        maxLoras = n;
    }

    /** Tokens per KV cache block, for {@code vllm:cache_config_info}. */
    public void kvBlockSize(int tokens) {
        kvBlockSize = tokens;
    }

    /** The host tier's bytes held (read at each scrape) and its capacity. */
    public void hostTier(LongSupplier bytes, long capacity) {
        Gauge.builder(MetricNames.HOST_BYTES.name(), bytes::getAsLong)
                .description(MetricNames.HOST_BYTES.help()).baseUnit("bytes").register(registry);
        Gauge.builder(MetricNames.HOST_CAPACITY.name(), () -> capacity)
                .description(MetricNames.HOST_CAPACITY.help()).baseUnit("bytes").register(registry);
    }

    @Override
    public void tierHit(String tier) {
        tierHits.get(tier).increment();
    }

    @Override
    public void tierMiss(String tier, double seconds) {
        tierMisses.get(tier).increment();
        tierFill.get(tier).record(Math.round(seconds * 1e9), TimeUnit.NANOSECONDS);
    }

    @Override
    public void tierEvicted(String tier) {
        tierEvictions.get(tier).increment();
    }

    /** {@code adapter} was loaded: {@code bytes} of weights, in {@code seconds}. */
    @Override
    public void adapterLoaded(String adapter, long bytes, double seconds) {
        adapters.loaded(adapter, bytes, seconds);
        adapterLoads.record(Duration.ofNanos(Math.round(seconds * 1e9)));
    }

    @Override
    public void adapterPinned(String adapter, boolean pinned) {
        adapters.pinned(adapter, pinned);
    }

    /** Where {@code adapter}'s weights are now: one of {@link MetricNames#TIERS}. */
    @Override
    public void adapterTier(String adapter, String tier) {
        adapters.tier(adapter, tier);
    }

    /** {@code adapter} left the catalogue: its series are dropped and its label is free for another. */
    @Override
    public void adapterRemoved(String adapter) {
        adapters.removed(adapter);
    }

    // The engine's side (EngineListener).

    @Override
    public void requestRejected(String adapter) {
        adapters.series(adapter).requests(MetricNames.REJECTED).increment();
    }

    @Override
    public void firstToken(String adapter, long sinceArrivalNanos) {
        adapters.series(adapter).timeToFirstToken.record(sinceArrivalNanos, TimeUnit.NANOSECONDS);
    }

    @Override
    public void requestFinished(String adapter, FinishReason reason, int promptTokens, int completionTokens,
                                long sinceArrivalNanos, long firstTokenNanos) {
        AdapterSeries s = adapters.series(adapter);
        String status = switch (reason) {
            case STOP, LENGTH -> MetricNames.OK;
            case CANCELLED -> MetricNames.CANCELLED;
            case TIMEOUT -> MetricNames.ERROR;
        };
        s.requests(status).increment();
        s.promptTokens.increment(promptTokens);
        s.generationTokens.increment(completionTokens);
        if (status.equals(MetricNames.OK)) {
            s.e2eLatency.record(sinceArrivalNanos, TimeUnit.NANOSECONDS);
            if (completionTokens >= 2 && firstTokenNanos >= 0) {
                s.timePerOutputToken.record((sinceArrivalNanos - firstTokenNanos) / (completionTokens - 1),
                        TimeUnit.NANOSECONDS);
            }
        }
    }

    @Override
    public void requestFailed(String adapter) {
        adapters.series(adapter).requests(MetricNames.ERROR).increment();
    }

    @Override
    public void deviceFault() {
        deviceFault.set(1);
    }

    @Override
    public void stepDone(int sequences, int tokens, int sampled, long nanos) {
        batchSize.record(sequences);
        batchTokens.record(tokens);
        step.record(nanos, TimeUnit.NANOSECONDS);
        tokenRate.add(System.nanoTime(), sampled);
    }

    @Override
    public void queues(Map<String, Integer> runningByAdapter, Map<String, Integer> waitingByAdapter) {
        adapters.queues(runningByAdapter, waitingByAdapter);
        active = new VllmCollector.Adapters(new ArrayList<>(runningByAdapter.keySet()),
                new ArrayList<>(waitingByAdapter.keySet()));
    }

    private Counter counter(MetricNames.Def def, String tier) {
        return Counter.builder(def.name()).description(def.help()).tag(MetricNames.TIER, tier).register(registry);
    }

    private Timer timer(MetricNames.Def def, List<Duration> buckets) {
        return Timer.builder(def.name()).description(def.help())
                .serviceLevelObjectives(buckets.toArray(Duration[]::new)).register(registry);
    }

    private void engineGauge(MetricNames.Def def, Supplier<EngineStats> engine,
                             ToIntFunction<EngineStats> f) {
        Gauge.builder(def.name(), engine, e -> f.applyAsInt(e.get())).description(def.help()).register(registry);
    }

    @Override
    public void close() {
        gc.close();
        registry.close();
    }
}
