package io.loraserve;

import io.loraserve.model.ModelConfig;
import io.loraserve.model.Proj;
import jakarta.json.Json;
import jakarta.json.JsonObject;
import jakarta.json.JsonObjectBuilder;
import java.io.IOException;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * A HuggingFace PEFT LoRA adapter directory made in a test: {@code adapter_config.json} (plain LoRA, r 4, alpha 8,
 * q_proj and v_proj, as PEFT writes it, plus overrides) and {@code adapter_model.safetensors} holding random
 * {@code lora_A [rank, in]} and {@code lora_B [out, rank]} for the modules a test adds. Tests read the values back
 * for their naive reference, and break the files on purpose (drop, replace or add tensors) to test refusals.
 */
public final class PeftDir {
    private static final String DEFAULT_CONFIG = """
            {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": "tiny-llama",
             "r": 4, "lora_alpha": 8, "target_modules": ["q_proj", "v_proj"], "use_rslora": false,
             "use_dora": false, "bias": "none", "fan_in_fan_out": false, "lora_dropout": 0.0,
             "inference_mode": true, "layers_to_transform": null, "rank_pattern": {}, "alpha_pattern": {},
             "modules_to_save": null}""";

    private final ModelConfig base;
    private final Random random;
    private JsonObject config = parse(DEFAULT_CONFIG);
    private final Map<String, SafeTensorsWriter.Data> tensors = new LinkedHashMap<>();

    /** An adapter for {@code base} with no tensors yet; {@code seed} makes its random weights repeatable. */
    public PeftDir(ModelConfig base, long seed) {
        this.base = base;
        this.random = new Random(seed);
    }

    /** The tensor name PEFT writes: {@code base_model.model.model.layers.L.<path>.lora_A.weight}. */
    public static String key(int layer, Proj p, String aOrB) {
        return "base_model.model." + p.moduleName(layer) + ".lora_" + aOrB + ".weight";
    }

    /** Overrides config fields; single quotes stand for JSON's double quotes: {@code "{'r': 8}"}. */
    public PeftDir config(String overrides) {
        JsonObjectBuilder merged = Json.createObjectBuilder(config);
        parse(overrides.replace('\'', '"')).forEach(merged::add);
        config = merged.build();
        return this;
    }

    /** Random A {@code [rank, in]} and B {@code [out, rank]} for module {@code (layer, p)}. */
    public PeftDir lora(int layer, Proj p, int rank) {
        tensor(key(layer, p, "A"), new long[] {rank, base.inFeatures(p)}, randoms(rank * base.inFeatures(p)));
        return tensor(key(layer, p, "B"), new long[] {base.outFeatures(p), rank},
                randoms(base.outFeatures(p) * rank));
    }

    /** {@link #lora} for {@code projs} in every layer of the base. */
    public PeftDir loraEverywhere(int rank, Proj... projs) {
        for (int l = 0; l < base.layers(); l++) {
            for (Proj p : projs) {
                lora(l, p, rank);
            }
        }
        return this;
    }

    /** Adds or replaces one tensor. */
    public PeftDir tensor(String key, long[] shape, float[] values) {
        tensors.put(key, new SafeTensorsWriter.Data(shape, values));
        return this;
    }

    public PeftDir without(String key) {
        if (tensors.remove(key) == null) {
            throw new IllegalArgumentException("no tensor " + key);
        }
        return this;
    }

    /** The values of a tensor, row-major. */
    public float[] values(String key) {
        return tensors.get(key).values().clone();
    }

    /** Writes both files into {@code dir} (created if needed) and returns it. */
    public Path writeTo(Path dir) {
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("adapter_config.json"), config.toString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        SafeTensorsWriter.write(dir.resolve("adapter_model.safetensors"), tensors);
        return dir;
    }

    private float[] randoms(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextDouble() * 2 - 1);
        }
        return v;
    }

    private static JsonObject parse(String json) {
        return Json.createReader(new StringReader(json)).readObject();
    }
}
