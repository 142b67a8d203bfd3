package io.loraserve.engine;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.model.SamplingParams;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Test;

/**
 * Native memory stays flat while the engine runs: after a warm-up, thousands of decode steps
 * through the real {@link Engine}, on the base model and the three demo adapters mixed in each
 * step (so the batched LoRA bypass runs too), a third of the requests also scoring their prompts,
 * must not grow the process's resident memory
 * ({@link Pointer#physicalBytes()}) or the objects and bytes JavaCPP tracks. A step temporary left
 * outside the step's {@code PointerScope} would be freed only when the Java GC happened to run, and
 * one held past the step never; either shows here as growth.
 *
 * <p>RSS also counts the Java heap. The surefire JVM runs with {@code -XX:+AlwaysPreTouch}, so heap
 * pages are resident as soon as they are committed and heap growth is exactly the change in committed
 * heap, which is subtracted. Without it, G1 touching committed-but-never-used regions for the first
 * time added 24–33 MB of RSS during this test when it ran after the rest of the suite (none alone).
 */
class NativeMemoryTest {
    private static final int STEPS = 2_000;
    /** Requests run four at a time, so each engine step decodes four sequences. */
    private static final int CONCURRENT = 4;
    private static final int MAX_TOKENS = 200;

    /**
     * Allowed growth of resident memory outside the Java heap over {@link #STEPS} steps. Measured on
     * the demo model (hidden 192, vocab 2048, 4 sequences a step), alone and after the whole suite:
     * -0.6 to +2.9 MB, malloc arenas settling. 16 MB catches any per-step leak of 8 KB or more: one
     * leaked logits tensor ([4, 2048] floats, 32 KB) would add 64 MB, one layer's activations far more.
     */
    private static final long RSS_GROWTH_BOUND = 16L << 20;

    /** The adapter of request i of a wave: the base model and the three demo adapters. */
    private static final List<String> ADAPTERS = java.util.Arrays.asList(null, "code", "verse", "legal");

    /**
     * Runs waves of {@link #CONCURRENT} requests until the engine has done {@code steps} more steps.
     * Every wave is the same (prompts, adapters, lengths, seeds), so the warm-up has seen every shape.
     */
    private static void runSteps(ModelRuntime runtime, List<Fixtures.Case> prompts, long steps)
            throws InterruptedException {
        Engine engine = runtime.engine();
        long target = engine.stats().steps() + steps;
        int wave = 0;
        while (engine.stats().steps() < target) {
            CountDownLatch latch = new CountDownLatch(CONCURRENT);
            AtomicReference<String> error = new AtomicReference<>();
            for (int i = 0; i < CONCURRENT; i++) {
                int[] prompt = prompts.get(i).promptIds();
                String adapter = ADAPTERS.get(i % ADAPTERS.size());
                engine.submit(new Request("w" + wave + "-" + i, prompt,
                        adapter == null ? null : runtime.registry().acquire(adapter),
                        SamplingParams.GREEDY.withTemperature(0.8).withTopP(0.95).withTopK(50).withSeed((long) i)
                                .withLogprobs(2),
                        MAX_TOKENS - 7 * i, Set.of(), true, i % 3 == 0 ? 2 : -1, new Ended(latch::countDown, error)));
            }
            assertTrue(latch.await(5, TimeUnit.MINUTES), "wave " + wave + " did not finish");
            assertNull(error.get(), "wave " + wave);
            wave++;
        }
    }

    @Test
    void nativeMemoryStaysFlatOverThousandsOfDecodeSteps() throws InterruptedException {
        RuntimeSettings settings = RuntimeSettings.builder().dtype("float32").threads(2)
                .maxNumSeqs(CONCURRENT).maxQueued(64).requestTimeout(Duration.ZERO).stepWatchdog(Duration.ofSeconds(60))
                .maxAdapters(4).adapterRoots(List.of(Fixtures.demoAdapters())).build();
        List<Fixtures.Case> prompts = Fixtures.demoCases();
        try (ModelRuntime runtime = ModelRuntime.load(Fixtures.demoModel(), "demo", settings)) {
            for (String a : ADAPTERS.subList(1, ADAPTERS.size())) {
                runtime.registry().load(a, Fixtures.demoAdapter(a), false);
            }
            Engine engine = runtime.engine();
            runSteps(runtime, prompts, 400);
            long rssBefore = ResidentMemory.settledOutsideHeap();
            long pointersBefore = Pointer.totalCount();
            long trackedBefore = Pointer.totalBytes();
            long stepsBefore = engine.stats().steps();

            runSteps(runtime, prompts, STEPS);

            // Read before any GC: a tensor that escaped its step's scope is still alive here.
            long pointerGrowth = Pointer.totalCount() - pointersBefore;
            long trackedGrowth = Pointer.totalBytes() - trackedBefore;
            long steps = engine.stats().steps() - stepsBefore;
            long rssGrowth = ResidentMemory.settledOutsideHeap() - rssBefore;
            System.out.printf("native memory over %d steps: RSS outside the heap %+d bytes (%.1f MB);"
                    + " JavaCPP-tracked %+d pointers, %+d bytes%n",
                    steps, rssGrowth, rssGrowth / 1048576.0, pointerGrowth, trackedGrowth);
            assertTrue(steps >= STEPS, "ran " + steps + " steps");
            assertTrue(pointerGrowth <= 0, pointerGrowth + " more native objects alive after " + steps
                    + " steps: step temporaries outlive their PointerScope");
            assertTrue(trackedGrowth <= 0, "JavaCPP-tracked native bytes grew by " + trackedGrowth);
            assertTrue(rssGrowth < RSS_GROWTH_BOUND, "resident memory outside the heap grew by " + rssGrowth + " bytes over "
                    + steps + " steps");
        }
    }
}
