package io.loraserve.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.PeftDir;
import io.loraserve.RandomLlama;
import io.loraserve.kernel.Parallel;
import io.loraserve.model.Bypass;
import io.loraserve.model.ForwardBatch;
import io.loraserve.model.Fused;
import io.loraserve.model.Kernels;
import io.loraserve.model.LayerWeights;
import io.loraserve.model.LlamaModel;
import io.loraserve.model.LlamaWeights;
import io.loraserve.model.ModelConfig;
import io.loraserve.model.PagedKvCache;
import io.loraserve.model.Proj;
import io.loraserve.tensor.Tensors;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The batched bypass ({@link LoraBypass} over {@link AdapterSlots}) and the pinned merged copy ({@link MergedWeights})
 * against a naive reference, {@code W0·x + scale·B·(A·x)} as plain double-precision loops over the values the test
 * wrote, on random base shapes (a {@link RandomLlama} per seed) and three adapters of different ranks in one batch:
 *
 * <ul>
 *   <li>{@code wide}: all-linear, rank_pattern and alpha_pattern give k_proj its own rank and down_proj its own
 *       alpha, rsLoRA on or off by seed;
 *   <li>{@code attn}: q, k and o only, so v is an untargeted module inside the fused qkv matrix;
 *   <li>{@code late-mlp}: up and down of the last layer only, at the slots' maximum rank.
 * </ul>
 *
 * The batch interleaves base tokens (no bypass) with segments of the three, one adapter twice. Each expected rank and
 * scale is worked out here from what the test wrote, not asked of {@link AdapterConfig}.
 */
class LoraBypassTest {
    private static final Device CPU = new Device(torch.DeviceType.CPU);
    private static final int MAX_RANK = 16;
    private static final List<List<Proj>> FUSED = List.of(
            List.of(Proj.Q, Proj.K, Proj.V), List.of(Proj.O), List.of(Proj.GATE, Proj.UP), List.of(Proj.DOWN));

    @TempDir
    Path dir;

    /** What one module of one adapter must compute: its rank, scale, A {@code [rank, in]}, B {@code [out, rank]}. */
    private record Lora(int rank, double scale, float[] a, float[] b) {}

    /** An adapter as written: {@code modules[layer][proj]}, null where it must not act. */
    private record Written(String name, Path dir, Lora[][] modules) {}

