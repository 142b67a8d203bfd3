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
import java.util.Arrays;
import java.util.List;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/**
 * Prefix caching never changes a request's result: every reference case is exact whether its
 * prompt misses the cache, hits part of it or all of it; blocks are shared only within one
 * version of one adapter (or the base); prompt scores come out as without the cache; preemption
 * with shared blocks stays exact. Blocks of 4 tokens, so the fixtures' 10 to 20 token prompts span
 * two to four full blocks.
 */
class PrefixCachingTest {
    private static final int BLOCK = 4;

    private static EngineHarness harness(int maxNumSeqs, long kvCacheBytes, boolean caching) {
        return new EngineHarness(maxNumSeqs, kvCacheBytes, 4, Duration.ofSeconds(30), BLOCK, caching);
    }

    /** Prompt tokens a repeat of {@code prompt} finds cached: whole blocks before the one of its last token. */
    private static int fullHit(int[] prompt) {
        return (prompt.length - 1) / BLOCK * BLOCK;
    }

    private static Collector run(EngineHarness h, Fixtures.Case c) {
        Collector s = new Collector();
        h.submit(c, s);
        s.finished.join();
        return s;
    }

    @Test
    void everyReferenceCaseIsExactOnAMissAndOnAFullHit() {
        try (EngineHarness h = harness(4, 0, true)) {
            for (Fixtures.Case c : Fixtures.tinyCases()) {
                Collector miss = run(h, c);
                assertReference(c, miss);
                assertEquals(0, miss.cachedTokens, c.label() + ": first time, nothing cached");
                Collector hit = run(h, c);
                assertReference(c, hit);
                assertEquals(fullHit(c.promptIds()), hit.cachedTokens, c.label() + ": second time, all but the last block");
            }
        }
    }

    /** A primer shares the case's first block only; the case then computes the rest of its prompt itself. */
    @Test
    void everyReferenceCaseIsExactOnAPartialHit() {
        try (EngineHarness h = harness(4, 0, true)) {
            for (Fixtures.Case c : Fixtures.tinyCases()) {
                int[] primer = Arrays.copyOf(c.promptIds(), 3 * BLOCK);
                Arrays.fill(primer, BLOCK, primer.length, 3);
                Collector p = new Collector();
                h.submit(c.adapter(), primer, 2, p);
                p.finished.join();
                Collector partial = run(h, c);
                assertReference(c, partial);
                assertEquals(BLOCK, partial.cachedTokens, c.label());
            }
        }
    }

    /**
     * The same prompt on every other adapter and on the base first: their blocks are in the cache,
     * and a request on adapter A must find none of them. Left out of the block address, the
     * adapter would let A read the others' keys and values.
     */
    @Test
    void anAdapterNeverReadsAnotherAdaptersOrTheBasesBlocks() {
        List<Fixtures.Case> cases = Fixtures.tinyCases();
        for (String adapter : EngineHarness.ADAPTERS) {
            try (EngineHarness h = harness(4, 0, true)) {
                for (Fixtures.Case c : cases.stream().filter(k -> adapter.equals(k.adapter())).toList()) {
                    for (String other : Arrays.asList(null, "attn-r4", "all-r8-rslora", "mlp-r16-layer1-bf16")) {
                        if (!adapter.equals(other)) {
                            Collector before = new Collector();
                            h.submit(other, c.promptIds(), 3, before);
                            before.finished.join();
                        }
                    }
                    Collector s = run(h, c);
                    assertReference(c, s);
                    assertEquals(0, s.cachedTokens, c.label() + " found another adapter's blocks");
                }
            }
        }
    }

    @Test
    void aReplacedAdapterNeverReusesTheOldVersionsBlocks() {
        Fixtures.Case oldCase = caseOf("attn-r4", 2);
        Fixtures.Case newCase = caseOf("all-r8-rslora", 2);
        try (EngineHarness h = harness(4, 0, true)) {
            h.runtime.registry().load("x", Fixtures.tinyAdapter("attn-r4"), false);
            Collector first = new Collector();
            h.submit("x", oldCase.promptIds(), oldCase.tokens().length, first);
            assertReference(oldCase, first);
            h.runtime.registry().load("x", Fixtures.tinyAdapter("all-r8-rslora"), true);
            Collector replaced = new Collector();
            h.submit("x", newCase.promptIds(), newCase.tokens().length, replaced);
            assertReference(newCase, replaced);
            assertEquals(0, replaced.cachedTokens, "the new version found the old version's blocks");
            Collector again = new Collector();
            h.submit("x", newCase.promptIds(), newCase.tokens().length, again);
            assertReference(newCase, again);
            assertEquals(fullHit(newCase.promptIds()), again.cachedTokens, "the new version's own blocks");
        }
    }

