package io.loraserve.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.RandomLlama;
import io.loraserve.SafeTensorsIo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The Java kernels' forward ({@link Kernels#JAVA}) against libtorch's ({@link Kernels#TORCH}) on the
 * same weights: mixed passes of prefill chunks and decodes over shuffled KV blocks, logits and
 * prompt scores equal within float32 rounding.
 */
class KernelsTest {
    private static final Device CPU = new Device(torch.DeviceType.CPU);

    @TempDir
    Path dir;

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 2, 3, 4, 5, 6})
    void javaKernelsEqualLibtorchOnRandomShapes(long seed) {
        RandomLlama.Model m = RandomLlama.write(dir.resolve("m" + seed), seed);
        compare(m.dir(), seed);
    }

    @Test
    void javaKernelsEqualLibtorchOnTheFixtureModel() {
        compare(Fixtures.tinyModel(), 99);
    }

    /**
     * bfloat16 weights on the Java kernels are widened exactly and computed in float32, so they
     * equal libtorch's float32 forward over the same rounded weights.
     */
    @ParameterizedTest(name = "seed {0}")
    @ValueSource(longs = {1, 2, 3})
    void bfloat16WeightsOnJavaKernelsEqualLibtorchFloat32OnTheRoundedWeights(long seed) throws IOException {
        RandomLlama.Model m = RandomLlama.write(dir.resolve("m" + seed), seed);
        Path rounded = Files.createDirectories(dir.resolve("bf16-" + seed));
        Files.copy(m.dir().resolve("config.json"), rounded.resolve("config.json"));
        SafeTensorsIo.write(rounded.resolve("model.safetensors"),
                SafeTensorsIo.read(m.dir().resolve("model.safetensors")), "BF16");
        compare(rounded, seed, ScalarType.BFloat16);
    }

    @Test
    void javaKernelsRefuseWhatTheyCannotRun() {
        ModelConfig c = ModelConfig.load(Fixtures.tinyModel());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new LlamaModel(c, ScalarType.Half, CPU, Kernels.JAVA, 1));
        assertEquals("--kernels java: the java kernels run float32 or bfloat16 on the CPU only", e.getMessage());
        assertEquals(Kernels.TORCH, Kernels.auto(ScalarType.Half, CPU));
        assertEquals(Kernels.JAVA, Kernels.auto(ScalarType.Float, CPU), "the test JVM has the Vector API module");
        assertEquals(Kernels.JAVA, Kernels.auto(ScalarType.BFloat16, CPU));
    }

    /** Three passes over three sequences (prefill, prefill + decode, decodes) on both kernels. */
    private static void compare(Path modelDir, long seed) {
        compare(modelDir, seed, ScalarType.Float);
    }

    /** {@link #compare} with the Java kernels' weights loaded in {@code javaDtype}, libtorch's in float32. */
    private static void compare(Path modelDir, long seed, ScalarType javaDtype) {
        ModelConfig c = ModelConfig.load(modelDir);
        Random random = new Random(seed);
        int blockSize = 4;
        int[][] tables = new int[3][];
        List<Integer> blocks = new ArrayList<>();
        for (int b = 0; b < 24; b++) {
            blocks.add(b);
        }
        java.util.Collections.shuffle(blocks, random);
        for (int s = 0; s < 3; s++) {
            tables[s] = blocks.subList(s * 8, s * 8 + 8).stream().mapToInt(Integer::intValue).toArray();
        }
        long[][] tokens = new long[3][];
        for (int s = 0; s < 3; s++) {
            tokens[s] = random.longs(20, 0, c.vocab()).toArray();
        }
        // pass: {sequence, first position, count} per span
        int[][][] passes = {
            {{0, 0, 7}, {1, 0, 3}},
            {{0, 7, 1}, {1, 3, 9}, {2, 0, 13}},
            {{0, 8, 1}, {1, 12, 1}, {2, 13, 1}},
        };
        try (LlamaWeights w = LlamaWeights.load(modelDir, c, ScalarType.Float, CPU);
             LlamaWeights javaWeights = LlamaWeights.load(modelDir, c, javaDtype, CPU);
             LlamaModel java = new LlamaModel(c, javaDtype, CPU, Kernels.JAVA, 2);
             LlamaModel torchModel = new LlamaModel(c, ScalarType.Float, CPU, Kernels.TORCH, 2);
             PagedKvCache javaCache = new PagedKvCache(c, blockSize, 24, ScalarType.Float, CPU);
             PagedKvCache torchCache = new PagedKvCache(c, blockSize, 24, ScalarType.Float, CPU)) {
            for (int[][] pass : passes) {
                ForwardBatch batch = batch(pass, tokens, tables);
                Scoring scoring = new Scoring(new long[] {0, 1}, new long[] {tokens[pass[0][0]][1], 5}, 2);
                try (PointerScope scope = new PointerScope()) {
                    LlamaModel.Output a = java.forward(batch, javaWeights, javaWeights.layers(), Bypass.NONE, javaCache,
                            scoring);
                    LlamaModel.Output b = torchModel.forward(batch, w, w.layers(), Bypass.NONE, torchCache, scoring);
                    assertEquals(b.logits().length, a.logits().length);
                    assertTrue(a.logits().length > 0);
                    for (int i = 0; i < a.logits().length; i++) {
                        assertEquals(b.logits()[i], a.logits()[i], 1e-4 * (1 + Math.abs(b.logits()[i])),
                                "seed " + seed + " logit " + i);
                    }
                    assertArrayEquals(b.scores().logprobs(), a.scores().logprobs(), 1e-4f);
                    assertArrayEquals(b.scores().topIds(), a.scores().topIds());
                }
            }
        }
    }

    private static ForwardBatch batch(int[][] pass, long[][] tokens, int[][] tables) {
        int total = 0;
        for (int[] s : pass) {
            total += s[2];
        }
        long[] ids = new long[total];
        long[] positions = new long[total];
        List<ForwardBatch.Span> spans = new ArrayList<>();
        int t = 0;
        for (int[] s : pass) {
            int start = t;
            for (int i = 0; i < s[2]; i++, t++) {
                ids[t] = tokens[s[0]][s[1] + i];
                positions[t] = s[1] + i;
            }
            spans.add(new ForwardBatch.Span(start, s[2], tables[s[0]], s[1] + s[2], true));
        }
        return new ForwardBatch(ids, positions, spans);
    }
}
