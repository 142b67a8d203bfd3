package io.loraserve.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.SafeTensorsIo;
import io.loraserve.tensor.Tensors;
import io.loraserve.tensor.WeightFiles;
import jakarta.json.Json;
import jakarta.json.JsonObjectBuilder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Model directories in the other layouts a HuggingFace download comes in: weights stored as BF16 or
 * F16, and weights sharded over two files with {@code model.safetensors.index.json}. Each is written
 * from the F32 fixture by the test-tree writer, loaded through the main code, and held to the
 * values the writer stored and to the float64 reference run on those same values.
 */
class WeightFormatsTest {
    private static final Device CPU = new Device(torch.DeviceType.CPU);
    private static ModelConfig config;
    private static Map<String, SafeTensorsIo.Stored> f32;
    private static List<Fixtures.Case> cases;

    @BeforeAll
    static void readFixture() {
        config = ModelConfig.load(Fixtures.tinyModel());
        f32 = SafeTensorsIo.read(Fixtures.tinyModel().resolve("model.safetensors"));
        cases = Fixtures.tinyCases().stream().filter(c -> c.adapter() == null).toList();
    }

    /** A copy of the fixture's config and tokenizer files in {@code dir}, without weights. */
    private static Path modelDirWithoutWeights(Path dir) throws IOException {
        for (String f : List.of("config.json", "tokenizer.json", "tokenizer_config.json")) {
            Files.copy(Fixtures.tinyModel().resolve(f), dir.resolve(f));
        }
        return dir;
    }

    private static Map<String, SafeTensorsIo.Stored> rounded(UnaryOperator<Float> round) {
        Map<String, SafeTensorsIo.Stored> out = new LinkedHashMap<>();
        f32.forEach((name, s) -> {
            float[] v = s.values().clone();
            for (int i = 0; i < v.length; i++) {
                v[i] = round.apply(v[i]);
            }
            out.put(name, new SafeTensorsIo.Stored(s.shape(), v));
        });
        return out;
    }

    /** Every tensor of {@code dir} as the main reader returns it in float32 equals {@code expected}'s. */
    private static void assertTensorsEqual(Map<String, SafeTensorsIo.Stored> expected, Path dir) {
        WeightFiles files = WeightFiles.open(dir);
        assertEquals(expected.keySet(), files.names());
        for (Map.Entry<String, SafeTensorsIo.Stored> e : expected.entrySet()) {
            try (PointerScope scope = new PointerScope()) {
                Tensor t = files.newTensor(e.getKey(), ScalarType.Float, CPU);
                assertArrayEquals(e.getValue().shape(), t.sizes().vec().get(), e.getKey());
                assertArrayEquals(e.getValue().values(), Tensors.toFloats(t), e.getKey());
            }
        }
    }

    /**
     * Greedy decoding of {@code prompt} on the weights in {@code dir}, computed in {@code dtype}; when
     * {@code reference} is given, every step's logits are checked against it within {@code tolerance}.
     */
    private static int[] greedy(Path dir, ScalarType dtype, int[] prompt, int steps, ReferenceLlama reference,
                                double tolerance) {
        return greedy(dir, dtype, Kernels.auto(dtype, CPU), prompt, steps, reference, tolerance);
    }

    private static int[] greedy(Path dir, ScalarType dtype, Kernels kernels, int[] prompt, int steps,
                                ReferenceLlama reference, double tolerance) {
        try (LlamaWeights weights = LlamaWeights.load(dir, config, dtype, CPU);
             LlamaModel model = new LlamaModel(config, dtype, CPU, kernels, 2);
             PagedKvCache cache = new PagedKvCache(config, 16, 4, model.cacheDtype(), CPU)) {
            int[] table = {cache.allocate(), cache.allocate(), cache.allocate()};
            List<Integer> seq = new ArrayList<>();
            for (int id : prompt) {
                seq.add(id);
            }
            int computed = 0;
            int[] generated = new int[steps];
            for (int step = 0; step < steps; step++) {
                int n = seq.size() - computed;
                long[] toks = new long[n];
                long[] pos = new long[n];
                for (int i = 0; i < n; i++) {
                    toks[i] = seq.get(computed + i);
                    pos[i] = computed + i;
                }
                float[] logits;
                try (PointerScope scope = new PointerScope()) {
                    logits = model.forward(new ForwardBatch(toks, pos,
                                    List.of(new ForwardBatch.Span(0, n, table, seq.size(), true))),
                            weights, weights.layers(), Bypass.NONE, cache);
                }
                computed = seq.size();
                for (float l : logits) {
                    assertTrue(Float.isFinite(l), "step " + step + ": non-finite logit");
                }
                if (reference != null) {
                    double[] want = reference.lastLogits(seq.stream().mapToInt(Integer::intValue).toArray());
                    for (int i = 0; i < want.length; i++) {
                        assertEquals(want[i], logits[i], tolerance, "step " + step + " logit " + i);
                    }
                }
                generated[step] = Sampler.argmax(logits, 0, config.vocab());
                seq.add(generated[step]);
            }
            return generated;
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"BF16", "F16"})
    void halfPrecisionFileLoadsAsTheRoundedWeightsAndGenerates(String dtype, @TempDir Path tmp) throws IOException {
        Map<String, SafeTensorsIo.Stored> stored = rounded(dtype.equals("BF16")
                ? SafeTensorsIo::roundBf16 : SafeTensorsIo::roundF16);
        Path dir = modelDirWithoutWeights(tmp);
        SafeTensorsIo.write(dir.resolve("model.safetensors"), f32, dtype);
        assertTensorsEqual(stored, dir);

        ReferenceLlama reference = new ReferenceLlama(config, SafeTensorsIo.read(dir.resolve("model.safetensors")));
        for (Fixtures.Case c : cases) {
            greedy(dir, ScalarType.Float, c.promptIds(), 24, reference, 1e-4);
        }
    }

