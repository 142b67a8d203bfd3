package io.loraserve.lora;

import io.loraserve.model.WeightLayout;
import java.util.List;
import java.util.function.Function;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The module names HuggingFace {@code LlamaForCausalLM.named_modules()} (and its relatives') reports, split into the
 * decoder linears an adapter may target (those of either {@link WeightLayout}: the seven of Llama, or Phi-3's
 * {@code qkv_proj} and {@code gate_up_proj}) and everything else. Rotary embeddings are listed both where
 * current transformers puts them ({@code model.rotary_emb}) and where older versions did (per attention block).
 */
final class LlamaModules {

    private static final String LAYER_INDEX = "(?:0|[1-9][0-9]*)";

    private static final Pattern DECODER_LINEAR = Pattern.compile(
            "model\\.layers\\." + LAYER_INDEX + "\\." + alternatives(WeightLayout.Module::path));

    /** Dot-separated suffixes of {@code model.layers.N.<path>}: the list entries that can name a decoder linear. */
    private static final Pattern DECODER_LINEAR_SUFFIX = Pattern.compile(
            "(?:(?:(?:model\\.)?layers\\.)?" + LAYER_INDEX + "\\.)?" + alternatives(WeightLayout.Module::path)
                    + "|" + alternatives(WeightLayout.Module::shortName));

    /** Modules outside the decoder layers; none of them can carry LoRA here, whatever the layer count. */
    static final List<String> OUTSIDE_LAYERS =
            List.of("model", "model.embed_tokens", "model.layers", "model.norm", "model.rotary_emb", "lm_head");

    /** The short names of every decoder linear of either layout, for messages. */
    static final List<String> LINEAR_NAMES = WeightLayout.allModules().stream().map(WeightLayout.Module::shortName)
            .toList();

    private static final List<String> LAYER_NON_LINEARS = List.of("", ".self_attn", ".self_attn.rotary_emb",
            ".mlp", ".mlp.act_fn", ".input_layernorm", ".post_attention_layernorm");

    private LlamaModules() {}

    static boolean isDecoderLinear(String module) {
        return DECODER_LINEAR.matcher(module).matches();
    }

    /** Whether a {@code target_modules} list entry can select a decoder linear of some layer. */
    static boolean canNameDecoderLinear(String entry) {
        return DECODER_LINEAR_SUFFIX.matcher(entry).matches();
    }

    /** The modules of decoder layer {@code layer} that are not linears: the layer itself, its blocks, norms, act. */
    static List<String> nonLinearsOfLayer(int layer) {
        return LAYER_NON_LINEARS.stream().map(suffix -> "model.layers." + layer + suffix).toList();
    }

    private static String alternatives(Function<WeightLayout.Module, String> name) {
        return WeightLayout.allModules().stream().map(name).map(Pattern::quote)
                .collect(Collectors.joining("|", "(?:", ")"));
    }
}
