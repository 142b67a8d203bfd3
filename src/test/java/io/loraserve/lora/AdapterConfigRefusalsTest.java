package io.loraserve.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.lora.AdapterException.Reason;
import io.loraserve.model.WeightLayout;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every adapter config we refuse, on variants of attn-r4: the exception carries the reason, and its message names
 * the adapter and what is wrong.
 */
class AdapterConfigRefusalsTest {

    private static final String ADAPTER = "bad-adapter";

    @TempDir
    Path dir;

    private Executable parsing(String overrides, String... removed) {
        Path file = ConfigFiles.variant(dir, overrides, removed);
        return () -> AdapterConfig.parse(ADAPTER, file);
    }

    private Executable checking(int numLayers, String overrides) {
        AdapterConfig config = AdapterConfig.parse(ADAPTER, ConfigFiles.variant(dir, overrides));
        return () -> config.checkAgainst(numLayers, WeightLayout.SPLIT);
    }

    private static void assertRefused(Reason reason, Executable action, String... mentions) {
        AdapterException refusal = assertThrows(AdapterException.class, action);
        String message = refusal.getMessage();
        assertEquals(reason, refusal.reason(), message);
        assertEquals(ADAPTER, refusal.adapter());
        assertTrue(message.startsWith("adapter '" + ADAPTER + "'"), message);
        assertTrue(message.contains(reason.name()), message);
        for (String mention : mentions) {
            assertTrue(message.contains(mention), "'" + mention + "' not in: " + message);
        }
    }

    @Test
    void missingConfigFileIsRefused() {
        Path absent = dir.resolve("adapter_config.json");
        assertRefused(Reason.CONFIG_UNREADABLE, () -> AdapterConfig.parse(ADAPTER, absent), absent.toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"{\"r\": 4,", "", "{'r': 4}", "[1, 2]", "\"LORA\"", "{} }", "{} {}", "{\"r\": NaN}"})
    void malformedJsonIsRefused(String text) {
        Path file = ConfigFiles.write(dir, text);
        assertRefused(Reason.MALFORMED_JSON, () -> AdapterConfig.parse(ADAPTER, file), file.toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"peft_type", "r", "lora_alpha", "target_modules"})
    void missingRequiredFieldIsRefused(String field) {
        assertRefused(Reason.MISSING_FIELD, parsing("{}", field), field);
        assertRefused(Reason.MISSING_FIELD, parsing("{'" + field + "': null}"), field);
    }

    @ParameterizedTest
    @CsvSource(delimiter = ';', value = {
        "{'r': 'eight'};r",
        "{'r': 8.5};r",
        "{'r': 4.0};r",
        "{'r': 1e12};r",
        "{'lora_alpha': '16'};lora_alpha",
        "{'use_rslora': 'yes'};use_rslora",
        "{'fan_in_fan_out': 1};fan_in_fan_out",
        "{'bias': false};bias",
        "{'peft_type': 1};peft_type",
        "{'target_modules': 5};target_modules",
        "{'target_modules': ['q_proj', 7]};target_modules entry",
        "{'rank_pattern': ['q_proj']};rank_pattern",
        "{'rank_pattern': {'q_proj': 'x'}};rank_pattern['q_proj']",
        "{'alpha_pattern': {'q_proj': true}};alpha_pattern['q_proj']",
        "{'layers_to_transform': '1'};layers_to_transform",
        "{'layers_to_transform': [1.5]};layers_to_transform entry",
        "{'layers_to_transform': [0], 'layers_pattern': 3};layers_pattern"})
    void fieldOfWrongTypeIsRefused(String overrides, String field) {
        assertRefused(Reason.WRONG_TYPE, parsing(overrides), field + " must be");
    }

    @ParameterizedTest
    @ValueSource(strings = {"IA3", "ADALORA", "lora"})
    void peftTypeOtherThanLoraIsRefused(String peftType) {
        assertRefused(Reason.NOT_LORA, parsing("{'peft_type': '" + peftType + "'}"), "peft_type", peftType);
    }

    @ParameterizedTest
    @CsvSource(delimiter = ';', value = {
        "use_dora;true",
        "modules_to_save;['lm_head']",
        "lora_bias;true",
        "layer_replication;[[0, 1], [0, 1]]",
        "target_parameters;['mlp.experts.down_proj']",
        "trainable_token_indices;[5, 7]",
        "alora_invocation_tokens;[11, 12]",
        "use_qalora;true",
        "velora_config;{'rank': 2}"})
    void optionChangingTheMathIsRefused(String field, String value) {
        assertRefused(Reason.UNSUPPORTED_FEATURE, parsing("{'" + field + "': " + value + "}"), field);
    }

    @ParameterizedTest
    @ValueSource(strings = {"all", "lora_only"})
    void trainedBiasIsRefused(String bias) {
        assertRefused(Reason.UNSUPPORTED_FEATURE, parsing("{'bias': '" + bias + "'}"), "bias", bias);
    }

    @ParameterizedTest
    @ValueSource(ints = {0, -4})
    void nonPositiveRankIsRefused(int r) {
        assertRefused(Reason.INVALID_RANK, parsing("{'r': " + r + "}"), "r is " + r);
    }

    @Test
    void nonPositiveRankInRankPatternIsRefused() {
        assertRefused(Reason.INVALID_RANK, parsing("{'rank_pattern': {'q_proj': 0}}"), "rank_pattern['q_proj']");
    }

