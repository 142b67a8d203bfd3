package io.loraserve.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.loraserve.Fixtures;
import io.loraserve.TestDevice;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The forward pass alone (no engine), against the independent reference. */
class LlamaModelTest {
    private static final Device DEVICE = TestDevice.device();  // the reference models run float32 on it
    private static ModelConfig config;
    private static LlamaWeights weights;
    private static LlamaModel model;

    @BeforeAll
    static void load() {
        config = ModelConfig.load(Fixtures.tinyModel());
        weights = LlamaWeights.load(Fixtures.tinyModel(), config, ScalarType.Float, DEVICE);
        model = new LlamaModel(config, ScalarType.Float, DEVICE);
    }

    @AfterAll
    static void close() {
        model.close();
        weights.close();
    }

    @Test
    void greedyDecodingMatchesReferenceForBaseCases() {
        for (Fixtures.Case c : Fixtures.tinyCases()) {
            if (c.adapter() != null) {
                continue;
            }
            try (PagedKvCache cache = new PagedKvCache(config, 16, 8, ScalarType.Float, DEVICE)) {
                int[] table = {cache.allocate(), cache.allocate(), cache.allocate()};
                List<Integer> seq = new ArrayList<>();
                for (int id : c.promptIds()) {
                    seq.add(id);
                }
                int computed = 0;
                for (int step = 0; step < c.tokens().length; step++) {
                    int n = seq.size() - computed;
                    long[] toks = new long[n];
                    long[] pos = new long[n];
                    for (int i = 0; i < n; i++) {
                        toks[i] = seq.get(computed + i);
                        pos[i] = computed + i;
                    }
                    ForwardBatch b = new ForwardBatch(toks, pos,
                            List.of(new ForwardBatch.Span(0, n, table, seq.size(), true)));
                    float[] logits;
                    try (PointerScope scope = new PointerScope()) {
                        logits = model.forward(b, weights, weights.layers(), Bypass.NONE, cache);
                    }
                    computed = seq.size();
                    Sampler.Sample s = Sampler.sample(logits, 0, config.vocab(),
                            SamplingParams.GREEDY.withLogprobs(0), null, new int[0], new int[0]);
                    assertEquals(c.tokens()[step], s.token(), c.label() + " step " + step);
                    assertEquals(c.logprobs()[step], s.logprob(), 1e-3, c.label() + " logprob " + step);
                    seq.add(s.token());
                }
            }
        }
    }
}
