package io.loraserve.lora;

import static io.loraserve.lora.AdapterConfigFixturesTest.assertTargets;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.model.Proj;
import io.loraserve.model.WeightLayout;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * PEFT's rules for which modules an adapter adapts and with what rank, alpha and scale, on variants of attn-r4
 * (r 4, alpha 8, target_modules [q_proj, v_proj]).
 */
class AdapterConfigMatchingTest {

    private static final Set<Proj> NONE = EnumSet.noneOf(Proj.class);
    private static final Set<Proj> ALL = EnumSet.allOf(Proj.class);

    @TempDir
    Path dir;

    private AdapterConfig parse(String overrides, String... removed) {
        return AdapterConfig.parse("variant", ConfigFiles.variant(dir, overrides, removed));
    }

    @Test
    void rankPatternKeyMatchesAsDotSeparatedSuffixOfTheFullModuleName() {
        AdapterConfig config = parse("{'rank_pattern': {'q_proj': 2, 'proj': 32}}");

        assertEquals(2, config.rank(Proj.Q.moduleName(3)));
        assertEquals(4, config.rank(Proj.V.moduleName(3)), "'proj' is not a whole segment of v_proj, so r applies");
    }

    @Test
    void rankPatternKeyWithLayerPrefixAppliesToThatLayerOnly() {
        AdapterConfig config = parse("{'rank_pattern': {'layers.1.self_attn.q_proj': 6}}");

        assertEquals(4, config.rank(Proj.Q.moduleName(0)));
        assertEquals(6, config.rank(Proj.Q.moduleName(1)));
        assertEquals(4, config.rank(Proj.Q.moduleName(11)), "layers.11 does not end with layers.1.self_attn.q_proj");
    }

    @Test
    void firstMatchingRankPatternKeyInFileOrderWins() {
        AdapterConfig generalFirst = parse("{'rank_pattern': {'q_proj': 2, 'layers.1.self_attn.q_proj': 6}}");
        AdapterConfig specificFirst = parse("{'rank_pattern': {'layers.1.self_attn.q_proj': 6, 'q_proj': 2}}");

        assertEquals(2, generalFirst.rank(Proj.Q.moduleName(1)));
        assertEquals(6, specificFirst.rank(Proj.Q.moduleName(1)));
        assertEquals(2, specificFirst.rank(Proj.Q.moduleName(0)));
        assertEquals(List.of("layers.1.self_attn.q_proj", "q_proj"), List.copyOf(specificFirst.rankPattern().keySet()));
    }

    @Test
    void patternKeyIsARegexWhoseAlternativesAreEachSuffixes() {
        AdapterConfig config = parse("{'alpha_pattern': {'q_proj|v_proj': 2, 'layers\\\\.[0-9]+\\\\.mlp\\\\..*': 3}}");

        assertEquals(2.0, config.alpha(Proj.Q.moduleName(0)));
        assertEquals(2.0, config.alpha(Proj.V.moduleName(0)));
        assertEquals(3.0, config.alpha(Proj.UP.moduleName(0)));
        assertEquals(8.0, config.alpha(Proj.K.moduleName(0)));
    }

    @Test
    void scaleUsesThePerModuleRankAndAlpha() {
        AdapterConfig config = parse("{'rank_pattern': {'v_proj': 16}, 'alpha_pattern': {'q_proj': 32}}");

        assertEquals(32.0 / 4, config.scale(Proj.Q.moduleName(0)));
        assertEquals(8.0 / 16, config.scale(Proj.V.moduleName(0)));
    }

    @Test
    void rsloraScaleUsesTheSquareRootOfThePerModuleRank() {
        AdapterConfig config = parse("{'use_rslora': true, 'rank_pattern': {'v_proj': 16}}");

        assertEquals(8.0 / 2, config.scale(Proj.Q.moduleName(0)));
        assertEquals(8.0 / 4, config.scale(Proj.V.moduleName(0)));
    }

    @Test
    void regexTargetMustMatchTheWholeModuleName() {
        AdapterConfig config = parse("{'target_modules': '.*\\\\.(k|o)_proj'}");
        config.checkAgainst(2, WeightLayout.SPLIT);

        Set<Proj> ko = EnumSet.of(Proj.K, Proj.O);
        assertTargets(config, List.of(ko, ko));
        assertInstanceOf(ModuleSelector.Regex.class, config.targetModules());
    }

    @Test
    void regexTargetCanSelectSomeLayers() {
        AdapterConfig config = parse("{'target_modules': 'model\\\\.layers\\\\.1\\\\.mlp\\\\.(gate|up)_proj'}");
        config.checkAgainst(2, WeightLayout.SPLIT);

        assertTargets(config, List.of(NONE, EnumSet.of(Proj.GATE, Proj.UP)));
    }

    @Test
    void singleStringTargetIsARegexNotASuffix() {
        AdapterConfig config = parse("{'target_modules': 'q_proj'}");

        assertTargets(config, List.of(NONE, NONE));
    }

    @Test
    void allLinearInAnyCaseAdaptsAllSevenLinearsOfEveryLayer() {
        for (String allLinear : List.of("all-linear", "ALL-Linear")) {
            AdapterConfig config = parse("{'target_modules': '" + allLinear + "'}");
            config.checkAgainst(3, WeightLayout.SPLIT);

            assertTargets(config, List.of(ALL, ALL, ALL));
            assertInstanceOf(ModuleSelector.AllLinear.class, config.targetModules());
        }
    }

