package io.loraserve.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.model.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;

/**
 * The GPU policy forced on a CPU ({@code --gpu-policy on}: the libtorch forward, the LoRA bypass
 * batched whatever the segments, sampling on the device): it gives the reference results, a seeded
 * request draws the same alone or in a mixed batch, and a decode step's counts are what the code
 * claims: native ops independent of the number of adapters in the batch and one host sync that
 * carries ids and logprobs, never logits; the CPU policy's per-segment bypass grows with the adapters
 * and copies every row's logits out.
 */
class GpuPolicyTest {
    private static final int SEQS = 6;

    @Test
    void sixteenReferenceCasesInOneMixedBatchMatchUnderTheGpuPolicy() {
        try (EngineHarness h = new EngineHarness(16, "auto", "on")) {
            assertTrue(h.runtime.gpuPolicy());
            h.assertAllAtOnce(Fixtures.tinyCases());
        }
    }

    @Test
    void aSeededSampledRequestDrawsTheSameAloneAndInAMixedBatch() {
        SamplingParams seeded = SamplingParams.GREEDY.withTemperature(0.9).withTopP(0.95).withTopK(40).withMinP(0.02)
                .withPresencePenalty(0.2).withFrequencyPenalty(0.1).withRepetitionPenalty(1.1).withSeed(1234L)
                .withLogprobs(2);
        Fixtures.Case c = Fixtures.tinyCases().get(5);
        try (EngineHarness h = new EngineHarness(16, "auto", "on")) {
            Collector alone = new Collector();
            h.submit(c.adapter(), c.promptIds(), 24, -1, seeded, alone);
            alone.finished.join();
            Collector other = new Collector();
            h.submit(c.adapter(), c.promptIds(), 24, -1, seeded.withSeed(99L), other);
            other.finished.join();
            assertFalse(java.util.Arrays.equals(alone.tokenArray(), other.tokenArray()), "another seed, other draws");
            List<Collector> crowd = new ArrayList<>();
            Collector mixed = new Collector();
            for (Fixtures.Case o : Fixtures.tinyCases()) {
                Collector s = new Collector();
                h.submit(o.adapter(), o.promptIds(), 24, -1, SamplingParams.GREEDY.withTemperature(1.2)
                        .withLogprobs(1), s);
                crowd.add(s);
                if (crowd.size() == 7) {
                    h.submit(c.adapter(), c.promptIds(), 24, -1, seeded, mixed);
                }
            }
            crowd.forEach(s -> s.finished.join());
            assertEquals(FinishReason.LENGTH, mixed.finished.join());
            assertArrayEquals(alone.tokenArray(), mixed.tokenArray());
        }
    }

    @Test
    void gpuPolicyDecodeStepsIssueTheSameOpsForOneOrThreeAdaptersAndOneSmallSync() throws InterruptedException {
        int vocab = 512;
        try (EngineHarness h = new EngineHarness(16, "torch", "on")) {
            StepCounts base = decodeSteps(h, i -> null);
            StepCounts one = decodeSteps(h, i -> EngineHarness.ADAPTERS.get(0));
            StepCounts three = decodeSteps(h, i -> EngineHarness.ADAPTERS.get(i % 3));
            assertEquals(one.opsPerStep(), three.opsPerStep(), "ops per step, 1 adapter vs 3: " + one + " / " + three);
            assertTrue(one.opsPerStep() > base.opsPerStep(), "the bypass runs: " + one + " / " + base);
            for (StepCounts c : List.of(base, one, three)) {
                assertTrue(c.syncsPerStep() <= 2, "syncs per step: " + c);
                assertTrue(c.syncBytesPerStep() < vocab * Float.BYTES, "less than one row of logits comes out: " + c);
            }
        }
        try (EngineHarness h = new EngineHarness(16, "torch", "off")) {
            StepCounts one = decodeSteps(h, i -> EngineHarness.ADAPTERS.get(0));
            StepCounts three = decodeSteps(h, i -> EngineHarness.ADAPTERS.get(i % 3));
            assertTrue(three.opsPerStep() > one.opsPerStep(), "per segment, ops grow with adapters: " + one + " / "
                    + three);
            assertTrue(one.syncBytesPerStep() >= SEQS * vocab * Float.BYTES, "every row's logits come out: " + one);
        }
    }

    /** Counts 3 decode steps of {@value #SEQS} sequences on {@code adapterOf(i)}, after every prefill. */
    private static StepCounts decodeSteps(EngineHarness h, IntFunction<String> adapterOf) throws InterruptedException {
        List<Fixtures.Case> cases = Fixtures.tinyCases();
        List<Collector> sinks = new ArrayList<>();
        for (int i = 0; i < SEQS; i++) {
            Collector s = new Collector();
            h.submit(adapterOf.apply(i), cases.get(i).promptIds(), 24, s);
            sinks.add(s);
        }
        for (Collector s : sinks) {
            while (s.firstTokenNanos == 0) {
                Thread.sleep(1);
            }
        }
        StepCounts counts = h.runtime.engine().countSteps(3).join();
        sinks.forEach(s -> assertEquals(FinishReason.LENGTH, s.finished.join()));
        return counts;
    }
}
