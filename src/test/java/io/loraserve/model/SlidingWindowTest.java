package io.loraserve.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.loraserve.Fixtures;
import io.loraserve.SafeTensorsIo;
import io.loraserve.TestDevice;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.stream.IntStream;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Mistral's sliding window, on both kernels: the tiny fixture served as a {@code MistralForCausalLM}
 * with {@code sliding_window} 5, its tokens fed in a prefill chunk that crosses the window and then
 * one a pass, gives at every step the logits of the naive {@link ReferenceLlama} in which position
 * {@code t} attends positions {@code t-4 .. t} only (HF's {@code kv_idx > q_idx - sliding_window}),
 * and not those of full attention.
 */
class SlidingWindowTest {
    private static final Device DEVICE = TestDevice.device();  // the reference models run float32 on it
    private static final int WINDOW = 5;

    @TempDir
    Path tmp;

    private Path mistral() throws IOException {
        Path dir = Files.createDirectory(tmp.resolve("mistral"));
        try (var files = Files.list(Fixtures.tinyModel())) {
            for (Path f : files.toList()) {
                Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
        Path config = dir.resolve("config.json");
        String text = Files.readString(config);
        assertTrue(text.contains("\"LlamaForCausalLM\"") && text.contains("\"rope_scaling\": null"));
        Files.writeString(config, text.replace("\"LlamaForCausalLM\"", "\"MistralForCausalLM\"")
                .replace("\"rope_scaling\": null", "\"rope_scaling\": null, \"sliding_window\": " + WINDOW));
        return dir;
    }

    @ParameterizedTest
    @EnumSource(Kernels.class)
    void attentionBeyondTheWindowFollowsTransformers(Kernels kernels) throws IOException {
        assumeTrue(TestDevice.runs(kernels), "the java kernels run on a CPU only");
        Path dir = mistral();
        ModelConfig c = ModelConfig.load(dir);
        assertEquals(WINDOW, c.slidingWindow());
        Map<String, SafeTensorsIo.Stored> stored = SafeTensorsIo.read(dir.resolve("model.safetensors"));
        ReferenceLlama windowed = new ReferenceLlama(c, stored);
        ReferenceLlama full = new ReferenceLlama(ModelConfig.load(Fixtures.tinyModel()), stored);
        Fixtures.Case k = Fixtures.tinyCases().get(0);
        int[] ids = IntStream.concat(Arrays.stream(k.promptIds()), Arrays.stream(k.tokens())).toArray();
        try (LlamaWeights w = LlamaWeights.load(dir, c, ScalarType.Float, DEVICE);
             LlamaModel model = new LlamaModel(c, ScalarType.Float, DEVICE, kernels, 2);
             PagedKvCache cache = new PagedKvCache(c, 4, 16, ScalarType.Float, DEVICE)) {
            int[] table = IntStream.range(0, 16).map(i -> cache.allocate()).toArray();
            int computed = 0;
            double furthestFromFull = 0;
            for (int length = 2 * WINDOW - 1; length <= ids.length; length++) {
                float[] logits = FamiliesForwardTest.extend(model, w, cache, table, ids, computed, length);
                computed = length;
                double[] expected = windowed.lastLogits(Arrays.copyOf(ids, length));
                double[] unwindowed = full.lastLogits(Arrays.copyOf(ids, length));
                double worst = 0;
                for (int i = 0; i < c.vocab(); i++) {
                    worst = Math.max(worst, Math.abs(expected[i] - logits[i]));
                    furthestFromFull = Math.max(furthestFromFull, Math.abs(unwindowed[i] - logits[i]));
                }
                assertTrue(worst < 1e-4, "length " + length + ": max |logit - windowed reference| = " + worst);
            }
            assertTrue(furthestFromFull > 0.1, "the window changes the logits: " + furthestFromFull);
        }
    }
}
