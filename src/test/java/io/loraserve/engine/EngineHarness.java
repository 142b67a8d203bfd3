package io.loraserve.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.loraserve.Fixtures;
import io.loraserve.TestDevice;
import io.loraserve.lora.Adapter;
import io.loraserve.model.SamplingParams;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;

/** The tiny fixture model with its three adapters in one runtime, driven without HTTP. */
final class EngineHarness implements AutoCloseable {
    static final List<String> ADAPTERS = List.of("attn-r4", "all-r8-rslora", "mlp-r16-layer1-bf16");
    private static final AtomicLong IDS = new AtomicLong();
    final ModelRuntime runtime;

    EngineHarness(int maxNumSeqs, long kvCacheBytes, int maxAdapters, Duration watchdog) {
        this(maxNumSeqs, kvCacheBytes, maxAdapters, watchdog, "auto", "auto", 16, true);
    }

    /** With {@code --kernels} and {@code --gpu-policy} set. */
    EngineHarness(int maxNumSeqs, String kernels, String gpuPolicy) {
        this(maxNumSeqs, 0, 4, Duration.ofSeconds(30), kernels, gpuPolicy, 16, true);
    }

    /** With KV blocks of {@code blockSize} tokens and prefix caching on or off. */
    EngineHarness(int maxNumSeqs, long kvCacheBytes, int maxAdapters, Duration watchdog, int blockSize,
                  boolean prefixCaching) {
        this(maxNumSeqs, kvCacheBytes, maxAdapters, watchdog, "auto", "auto", blockSize, prefixCaching);
    }

    private EngineHarness(int maxNumSeqs, long kvCacheBytes, int maxAdapters, Duration watchdog, String kernels,
                          String gpuPolicy, int blockSize, boolean prefixCaching) {
        runtime = ModelRuntime.load(Fixtures.tinyModel(), "tiny-llama", RuntimeSettings.builder()
                .device(TestDevice.NAME).dtype(TestDevice.DTYPE).kernels(kernels).gpuPolicy(gpuPolicy).threads(1)
                .maxNumSeqs(maxNumSeqs).maxBatchedTokens(64).maxQueued(1000).requestTimeout(Duration.ZERO)
                .stepWatchdog(watchdog).kvBlockSize(blockSize).kvCacheBytes(kvCacheBytes).prefixCaching(prefixCaching)
                .maxAdapters(maxAdapters).adapterRoots(List.of(Fixtures.tinyAdapters())).build());
        for (String a : ADAPTERS) {
            runtime.registry().load(a, Fixtures.tinyAdapter(a), false);
        }
    }

    EngineHarness(int maxNumSeqs) {
        this(maxNumSeqs, 0, 4, Duration.ofSeconds(30));
    }

    String submit(Fixtures.Case c, Collector sink) {
        return submit(c, -1, sink);
    }

    /** Submits {@code c}, greedy, scoring its prompt with {@code promptLogprobs} alternatives (-1: not at all). */
    String submit(Fixtures.Case c, int promptLogprobs, Collector sink) {
        return submit(c.adapter(), c.promptIds(), c.tokens().length, promptLogprobs, sink);
    }

    String submit(String adapter, int[] prompt, int maxTokens, Collector sink) {
        return submit(adapter, prompt, maxTokens, -1, sink);
    }

    private String submit(String adapter, int[] prompt, int maxTokens, int promptLogprobs, Collector sink) {
        return submit(adapter, prompt, maxTokens, promptLogprobs, SamplingParams.GREEDY.withLogprobs(0), sink);
    }

    /** Submits a request sampling with {@code sampling}. */
    String submit(String adapter, int[] prompt, int maxTokens, int promptLogprobs, SamplingParams sampling,
                  Collector sink) {
        String id = "t" + IDS.incrementAndGet();
        Adapter lease = adapter == null ? null : runtime.registry().acquire(adapter);
        runtime.engine().submit(new Request(id, prompt, lease, sampling, maxTokens, Set.of(), true, promptLogprobs,
                sink));
        return id;
    }

    /** Submits every case at once and checks each against the reference. */
    void assertAllAtOnce(List<Fixtures.Case> cases) {
        List<Collector> sinks = new java.util.ArrayList<>();
        for (Fixtures.Case c : cases) {
            Collector s = new Collector();
            submit(c, s);
            sinks.add(s);
        }
        for (int i = 0; i < cases.size(); i++) {
            assertReference(cases.get(i), sinks.get(i));
        }
    }

    static void assertReference(Fixtures.Case c, Collector sink) {
        assertEquals(FinishReason.LENGTH, sink.finished.join(), c.label());
        assertArrayEquals(c.tokens(), sink.tokenArray(), c.label());
        for (int i = 0; i < c.logprobs().length; i++) {
            assertEquals(c.logprobs()[i], sink.logprobs.get(i), 1e-3, c.label() + " logprob " + i);
        }
    }

    /** Waits up to 5 s for the engine to run nothing, queue nothing and hold no KV block. */
    void awaitIdle() throws InterruptedException {
        for (int i = 0; i < 500 && (runtime.engine().stats().running() > 0 || runtime.engine().stats().waiting() > 0
                || runtime.engine().stats().kvBlocksUsed() > 0); i++) {
            Thread.sleep(10);
        }
    }

    @Override
    public void close() {
        runtime.close();
    }
}