    /**
     * Requests that score their prompt attach no cached block: their scores equal those of an
     * engine without prefix caching, though the prompt and its generation are cached.
     */
    @Test
    void promptScoresOfACachedPromptEqualTheUncachedOnes() {
        List<Fixtures.Case> cases = Fixtures.tinyCases();
        List<List<Sampler.Sample>> uncached = new ArrayList<>();
        try (EngineHarness h = harness(4, 0, false)) {
            for (Fixtures.Case c : cases) {
                Collector s = new Collector();
                h.submit(c, 3, s);
                s.finished.join();
                assertEquals(0, s.cachedTokens);
                uncached.add(s.promptScores.getFirst());
            }
        }
        try (EngineHarness h = harness(4, 0, true)) {
            for (int i = 0; i < cases.size(); i++) {
                Fixtures.Case c = cases.get(i);
                assertReference(c, run(h, c));
                Collector scored = new Collector();
                h.submit(c, 3, scored);
                assertReference(c, scored);
                assertEquals(0, scored.cachedTokens, c.label());
                List<Sampler.Sample> scores = scored.promptScores.getFirst();
                assertEquals(c.promptIds().length - 1, scores.size(), c.label());
                for (int p = 0; p < scores.size(); p++) {
                    Sampler.Sample want = uncached.get(i).get(p);
                    assertEquals(want.token(), scores.get(p).token(), c.label());
                    assertEquals(want.logprob(), scores.get(p).logprob(), 1e-5, c.label() + " at " + p);
                    for (int k = 0; k < 3; k++) {
                        assertEquals(want.top()[k].token(), scores.get(p).top()[k].token(), c.label() + " at " + p);
                    }
                }
            }
        }
    }

    /**
     * Two prompts cached first (base and attn-r4, 20 tokens: four full blocks each), then twelve
     * copies of each at once in a pool too small for them: every copy attaches the four shared
     * blocks, copies are preempted and recomputed while others hold those blocks (a held block is
     * never evicted), every output stays exact, and afterwards no block is held.
     */
    @Test
    void preemptionOfSequencesSharingCachedBlocksKeepsEveryOutputExact() throws InterruptedException {
        ModelConfig config = ModelConfig.load(Fixtures.tinyModel());
        List<Fixtures.Case> primed = List.of(caseOf(null, 3), caseOf("attn-r4", 3));
        // 68 blocks of 4 tokens: one 256-token sequence fits; 24 sequences of 44 positions need 7 fresh blocks each.
        long bytes = 68 * PagedKvCache.bytesPerBlock(config, BLOCK, ScalarType.Float);
        try (EngineHarness h = harness(32, bytes, true)) {
            for (Fixtures.Case c : primed) {
                assertReference(c, run(h, c));
            }
            List<Fixtures.Case> copies = new ArrayList<>();
            for (int i = 0; i < 24; i++) {
                copies.add(primed.get(i % 2));
            }
            List<Collector> sinks = new ArrayList<>();
            for (Fixtures.Case c : copies) {
                Collector s = new Collector();
                h.submit(c, s);
                sinks.add(s);
            }
            for (int i = 0; i < copies.size(); i++) {
                assertReference(copies.get(i), sinks.get(i));
                assertEquals(fullHit(copies.get(i).promptIds()), sinks.get(i).cachedTokens, copies.get(i).label());
            }
            h.awaitIdle();
            EngineStats stats = h.runtime.engine().stats();
            assertTrue(stats.preemptions() > 0, "the pool was small enough to force preemption: " + stats);
            assertEquals(0, stats.kvBlocksUsed(), "every block is free or idle again: " + stats);
        }
    }

    private static Fixtures.Case caseOf(String adapter, int prompt) {
        return Fixtures.tinyCases().stream().filter(c -> java.util.Objects.equals(adapter, c.adapter())).toList()
                .get(prompt);
    }
}
