package io.loraserve.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.SafeTensorsIo;
import io.loraserve.TestDevice;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The paged KV cache through {@link LlamaModel#forward}: whatever way a sequence's tokens reach the
 * cache (one token at a time, in chunks, into blocks handed out in any order, beside other
 * sequences in one pass), its logits equal a full recompute of the sequence — both the naive
 * float64 {@link ReferenceLlama} and the same model run on the whole sequence in one fresh pass.
 */
class KvCacheTest {
    /** The bound for cached versus recomputed logits. */
    private static final double TOLERANCE = 1e-4;
    private static final Device DEVICE = TestDevice.device();  // the reference models run float32 on it
    private static ModelConfig config;
    private static LlamaWeights weights;
    private static LlamaModel model;
    private static ReferenceLlama reference;
    private static List<Fixtures.Case> cases;

    @BeforeAll
    static void load() {
        config = ModelConfig.load(Fixtures.tinyModel());
        weights = LlamaWeights.load(Fixtures.tinyModel(), config, ScalarType.Float, DEVICE);
        model = new LlamaModel(config, ScalarType.Float, DEVICE);
        reference = new ReferenceLlama(config, SafeTensorsIo.read(Fixtures.tinyModel().resolve("model.safetensors")));
        cases = Fixtures.tinyCases().stream().filter(c -> c.adapter() == null).toList();
    }

    @AfterAll
    static void close() {
        model.close();
        weights.close();
    }

    /** A sequence on the host side: its tokens, its block table, and how many tokens the cache holds. */
    private static final class Seq {
        final List<Integer> tokens = new ArrayList<>();
        final int[] table;
        int computed;

        Seq(int[] tokens, int[] table) {
            Arrays.stream(tokens).forEach(this.tokens::add);
            this.table = table;
        }

        int[] ids() {
            return tokens.stream().mapToInt(Integer::intValue).toArray();
        }
    }

    /** One sequence's share of a pass: its next {@code count} uncached tokens. */
    private record Part(Seq seq, int count, boolean logits) {
    }

    /** Runs one pass over {@code parts} (in that token order) and returns its logit rows. */
    private static float[] pass(PagedKvCache cache, Part... parts) {
        int total = Arrays.stream(parts).mapToInt(Part::count).sum();
        long[] tokens = new long[total];
        long[] positions = new long[total];
        List<ForwardBatch.Span> spans = new ArrayList<>();
        int t = 0;
        for (Part p : parts) {
            int start = t;
            for (int i = 0; i < p.count(); i++) {
                tokens[t] = p.seq().tokens.get(p.seq().computed + i);
                positions[t++] = p.seq().computed + i;
            }
            p.seq().computed += p.count();
            spans.add(new ForwardBatch.Span(start, p.count(), p.seq().table, p.seq().computed, p.logits()));
        }
        try (PointerScope scope = new PointerScope()) {
            return model.forward(new ForwardBatch(tokens, positions, spans), weights, weights.layers(),
                    Bypass.NONE, cache);
        }
    }

    /** The model's logits for the last token of {@code ids}, computed in one pass into a fresh cache. */
    private static float[] recomputed(int[] ids) {
        try (PagedKvCache fresh = new PagedKvCache(config, 16, 16, ScalarType.Float, DEVICE)) {
            int[] table = IntStream.range(0, (ids.length + 15) / 16).map(i -> fresh.allocate()).toArray();
            Seq s = new Seq(ids, table);
            return pass(fresh, new Part(s, ids.length, true));
        }
    }

    /** Asserts row {@code row} of {@code logits} equals both full recomputes of {@code ids}. */
    private static void assertMatchesRecompute(int[] ids, float[] logits, int row, String label) {
        int vocab = config.vocab();
        double[] naive = reference.lastLogits(ids);
        float[] oneShot = recomputed(ids);
        double worstNaive = 0;
        double worstOneShot = 0;
        for (int i = 0; i < vocab; i++) {
            worstNaive = Math.max(worstNaive, Math.abs(naive[i] - logits[row * vocab + i]));
            worstOneShot = Math.max(worstOneShot, Math.abs(oneShot[i] - logits[row * vocab + i]));
        }
        assertTrue(worstNaive < TOLERANCE, label + ": max |logit - float64 reference| = " + worstNaive);
        assertTrue(worstOneShot < TOLERANCE, label + ": max |logit - one-pass recompute| = " + worstOneShot);
    }

    private static int argmax(float[] logits, int row) {
        return Sampler.argmax(logits, row * config.vocab(), config.vocab());
    }

    /** Prompt and reference completion of a fixture case, as one sequence of ids. */
    private static int[] promptAndCompletion(Fixtures.Case c) {
        return IntStream.concat(Arrays.stream(c.promptIds()), Arrays.stream(c.tokens())).toArray();
    }

    @Test
    void incrementalDecodingEqualsFullRecompute() {
        for (Fixtures.Case c : cases) {
            try (PagedKvCache cache = new PagedKvCache(config, 16, 8, ScalarType.Float, DEVICE)) {
                Seq s = new Seq(c.promptIds(), new int[] {cache.allocate(), cache.allocate(), cache.allocate()});
                float[] logits = pass(cache, new Part(s, s.tokens.size(), true));
                for (int step = 0; step < c.tokens().length; step++) {
                    assertMatchesRecompute(s.ids(), logits, 0, c.label() + " step " + step);
                    assertEquals(c.tokens()[step], argmax(logits, 0), c.label() + " step " + step);
                    s.tokens.add(argmax(logits, 0));
                    logits = pass(cache, new Part(s, 1, true));
                }
            }
        }
    }

    @Test
    void chunkedPrefillEqualsOnePass() {
        int[] chunks = {5, 7, 1, 3, 9};
        for (Fixtures.Case c : cases) {
            int[] ids = promptAndCompletion(c);
            try (PagedKvCache cache = new PagedKvCache(config, 4, 16, ScalarType.Float, DEVICE)) {
                int[] table = IntStream.range(0, (ids.length + 3) / 4).map(i -> cache.allocate()).toArray();
                Seq s = new Seq(ids, table);
                for (int chunk : chunks) {
                    float[] logits = pass(cache, new Part(s, chunk, true));
                    assertMatchesRecompute(Arrays.copyOf(ids, s.computed), logits, 0,
                            c.label() + " after a chunk ending at " + s.computed);
                }
                float[] rest = pass(cache, new Part(s, ids.length - s.computed, true));
                assertMatchesRecompute(ids, rest, 0, c.label() + " after the last chunk");
            }
        }
    }

    @Test
    void blocksHandedOutOfOrderAndReusedGiveTheSameLogits() {
        try (PagedKvCache cache = new PagedKvCache(config, 4, 24, ScalarType.Float, DEVICE)) {
            int[] all = IntStream.range(0, 24).map(i -> cache.allocate()).toArray();
            // Interleave two sequences' tables over the pool, each running backwards.
            int[] tableA = {all[21], all[3], all[17], all[0], all[9], all[14], all[6], all[11], all[19], all[2],
                all[23], all[13]};
            int[] tableB = {all[8], all[22], all[1], all[12], all[5], all[20], all[15], all[7], all[10], all[4],
                all[18], all[16]};
            for (int round = 0; round < 2; round++) {
                Fixtures.Case ca = cases.get(round * 2);
                Fixtures.Case cb = cases.get(round * 2 + 1);
                Seq a = new Seq(ca.promptIds(), tableA);
                Seq b = new Seq(cb.promptIds(), tableB);
                float[] la = pass(cache, new Part(a, a.tokens.size(), true));
                float[] lb = pass(cache, new Part(b, b.tokens.size(), true));
                a.tokens.add(argmax(la, 0));
                b.tokens.add(argmax(lb, 0));
                for (int step = 1; step < ca.tokens().length; step++) {
                    float[] both = pass(cache, new Part(b, 1, true), new Part(a, 1, true));
                    String label = "round " + round + " step " + step;
                    assertMatchesRecompute(b.ids(), both, 0, cb.label() + " " + label);
                    assertMatchesRecompute(a.ids(), both, 1, ca.label() + " " + label);
                    b.tokens.add(argmax(both, 0));
                    a.tokens.add(argmax(both, 1));
                }
                // The second round reuses the same blocks, full of the first round's stale K/V.
                assertEquals(Arrays.stream(ca.tokens()).boxed().toList(),
                        a.tokens.subList(ca.promptIds().length, a.tokens.size()), ca.label());
                assertEquals(Arrays.stream(cb.tokens()).boxed().toList(),
                        b.tokens.subList(cb.promptIds().length, b.tokens.size()), cb.label());
            }
            assertNotEquals(Arrays.toString(Arrays.stream(tableA).sorted().toArray()), Arrays.toString(tableA));
        }
    }

    @Test
    void mixedPassOfPrefillChunksAndDecodesMatchesEachSequenceAlone() {
        try (PagedKvCache cache = new PagedKvCache(config, 4, 64, ScalarType.Float, DEVICE)) {
            List<Seq> decoding = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                int[] ids = promptAndCompletion(cases.get(i));
                Seq s = new Seq(ids, IntStream.range(0, 12).map(k -> cache.allocate()).toArray());
                pass(cache, new Part(s, ids.length - 1, false));
                decoding.add(s);
            }
            int[] longPrompt = promptAndCompletion(cases.get(3));
            Seq prefilling = new Seq(longPrompt, IntStream.range(0, 12).map(k -> cache.allocate()).toArray());
            pass(cache, new Part(prefilling, 6, false));
            int[] fresh = cases.get(0).promptIds();
            Seq starting = new Seq(fresh, IntStream.range(0, 12).map(k -> cache.allocate()).toArray());

            // One pass: a decode, the middle chunk of a prefill (no logits), a decode, the first chunk of
            // another prefill, a decode — prefill spans between decodes, as the scheduler may order them.
            float[] logits = pass(cache,
                    new Part(decoding.get(0), 1, true),
                    new Part(prefilling, 10, false),
                    new Part(decoding.get(1), 1, true),
                    new Part(starting, fresh.length, true),
                    new Part(decoding.get(2), 1, true));
            assertEquals(4 * config.vocab(), logits.length, "one row per span that asked for logits");
            assertMatchesRecompute(decoding.get(0).ids(), logits, 0, "first decode");
            assertMatchesRecompute(decoding.get(1).ids(), logits, 1, "second decode");
            assertMatchesRecompute(fresh, logits, 2, "new prompt's prefill");
            assertMatchesRecompute(decoding.get(2).ids(), logits, 3, "third decode");

            // The chunk that returned no logits still filled the cache: finishing its prompt sees it.
            float[] rest = pass(cache, new Part(prefilling, longPrompt.length - prefilling.computed, true));
            assertMatchesRecompute(longPrompt, rest, 0, "prefill finished after the mixed pass");
        }
    }
}
