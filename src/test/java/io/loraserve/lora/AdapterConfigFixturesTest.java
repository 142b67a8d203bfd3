package io.loraserve.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.model.Proj;
import io.loraserve.model.WeightLayout;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The real adapter configs shipped in shared/: the fixtures (2-layer tiny-llama) and the demo (6 layers). */
class AdapterConfigFixturesTest {

    private static final int TINY_LAYERS = 2;
    private static final int DEMO_LAYERS = 6;
    private static final Set<Proj> ATTENTION_QV = EnumSet.of(Proj.Q, Proj.V);
    private static final Set<Proj> MLP = EnumSet.of(Proj.GATE, Proj.UP, Proj.DOWN);

    @Test
    void attnR4AdaptsQAndVOfEveryLayerWithScaleTwo() {
        AdapterConfig config = AdapterConfig.parse("attn-r4", ConfigFiles.fixture("attn-r4"));
        config.checkAgainst(TINY_LAYERS, WeightLayout.SPLIT);

        assertTargets(config, List.of(ATTENTION_QV, ATTENTION_QV));
        assertEquals(4, config.rank(Proj.V.moduleName(1)));
        assertEquals(8.0, config.alpha(Proj.V.moduleName(1)));
        assertEquals(2.0, config.scale(Proj.Q.moduleName(0)));
        assertEquals(2.0, config.scale(Proj.V.moduleName(1)));
        assertFalse(config.useRslora());
        assertEquals("tiny-llama", config.baseModelNameOrPath());
        assertNull(config.layersToTransform());
    }

    @Test
    void allR8RsloraAdaptsAllSevenLinearsWithRankStabilizedScale() {
        AdapterConfig config = AdapterConfig.parse("all-r8-rslora", ConfigFiles.fixture("all-r8-rslora"));
        config.checkAgainst(TINY_LAYERS, WeightLayout.SPLIT);

        Set<Proj> all = EnumSet.allOf(Proj.class);
        assertTargets(config, List.of(all, all));
        assertTrue(config.useRslora());
        for (Proj proj : Proj.values()) {
            assertEquals(8, config.rank(proj.moduleName(1)));
            assertEquals(16 / Math.sqrt(8), config.scale(proj.moduleName(1)), 1e-12);
        }
    }

    @Test
    void mlpR16AdaptsOnlyTheMlpOfLayerOneWithScaleOne() {
        AdapterConfig config = AdapterConfig.parse("mlp-r16-layer1-bf16", ConfigFiles.fixture("mlp-r16-layer1-bf16"));
        config.checkAgainst(TINY_LAYERS, WeightLayout.SPLIT);

        assertTargets(config, List.of(EnumSet.noneOf(Proj.class), MLP));
        assertEquals(List.of(1), config.layersToTransform());
        assertEquals(16, config.rank(Proj.DOWN.moduleName(1)));
        assertEquals(1.0, config.scale(Proj.GATE.moduleName(1)));
    }

    @ParameterizedTest
    @ValueSource(strings = {"code", "legal", "verse"})
    void demoAdaptersAdaptAllSevenLinearsOfSixLayersWithScaleTwo(String adapter) {
        AdapterConfig config = AdapterConfig.parse(adapter, ConfigFiles.demo(adapter));
        config.checkAgainst(DEMO_LAYERS, WeightLayout.SPLIT);

        Set<Proj> all = EnumSet.allOf(Proj.class);
        assertTargets(config, List.of(all, all, all, all, all, all));
        assertEquals(8, config.rank(Proj.DOWN.moduleName(5)));
        assertEquals(2.0, config.scale(Proj.DOWN.moduleName(5)));
        assertEquals("model", config.baseModelNameOrPath());
    }

    /** {@code expected.get(layer)} is exactly the set of projections the adapter adapts in that layer. */
    static void assertTargets(AdapterConfig config, List<Set<Proj>> expected) {
        for (int layer = 0; layer < expected.size(); layer++) {
            for (Proj proj : Proj.values()) {
                assertEquals(expected.get(layer).contains(proj), config.targets(proj.moduleName(layer)),
                        "layer " + layer + " " + proj);
            }
        }
    }
}
