package io.loraserve.engine;

import static io.loraserve.engine.EngineHarness.assertReference;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.model.ModelConfig;
import io.loraserve.model.PagedKvCache;
import io.loraserve.model.Sampler;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletionException;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/** Batching, preemption, cancellation and fairness never change a request's tokens. */
class SchedulingTest {

    @Test
    void batchOfThirtyTwoMixedAdapterRequestsMatchesTheReference() {
        try (EngineHarness h = new EngineHarness(32)) {
            List<Fixtures.Case> cases = new ArrayList<>(Fixtures.tinyCases());
            cases.addAll(Fixtures.tinyCases());
            h.assertAllAtOnce(cases);
        }
    }

    /**
     * Every case also scores its prompt: the scores come once, one per prompt token after the first,
     * and equal those of the same case run alone in a roomy pool, preemption and recompute or not.
     */
    @Test
    void preemptionUnderATinyKvPoolStillGivesTheReference() throws InterruptedException {
        ModelConfig c = ModelConfig.load(Fixtures.tinyModel());
        List<Fixtures.Case> cases = Fixtures.tinyCases();
        List<List<Sampler.Sample>> alone = new ArrayList<>();
        try (EngineHarness h = new EngineHarness(1)) {
            for (Fixtures.Case k : cases) {
                Collector s = new Collector();
                h.submit(k, 2, s);
                s.finished.join();
                alone.add(s.promptScores.getFirst());
            }
        }
        // 17 blocks of 16 tokens: one full 256-token sequence fits, sixteen 34-token sequences (3 blocks each) do not.
        long bytes = 17 * PagedKvCache.bytesPerBlock(c, 16, ScalarType.Float);
        try (EngineHarness h = new EngineHarness(16, bytes, 4, Duration.ofSeconds(30))) {
            List<Collector> sinks = new ArrayList<>();
            for (Fixtures.Case k : cases) {
                Collector s = new Collector();
                h.submit(k, 2, s);
                sinks.add(s);
            }
            for (int i = 0; i < cases.size(); i++) {
                Fixtures.Case k = cases.get(i);
                assertReference(k, sinks.get(i));
                assertEquals(1, sinks.get(i).promptScores.size(), k.label());
                List<Sampler.Sample> scores = sinks.get(i).promptScores.getFirst();
                assertEquals(k.promptIds().length - 1, scores.size(), k.label());
                for (int p = 0; p < scores.size(); p++) {
                    assertEquals(k.promptIds()[p + 1], scores.get(p).token(), k.label());
                    assertEquals(alone.get(i).get(p).logprob(), scores.get(p).logprob(), 1e-5, k.label() + " at " + p);
                    assertEquals(2, scores.get(p).top().length);
                    assertEquals(alone.get(i).get(p).top()[0].token(), scores.get(p).top()[0].token(), k.label());
                }
            }
            h.awaitIdle();
            EngineStats stats = h.runtime.engine().stats();
            assertTrue(stats.preemptions() > 0, "the pool was small enough to force preemption: " + stats);
            assertEquals(0, stats.kvBlocksUsed());
        }
    }

