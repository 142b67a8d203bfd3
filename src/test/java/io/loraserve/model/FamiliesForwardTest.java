package io.loraserve.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.SafeTensorsIo;
import io.loraserve.TestDevice;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The forward alone (no engine) of each family model (Llama 3.1 rope scaling, Qwen3, Phi-3) on
 * both kernels: decoding through the paged KV cache one token at a time gives, at every step, the
 * logits of the naive float64 {@link ReferenceLlama} recomputing the whole sequence, and the
 * reference cases' tokens and logprobs.
 */
class FamiliesForwardTest {
    private static final Device DEVICE = TestDevice.device();  // the reference models run float32 on it
    /** Cached versus recomputed logits, as {@link KvCacheTest} holds the tiny model to. */
    private static final double TOLERANCE = 1e-4;

    static Stream<Arguments> familiesAndKernels() {
        return Fixtures.FAMILIES.stream()
                .flatMap(f -> TestDevice.kernels().stream().map(k -> Arguments.of(f, k)));
    }

    @ParameterizedTest(name = "{0} on {1} kernels")
    @MethodSource("familiesAndKernels")
    void incrementalDecodingEqualsFullRecomputeAndTheReference(String family, Kernels kernels) {
        Path dir = Fixtures.familyModel(family);
        ModelConfig c = ModelConfig.load(dir);
        ReferenceLlama reference = new ReferenceLlama(c, SafeTensorsIo.read(dir.resolve("model.safetensors")));
        List<Fixtures.Case> cases = Fixtures.familyCases(family).stream().filter(k -> k.adapter() == null).toList();
        assertEquals(4, cases.size());
        try (LlamaWeights w = LlamaWeights.load(dir, c, ScalarType.Float, DEVICE);
             LlamaModel model = new LlamaModel(c, ScalarType.Float, DEVICE, kernels, 2)) {
            for (Fixtures.Case k : cases) {
                decode(c, w, model, reference, k);
            }
        }
    }

    /** Prefills the prompt, then feeds back one token a pass into blocks of 4, checking each step. */
    private static void decode(ModelConfig c, LlamaWeights w, LlamaModel model, ReferenceLlama reference,
                               Fixtures.Case k) {
        int[] ids = Arrays.copyOf(k.promptIds(), k.promptIds().length + k.tokens().length);
        try (PagedKvCache cache = new PagedKvCache(c, 4, 16, ScalarType.Float, DEVICE)) {
            int[] table = IntStream.range(0, 16).map(i -> cache.allocate()).toArray();
            int computed = 0;
            int length = k.promptIds().length;
            for (int step = 0; step < k.tokens().length; step++) {
                float[] logits = extend(model, w, cache, table, ids, computed, length);
                String label = k.label() + " step " + step;
                double[] naive = reference.lastLogits(Arrays.copyOf(ids, length));
                double worst = 0;
                for (int i = 0; i < c.vocab(); i++) {
                    worst = Math.max(worst, Math.abs(naive[i] - logits[i]));
                }
                assertTrue(worst < TOLERANCE, label + ": max |logit - float64 recompute| = " + worst);
                Sampler.Sample s = Sampler.sample(logits, 0, c.vocab(),
                        SamplingParams.GREEDY.withLogprobs(0), null, new int[0], new int[0]);
                assertEquals(k.tokens()[step], s.token(), label);
                assertEquals(k.logprobs()[step], s.logprob(), 1e-3, label + " logprob");
                computed = length;
                ids[length++] = s.token();
            }
        }
    }

    /**
     * One pass of a single sequence (KV blocks {@code table}) over {@code ids[computed, length)},
     * the earlier positions already in {@code cache}; returns the last position's logits.
     */
    static float[] extend(LlamaModel model, LlamaWeights w, PagedKvCache cache, int[] table, int[] ids, int computed,
                          int length) {
        long[] tokens = Arrays.stream(ids, computed, length).asLongStream().toArray();
        long[] positions = IntStream.range(computed, length).asLongStream().toArray();
        ForwardBatch batch = new ForwardBatch(tokens, positions,
                List.of(new ForwardBatch.Span(0, tokens.length, table, length, true)));
        try (PointerScope scope = new PointerScope()) {
            return model.forward(batch, w, w.layers(), Bypass.NONE, cache);
        }
    }
}
