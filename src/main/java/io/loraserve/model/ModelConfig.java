package io.loraserve.model;

import jakarta.json.Json;
import jakarta.json.JsonArray;
import jakarta.json.JsonException;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import jakarta.json.JsonValue;
import java.io.IOException;
import java.math.BigDecimal;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The parts of a HuggingFace {@code config.json} that a Llama-family forward needs.
 * {@link #load} refuses what the forward does not implement, so a model that loads is a model
 * that computes what HuggingFace computes.
 *
 * <p>The families and what sets them apart: Llama 2/3/3.1+ ({@link RopeScaling}), Mistral and
 * Phi-3 ({@code slidingWindow}: a query attends the last {@code slidingWindow} positions, itself
 * included; 0 = all), Qwen2 ({@code qkvBias}), Qwen3 ({@code qkNorm}: per-head RMSNorm of
 * queries and keys before RoPE, and an explicit {@code head_dim}), Phi-3
 * ({@link WeightLayout#FUSED} q/k/v and gate/up).
 */
public record ModelConfig(
        String architecture,
        String modelType,
        int hidden,
        int intermediate,
        int layers,
        int heads,
        int kvHeads,
        int headDim,
        int vocab,
        int maxPositions,
        double rmsNormEps,
        double ropeTheta,
        RopeScaling ropeScaling,
        boolean tiedEmbeddings,
        boolean qkvBias,
        boolean qkNorm,
        WeightLayout layout,
        int slidingWindow,
        int bosTokenId,
        List<Integer> eosTokenIds) {

    private static final Set<String> ARCHITECTURES = Set.of(
            "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM", "Phi3ForCausalLM");

    public static ModelConfig load(Path modelDir) {
        Path file = modelDir.resolve("config.json");
        JsonObject o;
        try (Reader r = Files.newBufferedReader(file); JsonReader jr = Json.createReader(r)) {
            o = jr.readObject();
        } catch (NoSuchFileException e) {
            throw new ModelLoadException(file + ": missing (is " + modelDir + " a HuggingFace model directory?)");
        } catch (IOException | JsonException | IllegalStateException e) {
            throw new ModelLoadException(file + ": not valid JSON: " + e.getMessage(), e);
        }
        try {
            return fromJson(file, o);
        } catch (ClassCastException | NullPointerException | ArithmeticException e) {
            throw new ModelLoadException(file + ": a field has the wrong type or is missing: " + e.getMessage(), e);
        }
    }

    private static ModelConfig fromJson(Path file, JsonObject o) {
        String arch = o.containsKey("architectures") ? o.getJsonArray("architectures").getString(0) : "?";
        if (arch.startsWith("Gemma")) {
            throw new ModelLoadException(file + ": architecture " + arch + " is not supported: Gemma's GeGLU,"
                    + " (1 + weight) norms, embedding scale, logit soft-capping and alternating sliding window"
                    + " are not implemented");
        }
        if (!ARCHITECTURES.contains(arch)) {
            throw new ModelLoadException(file + ": architecture " + arch + " is not supported (supported: "
                    + String.join(", ", ARCHITECTURES.stream().sorted().toList()) + ")");
        }
        String act = o.getString("hidden_act", "silu");
        if (!act.equals("silu")) {
            throw new ModelLoadException(file + ": hidden_act " + act + " is not supported (only silu)");
        }
        double rotaryFraction = number(o, "partial_rotary_factor", 1.0);
        if (rotaryFraction != 1.0) {
            throw new ModelLoadException(file + ": partial_rotary_factor " + rotaryFraction
                    + " is not implemented (rotary embedding on part of each head; only 1.0)");
        }
        RopeScaling ropeScaling = RopeScaling.parse(file, o.get("rope_scaling"));
        if (o.getBoolean("mlp_bias", false)) {
            throw new ModelLoadException(file + ": mlp_bias is not supported");
        }
        if (o.getBoolean("use_sliding_window", false)) {
            throw new ModelLoadException(file + ": use_sliding_window (Qwen's sliding window on some layers)"
                    + " is not implemented");
        }
        // Mistral and Phi-3 attend within sliding_window whenever it is set (transformers ignores it for Llama, and
        // for Qwen unless use_sliding_window)
        boolean windowed = arch.equals("MistralForCausalLM") || arch.equals("Phi3ForCausalLM");
        int slidingWindow = windowed && o.get("sliding_window") instanceof JsonNumber
                ? positive(file, o, "sliding_window") : 0;
        String modelType = o.getString("model_type", "llama");
        int hidden = positive(file, o, "hidden_size");
        int heads = positive(file, o, "num_attention_heads");
        int kvHeads = o.containsKey("num_key_value_heads") && o.get("num_key_value_heads") != JsonValue.NULL
                ? positive(file, o, "num_key_value_heads") : heads;
        if (heads % kvHeads != 0) {
            throw new ModelLoadException(file + ": num_attention_heads " + heads
                    + " is not a multiple of num_key_value_heads " + kvHeads);
        }
        int headDim = o.containsKey("head_dim") && o.get("head_dim") != JsonValue.NULL
                ? positive(file, o, "head_dim") : hidden / heads;
        if (headDim % 2 != 0) {
            throw new ModelLoadException(file + ": head_dim " + headDim + " must be even for rotary embeddings");
        }
        boolean qkvBias = modelType.equals("qwen2") || o.getBoolean("attention_bias", false);
        return new ModelConfig(
                arch,
                modelType,
                hidden,
                positive(file, o, "intermediate_size"),
                positive(file, o, "num_hidden_layers"),
                heads,
                kvHeads,
                headDim,
                positive(file, o, "vocab_size"),
                positive(file, o, "max_position_embeddings"),
                number(o, "rms_norm_eps", 1e-6),
                number(o, "rope_theta", 10000.0),
                ropeScaling,
                o.getBoolean("tie_word_embeddings", false),
                qkvBias,
                arch.equals("Qwen3ForCausalLM"),
                arch.equals("Phi3ForCausalLM") ? WeightLayout.FUSED : WeightLayout.SPLIT,
                slidingWindow,
                o.containsKey("bos_token_id") && o.get("bos_token_id") instanceof JsonNumber n ? n.intValueExact() : 1,
                eosIds(o));
    }

    /**
     * What the forward does for this model, for the start-up log, e.g.
     * {@code Qwen3ForCausalLM: 28 layers, hidden 1024, 16 heads / 8 KV of 128, q/k norm, rope θ 1000000 default}.
     */
    public String describe() {
        StringBuilder b = new StringBuilder(architecture).append(": ").append(layers).append(" layers, hidden ")
                .append(hidden).append(", ").append(heads).append(" heads / ").append(kvHeads).append(" KV of ")
                .append(headDim);
        if (qkvBias) {
            b.append(", q/k/v bias");
        }
        if (qkNorm) {
            b.append(", q/k norm");
        }
        if (layout == WeightLayout.FUSED) {
            b.append(", fused qkv_proj/gate_up_proj");
        }
        b.append(", rope θ ").append(BigDecimal.valueOf(ropeTheta).stripTrailingZeros().toPlainString())
                .append(' ').append(ropeScaling);
        if (slidingWindow > 0) {
            b.append(", sliding window ").append(slidingWindow);
        }
        if (tiedEmbeddings) {
            b.append(", tied embeddings");
        }
        return b.toString();
    }

    private static int positive(Path file, JsonObject o, String key) {
        if (!(o.get(key) instanceof JsonNumber n) || !n.isIntegral() || n.longValue() <= 0 || n.longValue() > Integer.MAX_VALUE) {
            throw new ModelLoadException(file + ": " + key + " must be a positive integer, got " + o.get(key));
        }
        return n.intValue();
    }

    private static double number(JsonObject o, String key, double fallback) {
        return o.get(key) instanceof JsonNumber n ? n.doubleValue() : fallback;
    }

    private static List<Integer> eosIds(JsonObject o) {
        List<Integer> ids = new ArrayList<>();
        JsonValue v = o.get("eos_token_id");
        if (v instanceof JsonNumber n) {
            ids.add(n.intValueExact());
        } else if (v instanceof JsonArray a) {
            a.getValuesAs(JsonNumber.class).forEach(n -> ids.add(n.intValueExact()));
        }
        return List.copyOf(ids);
    }

    /** Width of the concatenated q, k and v projections. */
    public int qkvWidth() {
        return (heads + 2 * kvHeads) * headDim;
    }

    /** Output width of one projection, and its input width. */
    public int outFeatures(Proj p) {
        return switch (p) {
            case Q -> heads * headDim;
            case O -> hidden;
            case K, V -> kvHeads * headDim;
            case GATE, UP -> intermediate;
            case DOWN -> hidden;
        };
    }

    public int inFeatures(Proj p) {
        return switch (p) {
            case O -> heads * headDim;
            case DOWN -> intermediate;
            default -> hidden;
        };
    }
}