    @Test
    void cancellingABurstReturnsEveryKvBlock() throws InterruptedException {
        try (EngineHarness h = new EngineHarness(8)) {
            Fixtures.Case c = Fixtures.tinyCases().get(0);
            List<String> ids = new ArrayList<>();
            List<Collector> sinks = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                Collector s = new Collector();
                ids.add(h.submit(EngineHarness.ADAPTERS.get(i % 3), c.promptIds(), 200, s));
                sinks.add(s);
            }
            while (sinks.get(0).tokens.size() < 3) {
                Thread.sleep(2);
            }
            ids.forEach(h.runtime.engine()::cancel);
            for (Collector s : sinks) {
                assertEquals(FinishReason.CANCELLED, s.finished.join());
            }
            h.awaitIdle();
            assertEquals(0, h.runtime.engine().stats().kvBlocksUsed());
            for (String a : EngineHarness.ADAPTERS) {
                assertEquals(0, h.runtime.registry().get(a).orElseThrow().inFlight(), a);
            }
        }
    }

    @Test
    void twoHundredRandomArrivalsAndCancelsLeaveEveryCompletedOutputExact() throws InterruptedException {
        List<Fixtures.Case> cases = Fixtures.tinyCases();
        SplittableRandom rng = new SplittableRandom(2026);
        try (EngineHarness h = new EngineHarness(12, 0, 2, Duration.ofSeconds(30))) {
            List<Fixtures.Case> submitted = new ArrayList<>();
            List<Collector> sinks = new ArrayList<>();
            List<String> ids = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                Fixtures.Case c = cases.get(rng.nextInt(cases.size()));
                Collector s = new Collector();
                ids.add(h.submit(c, s));
                submitted.add(c);
                sinks.add(s);
                if (rng.nextInt(4) == 0) {
                    h.runtime.engine().cancel(ids.get(rng.nextInt(ids.size())));
                }
                if (rng.nextInt(3) == 0) {
                    Thread.sleep(rng.nextInt(3));
                }
            }
            int completed = 0;
            for (int i = 0; i < sinks.size(); i++) {
                if (sinks.get(i).finished.join() == FinishReason.CANCELLED) {
                    continue;
                }
                assertReference(submitted.get(i), sinks.get(i));
                completed++;
            }
            assertTrue(completed > 100 && completed < 200, "a fair mix completed: " + completed);
            h.awaitIdle();
            assertEquals(0, h.runtime.engine().stats().kvBlocksUsed());
        }
    }

    @Test
    void oneHotAdapterCannotStarveAnother() throws InterruptedException {
        try (EngineHarness h = new EngineHarness(4)) {
            int[] prompt = Fixtures.tinyCases().get(0).promptIds();
            // Hold the engine while all thirteen requests queue, so its first admission sees every one.
            java.util.concurrent.CountDownLatch queued = new java.util.concurrent.CountDownLatch(1);
            h.runtime.engine().execute(() -> {
                try {
                    queued.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            List<Collector> hot = new ArrayList<>();
            for (int i = 0; i < 12; i++) {
                Collector s = new Collector();
                h.submit("attn-r4", prompt, 24, s);
                hot.add(s);
            }
            Collector cold = new Collector();
            h.submit("all-r8-rslora", prompt, 24, cold);
            queued.countDown();
            cold.finished.join();
            hot.forEach(s -> s.finished.join());
            long hotStartedAfterCold = hot.stream().filter(s -> s.firstTokenNanos > cold.firstTokenNanos).count();
            assertTrue(hotStartedAfterCold >= 8, "the cold adapter's request was admitted before most of the hot"
                    + " adapter's queue, not after all of it: " + hotStartedAfterCold + " of 12 started later");
        }
    }

    @Test
    void aFailingStepFailsOnlyItsRequestsAndTheEngineGoesOn() throws InterruptedException {
        try (EngineHarness h = new EngineHarness(4)) {
            Collector bad = new Collector();
            h.submit(null, new int[] {1, 100_000}, 4, bad);  // outside the vocabulary: the embedding lookup throws
            CompletionException e = org.junit.jupiter.api.Assertions.assertThrows(CompletionException.class,
                    bad.finished::join);
            assertTrue(e.getCause().getMessage().contains("engine failed"), e.getCause().getMessage());
            Fixtures.Case c = Fixtures.tinyCases().get(5);
            Collector good = new Collector();
            h.submit(c, good);
            assertReference(c, good);
            h.awaitIdle();
            assertEquals(0, h.runtime.engine().stats().kvBlocksUsed());
        }
    }

    /** A sink that throws on a token (a bug on the HTTP side) fails its own request; the pass's others stay exact. */
    @Test
    void aSinkThatThrowsFailsOnlyItsRequest() throws InterruptedException {
        try (EngineHarness h = new EngineHarness(4)) {
            Collector broken = new Collector() {
                @Override
                public synchronized boolean onToken(Sampler.Sample s) {
                    if (tokens.size() == 2) {
                        throw new IllegalStateException("broken sink");
                    }
                    return super.onToken(s);
                }
            };
            List<Fixtures.Case> cases = Fixtures.tinyCases().subList(0, 3);
            List<Collector> good = new ArrayList<>();
            h.submit(cases.get(0), broken);
            for (Fixtures.Case c : cases) {
                Collector s = new Collector();
                good.add(s);
                h.submit(c, s);
            }
            CompletionException e = org.junit.jupiter.api.Assertions.assertThrows(CompletionException.class,
                    broken.finished::join);
            assertTrue(e.getCause().getMessage().contains("broken sink"), e.getCause().getMessage());
            for (int i = 0; i < cases.size(); i++) {
                assertReference(cases.get(i), good.get(i));
            }
            h.awaitIdle();
            assertEquals(0, h.runtime.engine().stats().kvBlocksUsed());
        }
    }

    @Test
    void aStuckEngineIsReportedUnhealthyAndRecovers() throws InterruptedException {
        try (EngineHarness h = new EngineHarness(4, 0, 4, Duration.ofMillis(300))) {
            h.runtime.engine().execute(() -> sleep(1500));  // the engine thread is busy elsewhere
            Collector waiting = new Collector();
            h.submit(Fixtures.tinyCases().get(0), waiting);
            Thread.sleep(900);
            assertTrue(!h.runtime.engine().healthy(), "no step for longer than the watchdog while work waits");
            assertReference(Fixtures.tinyCases().get(0), waiting);
            assertTrue(h.runtime.engine().healthy());
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