    @ParameterizedTest(name = "{0} on {1}")
    @CsvSource({"bfloat16, TORCH", "float16, TORCH"})
    void halfPrecisionComputeRunsOnTheHalfPrecisionFile(String compute, Kernels kernels, @TempDir Path tmp)
            throws IOException {
        ScalarType dtype = compute.equals("bfloat16") ? ScalarType.BFloat16 : ScalarType.Half;
        Path dir = modelDirWithoutWeights(tmp);
        SafeTensorsIo.write(dir.resolve("model.safetensors"), f32, dtype == ScalarType.BFloat16 ? "BF16" : "F16");
        Fixtures.Case c = cases.get(0);
        int[] tokens = greedy(dir, dtype, kernels, c.promptIds(), 24, null, 0);
        // 8-bit (bf16) or 11-bit (f16) mantissas move logits by far more than float32 does, so only the
        // first token, whose reference top-2 gap is wide, is held to the reference.
        assertEquals(c.tokens()[0], tokens[0], compute + " first token");
    }

    /**
     * The Java kernels keep bfloat16 weights as stored and compute in float32 (KV cache included), so
     * every step's logits equal a float32 reference on the rounded weights within float32 rounding.
     */
    @Test
    void bfloat16WeightsOnTheJavaKernelsComputeInFloat32(@TempDir Path tmp) throws IOException {
        Path dir = modelDirWithoutWeights(tmp);
        SafeTensorsIo.write(dir.resolve("model.safetensors"), f32, "BF16");
        ReferenceLlama reference = new ReferenceLlama(config, SafeTensorsIo.read(dir.resolve("model.safetensors")));
        for (Fixtures.Case c : cases) {
            greedy(dir, ScalarType.BFloat16, Kernels.JAVA, c.promptIds(), 24, reference, 1e-4);
        }
    }

    @Test
    void shardedWeightsGiveTheSameTokensAsOneFile(@TempDir Path tmp) throws IOException {
        Path dir = modelDirWithoutWeights(tmp);
        Map<String, SafeTensorsIo.Stored> first = new LinkedHashMap<>();
        Map<String, SafeTensorsIo.Stored> second = new LinkedHashMap<>();
        JsonObjectBuilder weightMap = Json.createObjectBuilder();
        int i = 0;
        for (Map.Entry<String, SafeTensorsIo.Stored> e : f32.entrySet()) {
            boolean inFirst = i++ % 2 == 0;
            (inFirst ? first : second).put(e.getKey(), e.getValue());
            weightMap.add(e.getKey(), inFirst ? "model-00001-of-00002.safetensors" : "model-00002-of-00002.safetensors");
        }
        SafeTensorsIo.write(dir.resolve("model-00001-of-00002.safetensors"), first, "F32");
        SafeTensorsIo.write(dir.resolve("model-00002-of-00002.safetensors"), second, "F32");
        long totalSize = f32.values().stream().mapToLong(s -> 4L * s.values().length).sum();
        Files.writeString(dir.resolve("model.safetensors.index.json"), Json.createObjectBuilder()
                .add("metadata", Json.createObjectBuilder().add("total_size", totalSize))
                .add("weight_map", weightMap).build().toString());

        assertTensorsEqual(f32, dir);
        for (Fixtures.Case c : cases) {
            assertArrayEquals(c.tokens(), greedy(dir, ScalarType.Float, c.promptIds(), c.tokens().length, null, 0),
                    c.label());
            assertArrayEquals(greedy(Fixtures.tinyModel(), ScalarType.Float, c.promptIds(), 24, null, 0),
                    greedy(dir, ScalarType.Float, c.promptIds(), 24, null, 0), c.label());
        }
    }
}