    /** A row of the batch's tokens: which adapter (index into the written list, -1 = base). */
    private record Run(int adapter, int rows) {}

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8})
    void bypassOverMixedSegmentsEqualsNaiveReferenceAndMergedCopy(long seed) {
        Random random = new Random(seed);
        RandomLlama.Model model = RandomLlama.write(dir.resolve("model"), seed);
        ModelConfig c = ModelConfig.load(model.dir());
        List<Written> written = writeAdapters(c, random);
        List<Run> runs = List.of(new Run(-1, 1 + random.nextInt(3)), new Run(0, 1 + random.nextInt(3)),
                new Run(-1, 1), new Run(1, 1 + random.nextInt(9)), new Run(2, 1 + random.nextInt(3)), new Run(0, 1));
        int[] adapterOfRow = runs.stream().flatMapToInt(r -> IntStream.generate(r::adapter).limit(r.rows())).toArray();
        int tokens = adapterOfRow.length;

        List<AdapterWeights> weights = new ArrayList<>();
        try (LlamaWeights base = LlamaWeights.load(model.dir(), c, ScalarType.Float, CPU);
                AdapterSlots slots = new AdapterSlots(c, 4, MAX_RANK, ScalarType.Float, CPU)) {
            for (Written w : written) {
                weights.add(AdapterWeights.load(w.name(), w.dir(), c, MAX_RANK));
            }
            // Slots in reverse so slot numbers differ from adapter indices.
            int[] slot = new int[written.size()];
            for (int k = written.size() - 1; k >= 0; k--) {
                slot[k] = written.size() - 1 - k;
                slots.upload(slot[k], weights.get(k));
            }
            List<LoraBypass.Segment> segments = new ArrayList<>();
            int start = 0;
            for (Run r : runs) {
                if (r.adapter() >= 0) {
                    segments.add(new LoraBypass.Segment(slot[r.adapter()], start, r.rows()));
                }
                start += r.rows();
            }
            List<MergedWeights> merged = new ArrayList<>();
            try {
                for (AdapterWeights w : weights) {
                    merged.add(MergedWeights.build(c, base, w, ScalarType.Float));
                }
                for (int l = 0; l < c.layers(); l++) {
                    for (List<Proj> group : FUSED) {
                        int in = c.inFeatures(group.get(0));
                        float[] x = randoms(random, tokens * in);
                        String where = "seed " + seed + " layer " + l + " " + group;
                        for (boolean batched : new boolean[] {false, true}) {
                            float[] bypassed = bypassed(c, base.layers().get(l), slots, segments, batched, l, group,
                                    x, tokens);
                            assertFused(c, model, written, adapterOfRow, l, group, x, bypassed, -2,
                                    (batched ? "batched" : "per-segment") + " bypass, " + where);
                        }
                        float[] onArrays = times(base.layers().get(l).matrixOf(group.get(0)), x, tokens, in);
                        try (Parallel pool = new Parallel(2)) {
                            LoraBypass.of(slots, segments, CPU, false).apply(l, Fused.of(group.get(0)), x, onArrays, pool);
                        }
                        assertFused(c, model, written, adapterOfRow, l, group, x, onArrays, -2,
                                "java-kernel bypass, " + where);
                        for (int k = 0; k < written.size(); k++) {
                            Tensor matrix = merged.get(k).layers().get(l).matrixOf(group.get(0));
                            Tensor baseMatrix = base.layers().get(l).matrixOf(group.get(0));
                            if (targetsAny(written.get(k), l, group)) {
                                assertNotSame(baseMatrix, matrix, where);
                            } else {
                                assertSame(baseMatrix, matrix, "untargeted matrices are shared, " + where);
                            }
                            assertFused(c, model, written, adapterOfRow, l, group, x, times(matrix, x, tokens, in), k,
                                    "merged " + written.get(k).name() + ", " + where);
                        }
                    }
                }
            } finally {
                merged.forEach(MergedWeights::close);
            }
        } finally {
            weights.forEach(AdapterWeights::close);
        }
    }

    /**
     * Also at bfloat16 weights on the Java kernels: they compute in float32 and pin into float32
     * merged copies, so pinning changes nothing there either.
     */
    @ParameterizedTest(name = "seed {0}, {1} kernels, {2} weights")
    @CsvSource({"11, JAVA, Float", "12, JAVA, Float", "13, JAVA, Float", "11, TORCH, Float", "12, TORCH, Float",
        "13, TORCH, Float", "14, JAVA, BFloat16", "15, JAVA, BFloat16"})
    void forwardOfMixedBatchEqualsEachSequenceAloneOnItsMergedCopy(long seed, Kernels kernels, ScalarType dtype) {
        Random random = new Random(seed);
        RandomLlama.Model model = RandomLlama.write(dir.resolve("model"), seed);
        ModelConfig c = ModelConfig.load(model.dir());
        List<Written> written = writeAdapters(c, random);
        List<AdapterWeights> weights = new ArrayList<>();
        try (LlamaWeights base = LlamaWeights.load(model.dir(), c, dtype, CPU);
                LlamaModel llama = new LlamaModel(c, dtype, CPU, kernels, 2);
                PagedKvCache cache = new PagedKvCache(c, 16, 8, llama.cacheDtype(), CPU);
                AdapterSlots slots = new AdapterSlots(c, 3, MAX_RANK, llama.cacheDtype(), CPU)) {
            for (Written w : written) {
                weights.add(AdapterWeights.load(w.name(), w.dir(), c, MAX_RANK));
            }
            // Sequence 0 runs on the base, sequence k+1 on adapter k; each prefills its own random prompt.
            int sequences = written.size() + 1;
            List<long[]> prompts = new ArrayList<>();
            for (int s = 0; s < sequences; s++) {
                prompts.add(random.longs(2 + random.nextInt(5), 0, c.vocab()).toArray());
            }
            List<LoraBypass.Segment> segments = new ArrayList<>();
            int start = prompts.get(0).length;
            for (int k = 0; k < written.size(); k++) {
                int slot = k;
                slots.upload(slot, weights.get(k));
                segments.add(new LoraBypass.Segment(slot, start, prompts.get(k + 1).length));
                start += prompts.get(k + 1).length;
            }
            for (boolean batched : new boolean[] {false, true}) {
                float[] mixed;
                try (PointerScope pass = new PointerScope()) {  // the bypass's tensors live in its pass's scope
                    mixed = forward(llama, base, base.layers(), new LoraBypass(slots, segments, CPU, batched), cache,
                            prompts);
                }
                for (int s = 0; s < sequences; s++) {
                    float[] alone;
                    if (s == 0) {
                        alone = forward(llama, base, base.layers(), Bypass.NONE, cache, List.of(prompts.get(0)));
                    } else {
                        try (MergedWeights m = MergedWeights.build(c, base, weights.get(s - 1), llama.cacheDtype())) {
                            alone = forward(llama, base, m.layers(), Bypass.NONE, cache, List.of(prompts.get(s)));
                        }
                    }
                    for (int v = 0; v < c.vocab(); v++) {
                        assertEquals(alone[v], mixed[s * c.vocab() + v], 1e-4 * (1 + Math.abs(alone[v])),
                                "seed " + seed + " " + kernels + (batched ? " batched" : " per-segment") + " sequence " + s
                                        + " logit " + v);
                    }
                }
            }
        } finally {
            weights.forEach(AdapterWeights::close);
        }
    }

    /**
     * A 16-bit model's bypass keeps {@code x·Aᵀ} in float32 and rounds once into the output: with x = (1, 2⁻¹⁰),
     * A = (1, 1) and B = 1024 the intermediate 1 + 2⁻¹⁰ has no bfloat16 form (rounded it is 1), so on an output of
     * -1024 the bypass leaves 1 (float32 intermediate) or 0 (bfloat16 intermediate).
     */
    @Test
    void bfloat16BypassKeepsTheRankIntermediateInFloat32() {
        RandomLlama.Model model = RandomLlama.write(dir.resolve("model"), 21);
        ModelConfig c = ModelConfig.load(model.dir());
        int in = c.inFeatures(Proj.Q);
        float[] a = new float[in];
        a[0] = 1;
        a[1] = 1;
        float[] b = new float[c.outFeatures(Proj.Q)];
        b[0] = 1024;
        Path adapter = new PeftDir(c, 1).config("{'r': 1, 'lora_alpha': 1, 'target_modules': ['q_proj'],"
                        + " 'layers_to_transform': [0]}")
                .tensor(PeftDir.key(0, Proj.Q, "A"), new long[] {1, in}, a)
                .tensor(PeftDir.key(0, Proj.Q, "B"), new long[] {c.outFeatures(Proj.Q), 1}, b)
                .writeTo(dir.resolve("exact"));
        float[] x = new float[in];
        x[0] = 1;
        x[1] = 1f / 1024;
        int width = Fused.QKV.out(c);
        try (AdapterWeights w = AdapterWeights.load("exact", adapter, c, MAX_RANK);
             AdapterSlots slots = new AdapterSlots(c, 2, MAX_RANK, ScalarType.BFloat16, CPU)) {
            int slot = 0;
            slots.upload(slot, w);
            for (boolean batched : new boolean[] {false, true}) {
                try (PointerScope scope = new PointerScope()) {
                    Tensor xs = Tensors.newFloats(x, CPU, 1, in).to(ScalarType.BFloat16);
                    float[] init = new float[width];
                    init[0] = -1024;
                    Tensor out = Tensors.newFloats(init, CPU, 1, width).to(ScalarType.BFloat16);
                    new LoraBypass(slots, List.of(new LoraBypass.Segment(slot, 0, 1)), CPU, batched)
                            .apply(0, Fused.QKV, xs, out);
                    assertEquals(1f, Tensors.toFloats(out)[0], (batched ? "batched" : "per-segment") + " bypass");
                }
            }
        }
    }

    /**
     * The choice: by default the batched path from 32 segments (measured break-even on a CPU); under the
     * GPU policy (CUDA's default) whatever the number of segments while the padded block stays within
     * twice the tokens, so a step's ops per layer do not grow with its adapters. Choosing allocates
     * nothing on the device.
     */
    @Test
    void theGpuPolicyBatchesEveryCompactBypassTheDefaultFromThirtyTwoSegments() {
        RandomLlama.Model model = RandomLlama.write(dir.resolve("model"), 5);
        ModelConfig c = ModelConfig.load(model.dir());
        try (AdapterSlots slots = new AdapterSlots(c, 4, MAX_RANK, ScalarType.Float, CPU)) {
            List<LoraBypass.Segment> two = List.of(new LoraBypass.Segment(0, 0, 1), new LoraBypass.Segment(1, 1, 1));
            List<LoraBypass.Segment> one = List.of(new LoraBypass.Segment(0, 0, 2));
            List<LoraBypass.Segment> many = IntStream.range(0, 32).mapToObj(i -> new LoraBypass.Segment(i % 2, i, 1))
                    .toList();
            assertTrue(LoraBypass.of(slots, two, CPU, true).batched());
            assertTrue(LoraBypass.of(slots, one, CPU, true).batched());
            List<LoraBypass.Segment> prefillBesideDecodes = List.of(new LoraBypass.Segment(0, 0, 64),
                    new LoraBypass.Segment(1, 64, 1), new LoraBypass.Segment(2, 65, 1), new LoraBypass.Segment(3, 66, 1));
            assertFalse(LoraBypass.of(slots, prefillBesideDecodes, CPU, true).batched(), "padding 256 rows for 67 tokens");
            assertFalse(LoraBypass.of(slots, two, CPU, false).batched());
            assertFalse(LoraBypass.of(slots, one, CPU, false).batched());
            assertTrue(LoraBypass.of(slots, many, CPU, false).batched());
        }
    }

    /** One prefill pass over {@code prompts}, each in its own fresh KV blocks; logits of each last token. */
    private static float[] forward(LlamaModel llama, LlamaWeights base, List<LayerWeights> layers, Bypass bypass,
            PagedKvCache cache, List<long[]> prompts) {
        List<Integer> blocks = new ArrayList<>();
        try (PointerScope scope = new PointerScope()) {
            List<ForwardBatch.Span> spans = new ArrayList<>();
            long[] tokens = prompts.stream().flatMapToLong(Arrays::stream).toArray();
            long[] positions = new long[tokens.length];
            int start = 0;
            for (long[] p : prompts) {
                int block = cache.allocate();
                blocks.add(block);
                for (int i = 0; i < p.length; i++) {
                    positions[start + i] = i;
                }
                spans.add(new ForwardBatch.Span(start, p.length, new int[] {block}, p.length, true));
                start += p.length;
            }
            return llama.forward(new ForwardBatch(tokens, positions, spans), base, layers, bypass, cache);
        } finally {
            blocks.forEach(cache::release);
        }
    }

    private List<Written> writeAdapters(ModelConfig c, Random random) {
        int last = c.layers() - 1;
        int wideRank = 1 + random.nextInt(8);
        int kRank = 1 + random.nextInt(MAX_RANK);
        double wideAlpha = 1 + random.nextInt(32);
        double downAlpha = 1 + random.nextInt(32);
        boolean rslora = random.nextBoolean();
        int attnRank = 1 + random.nextInt(8);
        double attnAlpha = 1 + random.nextInt(32);
        return List.of(
                write(c, random, "wide", "{'r': " + wideRank + ", 'lora_alpha': " + wideAlpha
                        + ", 'target_modules': 'all-linear', 'use_rslora': " + rslora
                        + ", 'rank_pattern': {'k_proj': " + kRank + "}, 'alpha_pattern': {'down_proj': "
                        + downAlpha + "}}",
                        (l, p) -> true,
                        (l, p) -> p == Proj.K ? kRank : wideRank,
                        (l, p) -> p == Proj.DOWN ? downAlpha : wideAlpha, rslora),
                write(c, random, "attn", "{'r': " + attnRank + ", 'lora_alpha': " + attnAlpha
                        + ", 'target_modules': ['q_proj', 'k_proj', 'o_proj']}",
                        (l, p) -> p == Proj.Q || p == Proj.K || p == Proj.O,
                        (l, p) -> attnRank, (l, p) -> attnAlpha, false),
                write(c, random, "late-mlp", "{'r': " + MAX_RANK + ", 'lora_alpha': 4, 'target_modules': "
                        + "['up_proj', 'down_proj'], 'layers_to_transform': [" + last + "]}",
                        (l, p) -> l == last && (p == Proj.UP || p == Proj.DOWN),
                        (l, p) -> MAX_RANK, (l, p) -> 4.0, false));
    }

    private interface ModuleTest {
        boolean test(int layer, Proj p);
    }

    private interface ModuleValue<T> {
        T of(int layer, Proj p);
    }

    private Written write(ModelConfig c, Random random, String name, String config, ModuleTest targeted,
            ModuleValue<Integer> rank, ModuleValue<Double> alpha, boolean rslora) {
        PeftDir files = new PeftDir(c, random.nextLong()).config(config);
        Lora[][] modules = new Lora[c.layers()][Proj.values().length];
        for (int l = 0; l < c.layers(); l++) {
            for (Proj p : Proj.values()) {
                if (targeted.test(l, p)) {
                    int r = rank.of(l, p);
                    files.lora(l, p, r);
                    double scale = alpha.of(l, p) / (rslora ? Math.sqrt(r) : r);
                    modules[l][p.ordinal()] = new Lora(r, scale, files.values(PeftDir.key(l, p, "A")),
                            files.values(PeftDir.key(l, p, "B")));
                }
            }
        }
        return new Written(name, files.writeTo(dir.resolve(name)), modules);
    }

    private static boolean targetsAny(Written w, int layer, List<Proj> group) {
        return group.stream().anyMatch(p -> w.modules()[layer][p.ordinal()] != null);
    }

    /** The fused group's base GEMM {@code x·Wᵀ}, then the bypass into each projection's columns, like the model. */
    private static float[] bypassed(ModelConfig c, LayerWeights layer, AdapterSlots slots,
            List<LoraBypass.Segment> segments, boolean batched, int l, List<Proj> group, float[] x, int tokens) {
        int in = c.inFeatures(group.get(0));
        try (PointerScope scope = new PointerScope()) {
            LoraBypass bypass = new LoraBypass(slots, segments, CPU, batched);
            Tensor xs = Tensors.newFloats(x, CPU, tokens, in);              // [tokens, in]
            Tensor fused = xs.mm(layer.matrixOf(group.get(0)).t());         // [tokens, fusedOut]
            bypass.apply(l, Fused.of(group.get(0)), xs, fused);
            return Tensors.toFloats(fused);
        }
    }

    private static float[] times(Tensor matrix, float[] x, int tokens, int in) {
        try (PointerScope scope = new PointerScope()) {
            return Tensors.toFloats(Tensors.newFloats(x, CPU, tokens, in).mm(matrix.t()));  // [tokens, fusedOut]
        }
    }

    /**
     * Checks every column of a fused output {@code [tokens, Σ out]} against the naive reference, for the rows of
     * {@code only} (an adapter index), or for every row with each row's own adapter when {@code only} is -2.
     */
    private static void assertFused(ModelConfig c, RandomLlama.Model model, List<Written> written, int[] adapterOfRow,
            int l, List<Proj> group, float[] x, float[] got, int only, String where) {
        int in = c.inFeatures(group.get(0));
        int width = group.stream().mapToInt(c::outFeatures).sum();
        for (int t = 0; t < adapterOfRow.length; t++) {
            int k = adapterOfRow[t];
            if (only != -2 && only != k) {
                continue;
            }
            int applied = only == -2 ? k : only;
            int column = 0;
            for (Proj p : group) {
                float[] w0 = model.matrix(p.moduleName(l));
                Lora lora = applied < 0 ? null : written.get(applied).modules()[l][p.ordinal()];
                for (int i = 0; i < c.outFeatures(p); i++, column++) {
                    double ref = 0;
                    double magnitude = 0;
                    for (int j = 0; j < in; j++) {
                        ref += (double) w0[i * in + j] * x[t * in + j];
                        magnitude += Math.abs((double) w0[i * in + j] * x[t * in + j]);
                    }
                    if (lora != null) {
                        for (int r = 0; r < lora.rank(); r++) {
                            double ax = 0;
                            double axMagnitude = 0;
                            for (int j = 0; j < in; j++) {
                                ax += (double) lora.a()[r * in + j] * x[t * in + j];
                                axMagnitude += Math.abs((double) lora.a()[r * in + j] * x[t * in + j]);
                            }
                            ref += lora.scale() * lora.b()[i * lora.rank() + r] * ax;
                            magnitude += Math.abs(lora.scale() * lora.b()[i * lora.rank() + r]) * axMagnitude;
                        }
                    }
                    // float32 sums of a few hundred terms: error well under 1e-5 of the sum of |terms|
                    assertEquals(ref, got[t * width + column], 1e-5 * (1 + magnitude),
                            where + ", token " + t + " (" + (k < 0 ? "base" : written.get(k).name()) + "), "
                                    + p + " row " + i);
                }
            }
        }
    }

    private static float[] randoms(Random random, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextDouble() * 2 - 1);
        }
        return v;
    }
}