    @ParameterizedTest
    @ValueSource(strings = {"0", "-8", "1e999", "-1e999"})
    void nonFiniteOrNonPositiveAlphaIsRefused(String alpha) {
        assertRefused(Reason.INVALID_ALPHA, parsing("{'lora_alpha': " + alpha + "}"), "lora_alpha");
    }

    @Test
    void nonPositiveAlphaInAlphaPatternIsRefused() {
        assertRefused(Reason.INVALID_ALPHA, parsing("{'alpha_pattern': {'v_proj': 0.0}}"), "alpha_pattern['v_proj']");
    }

    @ParameterizedTest
    @CsvSource(delimiter = ';', value = {
        "{'target_modules': '(?P<proj>q_proj)'};target_modules",
        "{'exclude_modules': '.*['};exclude_modules",
        "{'rank_pattern': {'q_proj(': 2}};rank_pattern key 'q_proj('",
        "{'alpha_pattern': {'*v_proj': 2}};alpha_pattern key '*v_proj'",
        "{'layers_to_transform': [0], 'layers_pattern': 'lay(ers'};layers_pattern"})
    void invalidRegexIsRefused(String overrides, String field) {
        assertRefused(Reason.INVALID_PATTERN, parsing(overrides), field);
    }

    @ParameterizedTest
    @CsvSource(delimiter = ';', value = {
        "{'target_modules': '.*_proj', 'layers_to_transform': [0]};layers_to_transform",
        "{'target_modules': 'all-linear', 'layers_to_transform': 1};layers_to_transform",
        "{'target_modules': '.*_proj', 'layers_to_transform': []};layers_to_transform",
        "{'target_modules': 'all-linear', 'layers_pattern': 'layers'};layers_pattern",
        "{'layers_pattern': 'layers'};layers_pattern"})
    void optionsPeftRefusesToCombineAreRefused(String overrides, String field) {
        assertRefused(Reason.CONFLICTING_OPTIONS, parsing(overrides), field);
    }

    @ParameterizedTest
    @ValueSource(strings = {"lm_head", "embed_tokens", "model.embed_tokens", "self_attn", "mlp", "input_layernorm",
        "norm", "layers", "c_attn", "query_key_value", "model.layers.01.self_attn.q_proj", "attn.q_proj"})
    void listedTargetThatCannotBeADecoderLinearIsRefused(String entry) {
        assertRefused(Reason.UNSUPPORTED_TARGET, parsing("{'target_modules': ['q_proj', '" + entry + "']}"),
                "target_modules entry '" + entry + "'");
    }

    @ParameterizedTest
    @CsvSource(delimiter = ';', value = {
        "lm_head;lm_head",
        ".*(q_proj|lm_head);lm_head",
        ".*embed_tokens;model.embed_tokens",
        ".*;model",
        "model\\\\.norm;model.norm"})
    void regexTargetSelectingAModuleOutsideTheLayersIsRefused(String regex, String module) {
        assertRefused(Reason.UNSUPPORTED_TARGET, parsing("{'target_modules': '" + regex + "'}"),
                "module '" + module + "'");
    }

    @ParameterizedTest
    @CsvSource(delimiter = ';', value = {
        "model\\\\.layers\\\\.1\\\\..*;model.layers.1.self_attn",
        ".*layernorm;model.layers.0.input_layernorm",
        ".*\\\\.(mlp|q_proj);model.layers.0.mlp"})
    void regexTargetSelectingANonLinearOfALayerIsRefusedAgainstTheModel(String regex, String module) {
        assertRefused(Reason.UNSUPPORTED_TARGET, checking(2, "{'target_modules': '" + regex + "'}"),
                "module '" + module + "'");
    }

    @Test
    void emptyTargetListIsRefused() {
        assertRefused(Reason.UNMATCHED_TARGET, parsing("{'target_modules': []}"), "target_modules");
    }

    @Test
    void listedTargetBeyondTheModelsLayersIsRefusedAgainstTheModel() {
        assertRefused(Reason.UNMATCHED_TARGET,
                checking(2, "{'target_modules': ['q_proj', 'layers.2.self_attn.v_proj']}"),
                "target_modules entry 'layers.2.self_attn.v_proj'", "2 layers");
    }

    @Test
    void listedTargetOutsideLayersToTransformIsRefusedAgainstTheModel() {
        assertRefused(Reason.UNMATCHED_TARGET,
                checking(2, "{'target_modules': ['q_proj', 'layers.0.self_attn.v_proj'], 'layers_to_transform': 1}"),
                "target_modules entry 'layers.0.self_attn.v_proj'", "layers_to_transform [1]");
    }

    @Test
    void layersToTransformBeyondTheModelsLayersIsRefusedAgainstTheModel() {
        assertRefused(Reason.LAYER_OUT_OF_RANGE, checking(2, "{'layers_to_transform': [1, 2]}"),
                "layers_to_transform", "layer 2", "0..1");
    }

    @Test
    void negativeLayerToTransformIsRefused() {
        assertRefused(Reason.LAYER_OUT_OF_RANGE, parsing("{'layers_to_transform': -1}"), "layer -1");
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "{'target_modules': 'q_proj'}",
        "{'target_modules': '.*\\\\.5\\\\.self_attn\\\\.q_proj'}",
        "{'target_modules': 'all-linear', 'exclude_modules': '.*'}",
        "{'exclude_modules': ['q_proj', 'v_proj']}"})
    void configAdaptingNoModuleIsRefusedAgainstTheModel(String overrides) {
        assertRefused(Reason.UNMATCHED_TARGET, checking(2, overrides), "adapts no module", "2 layers");
    }
}
