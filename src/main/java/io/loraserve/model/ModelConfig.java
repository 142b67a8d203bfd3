package io.loraserve.model;

import jakarta.json.Json;
import jakarta.json.JsonArray;
import jakarta.json.JsonException;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import jakarta.json.JsonValue;
import java.io.IOException;
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
 */
public record ModelConfig(
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
        boolean tiedEmbeddings,
        boolean qkvBias,
        int bosTokenId,
        List<Integer> eosTokenIds) {

    private static final Set<String> ARCHITECTURES = Set.of(
            "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM");

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
        if (!ARCHITECTURES.contains(arch)) {
            throw new ModelLoadException(file + ": architecture " + arch + " is not supported (supported: "
                    + String.join(", ", ARCHITECTURES.stream().sorted().toList()) + ")");
        }
        String act = o.getString("hidden_act", "silu");
        if (!act.equals("silu")) {
            throw new ModelLoadException(file + ": hidden_act " + act + " is not supported (only silu)");
        }
        JsonValue scaling = o.get("rope_scaling");
        if (scaling != null && scaling != JsonValue.NULL) {
            String type = scaling.asJsonObject().getString("rope_type", scaling.asJsonObject().getString("type", "?"));
            if (!type.equals("default")) {
                throw new ModelLoadException(file + ": rope_scaling type " + type + " is not implemented");
            }
        }
        if (o.getBoolean("mlp_bias", false)) {
            throw new ModelLoadException(file + ": mlp_bias is not supported");
        }
        if (o.getBoolean("use_sliding_window", false)) {
            throw new ModelLoadException(file + ": sliding-window attention is not implemented");
        }
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
                o.getBoolean("tie_word_embeddings", false),
                qkvBias,
                o.containsKey("bos_token_id") && o.get("bos_token_id") instanceof JsonNumber n ? n.intValueExact() : 1,
                eosIds(o));
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
