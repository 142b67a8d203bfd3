package io.loraserve;

import jakarta.json.Json;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * A HuggingFace Llama model directory with random sizes and random weights ({@code config.json} and
 * {@code model.safetensors}, no tokenizer), so tests can cover shapes the fixture model does not have: q wider or
 * narrower than hidden (explicit {@code head_dim}), grouped KV heads, odd intermediate sizes, one to three layers.
 */
public final class RandomLlama {
    /** The written directory and every tensor's values (row-major), by their name in the file. */
    public record Model(Path dir, Map<String, float[]> weights) {
        /** The {@code [out, in]} matrix of a projection, e.g. {@code model.layers.0.self_attn.q_proj}. */
        public float[] matrix(String module) {
            return weights.get(module + ".weight");
        }
    }

    private RandomLlama() {}

    /** Writes a model drawn from {@code seed} into {@code dir}. */
    public static Model write(Path dir, long seed) {
        Random random = new Random(seed);
        int layers = 1 + random.nextInt(3);
        int kvHeads = 1 + random.nextInt(2);
        int heads = kvHeads * (1 + random.nextInt(3));
        int headDim = 2 * (2 + random.nextInt(4));
        int hidden = 8 + random.nextInt(41);
        int intermediate = 8 + random.nextInt(57);
        int vocab = 32;
        String config = Json.createObjectBuilder()
                .add("architectures", Json.createArrayBuilder().add("LlamaForCausalLM"))
                .add("model_type", "llama").add("hidden_size", hidden).add("intermediate_size", intermediate)
                .add("num_attention_heads", heads).add("num_key_value_heads", kvHeads).add("head_dim", headDim)
                .add("num_hidden_layers", layers).add("hidden_act", "silu").add("rms_norm_eps", 1e-5)
                .add("rope_theta", 10000.0).add("vocab_size", vocab).add("max_position_embeddings", 64)
                .add("tie_word_embeddings", false).add("bos_token_id", 1).add("eos_token_id", 2)
                .build().toString();
        Map<String, SafeTensorsWriter.Data> t = new LinkedHashMap<>();
        t.put("model.embed_tokens.weight", matrix(random, vocab, hidden));
        t.put("model.norm.weight", norm(random, hidden));
        t.put("lm_head.weight", matrix(random, vocab, hidden));
        for (int l = 0; l < layers; l++) {
            String p = "model.layers." + l + ".";
            t.put(p + "input_layernorm.weight", norm(random, hidden));
            t.put(p + "post_attention_layernorm.weight", norm(random, hidden));
            t.put(p + "self_attn.q_proj.weight", matrix(random, heads * headDim, hidden));
            t.put(p + "self_attn.k_proj.weight", matrix(random, kvHeads * headDim, hidden));
            t.put(p + "self_attn.v_proj.weight", matrix(random, kvHeads * headDim, hidden));
            t.put(p + "self_attn.o_proj.weight", matrix(random, hidden, heads * headDim));
            t.put(p + "mlp.gate_proj.weight", matrix(random, intermediate, hidden));
            t.put(p + "mlp.up_proj.weight", matrix(random, intermediate, hidden));
            t.put(p + "mlp.down_proj.weight", matrix(random, hidden, intermediate));
        }
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("config.json"), config);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        SafeTensorsWriter.write(dir.resolve("model.safetensors"), t);
        Map<String, float[]> values = new LinkedHashMap<>();
        t.forEach((name, data) -> values.put(name, data.values()));
        return new Model(dir, values);
    }

    /** [rows, cols], uniform with the variance of a default-initialised linear layer. */
    private static SafeTensorsWriter.Data matrix(Random random, int rows, int cols) {
        float[] v = new float[rows * cols];
        double bound = Math.sqrt(3.0 / cols);
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) ((random.nextDouble() * 2 - 1) * bound);
        }
        return new SafeTensorsWriter.Data(new long[] {rows, cols}, v);
    }

    /** [n], around 1 like a trained RMSNorm weight. */
    private static SafeTensorsWriter.Data norm(Random random, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (0.8 + 0.4 * random.nextDouble());
        }
        return new SafeTensorsWriter.Data(new long[] {n}, v);
    }
}