    @Test
    void layersToTransformAsIntAdaptsThatLayerOnly() {
        AdapterConfig config = parse("{'layers_to_transform': 1}");
        config.checkAgainst(3, WeightLayout.SPLIT);

        assertTargets(config, List.of(NONE, EnumSet.of(Proj.Q, Proj.V), NONE));
        assertEquals(List.of(1), config.layersToTransform());
    }

    @Test
    void layersToTransformListAdaptsThoseLayers() {
        AdapterConfig config = parse("{'layers_to_transform': [0, 2]}");
        config.checkAgainst(3, WeightLayout.SPLIT);

        Set<Proj> qv = EnumSet.of(Proj.Q, Proj.V);
        assertTargets(config, List.of(qv, NONE, qv));
    }

    @Test
    void emptyLayersToTransformMeansEveryLayer() {
        AdapterConfig config = parse("{'layers_to_transform': []}");

        assertNull(config.layersToTransform());
        assertTrue(config.targets(Proj.Q.moduleName(1)));
    }

    @Test
    void layersPatternNamesTheModuleListHoldingTheLayerIndex() {
        AdapterConfig layers = parse("{'layers_to_transform': [0], 'layers_pattern': 'layers'}");
        AdapterConfig listOfPatterns = parse("{'layers_to_transform': [1], 'layers_pattern': ['h', 'layers']}");
        AdapterConfig other = parse("{'layers_to_transform': [0], 'layers_pattern': 'h'}");

        assertTargets(layers, List.of(EnumSet.of(Proj.Q, Proj.V), NONE));
        assertTargets(listOfPatterns, List.of(NONE, EnumSet.of(Proj.Q, Proj.V)));
        assertTargets(other, List.of(NONE, NONE));
    }

    @Test
    void fullNameEntryIsAdaptedWhateverLayersToTransformSays() {
        AdapterConfig config = parse(
                "{'target_modules': ['model.layers.0.self_attn.q_proj', 'v_proj'], 'layers_to_transform': [1]}");
        config.checkAgainst(2, WeightLayout.SPLIT);

        assertTargets(config, List.of(EnumSet.of(Proj.Q), EnumSet.of(Proj.V)));
    }

    @Test
    void listEntriesMayBeAnyDotSeparatedSuffix() {
        AdapterConfig config =
                parse("{'target_modules': ['mlp.up_proj', 'layers.1.self_attn.o_proj', '0.mlp.down_proj']}");
        config.checkAgainst(2, WeightLayout.SPLIT);

        assertTargets(config, List.of(EnumSet.of(Proj.UP, Proj.DOWN), EnumSet.of(Proj.UP, Proj.O)));
    }

    @Test
    void excludeModulesWinsOverTargetModules() {
        AdapterConfig byName = parse(
                "{'target_modules': 'all-linear', 'exclude_modules': ['down_proj', 'layers.0.self_attn.q_proj']}");
        AdapterConfig byRegex = parse("{'target_modules': 'all-linear', 'exclude_modules': '.*\\\\.0\\\\..*'}");

        Set<Proj> noDown = EnumSet.complementOf(EnumSet.of(Proj.DOWN));
        Set<Proj> noDownNoQ = EnumSet.complementOf(EnumSet.of(Proj.DOWN, Proj.Q));
        assertTargets(byName, List.of(noDownNoQ, noDown));
        assertTargets(byRegex, List.of(NONE, ALL));
    }

    @Test
    void ignoredAndUnknownFieldsAreAccepted() {
        AdapterConfig config = parse("{'lora_dropout': 0.1, 'init_lora_weights': 'pissa_niter_4',"
                + " 'inference_mode': false, 'task_type': 'SEQ_CLS', 'revision': 'v2', 'megatron_config': null,"
                + " 'loftq_config': {},"
                + " 'eva_config': null, 'corda_config': null, 'use_dora': false, 'lora_bias': false,"
                + " 'modules_to_save': [], 'ensure_weight_tying': false, 'qalora_group_size': 16,"
                + " 'a_field_from_a_future_peft': {'x': 1}}");

        assertEquals(2.0, config.scale(Proj.Q.moduleName(0)));
    }

    @Test
    void optionalFieldsTakePeftDefaultsWhenAbsent() {
        AdapterConfig config = parse("{}", "use_rslora", "fan_in_fan_out", "bias", "use_dora", "rank_pattern",
                "alpha_pattern", "layers_to_transform", "modules_to_save", "base_model_name_or_path", "task_type");

        assertFalse(config.useRslora());
        assertFalse(config.fanInFanOut());
        assertNull(config.baseModelNameOrPath());
        assertNull(config.layersToTransform());
        assertTrue(config.rankPattern().isEmpty());
        assertEquals(2.0, config.scale(Proj.V.moduleName(1)));
    }

    @Test
    void fanInFanOutIsRecordedAndLeavesTheScaleAlone() {
        AdapterConfig config = parse("{'fan_in_fan_out': true, 'lora_alpha': 6.5}");

        assertTrue(config.fanInFanOut());
        assertEquals(6.5 / 4, config.scale(Proj.Q.moduleName(0)));
    }
}
