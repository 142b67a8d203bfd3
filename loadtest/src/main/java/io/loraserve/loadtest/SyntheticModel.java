package io.loraserve.loadtest;

import io.loraserve.constraint.Vocabulary;
import io.loraserve.model.Proj;
import io.loraserve.tensor.SafeTensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Writes HuggingFace-format Llama models and PEFT adapters with random weights, in the shape of
 * a real model, for benchmarks. The files go through the same loaders as any downloaded model.
 * Deterministic for a given seed.
 */
public final class SyntheticModel {
    /** The dimensions of a Llama-family model. */
    public record Shape(String name, int hidden, int intermediate, int layers, int heads, int kvHeads, int vocab,
                        int maxPositions) {
        /** HuggingFaceTB/SmolLM-135M's shape. */
        public static final Shape SMOLLM_135M = new Shape("smollm-135m-shape", 576, 1536, 30, 9, 3, 49152, 2048);
        /**
         * Llama 3 8B's widths (hidden 4096, intermediate 14336, 32 query and 8 KV heads) with two
         * layers and a 32,000-token vocabulary: what one layer of a 7B-class model costs on a device,
         * in a model small enough to generate on the fly (2.8 GB in float32).
         */
        public static final Shape LLAMA_8B_WIDTH = new Shape("llama-8b-width-2-layers", 4096, 14336, 2, 32, 8, 32_000,
                8192);
        /** A tiny shape for smoke runs. */
        public static final Shape TINY = new Shape("tiny-shape", 64, 176, 2, 4, 2, 512, 256);

        /** The same shape with another vocabulary (a Llama 3-sized one, say). */
        public Shape withVocab(int v) {
            return new Shape(name + "-vocab" + v, hidden, intermediate, layers, heads, kvHeads, v, maxPositions);
        }

        int headDim() {
            return hidden / heads;
        }

        int in(Proj p) {
            return p == Proj.O ? heads * headDim() : p == Proj.DOWN ? intermediate : hidden;
        }

        int out(Proj p) {
            return switch (p) {
                case Q -> heads * headDim();
                case K, V -> kvHeads * headDim();
                case O, DOWN -> hidden;
                case GATE, UP -> intermediate;
            };
        }

        /** Parameters of the decoder layers and lm_head: the weights a decode step multiplies. */
        public long matmulParams() {
            long perLayer = 0;
            for (Proj p : Proj.values()) {
                perLayer += (long) in(p) * out(p);
            }
            return perLayer * layers + (long) vocab * hidden;
        }
    }

    private SyntheticModel() {
    }

    /** Writes config.json and model.safetensors for {@code shape} into {@code dir}. */
    public static void writeModel(Path dir, Shape shape, long seed) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), """
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": %d,
                 "intermediate_size": %d, "num_hidden_layers": %d, "num_attention_heads": %d,
                 "num_key_value_heads": %d, "vocab_size": %d, "max_position_embeddings": %d,
                 "hidden_act": "silu", "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "rope_scaling": null,
                 "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32"}
                """.formatted(shape.hidden(), shape.intermediate(), shape.layers(), shape.heads(), shape.kvHeads(),
                shape.vocab(), shape.maxPositions()));
        SplittableRandom rng = new SplittableRandom(seed);
        SafeTensorsWriter w = new SafeTensorsWriter();
        w.add("model.embed_tokens.weight", normal(rng, (long) shape.vocab() * shape.hidden(), 0.02),
                shape.vocab(), shape.hidden());
        for (int l = 0; l < shape.layers(); l++) {
            String p = "model.layers." + l + ".";
            w.add(p + "input_layernorm.weight", ones(shape.hidden()), shape.hidden());
            w.add(p + "post_attention_layernorm.weight", ones(shape.hidden()), shape.hidden());
            for (Proj proj : Proj.values()) {
                w.add(p + proj.path() + ".weight", normal(rng, (long) shape.out(proj) * shape.in(proj), 0.02),
                        shape.out(proj), shape.in(proj));
            }
        }
        w.add("model.norm.weight", ones(shape.hidden()), shape.hidden());
        w.add("lm_head.weight", normal(rng, (long) shape.vocab() * shape.hidden(), 0.02),
                shape.vocab(), shape.hidden());
        w.write(dir.resolve("model.safetensors"));
    }

    /** Writes a PEFT LoRA adapter of {@code rank} on every decoder linear ("all-linear") into {@code dir}. */
    public static void writeAdapter(Path dir, Shape shape, int rank, long seed) throws IOException {
        writeAdapter(dir, shape, rank, seed, List.of(Proj.values()));
    }

    /** Writes a PEFT LoRA adapter of {@code rank} on the {@code targets} of every layer into {@code dir}. */
    public static void writeAdapter(Path dir, Shape shape, int rank, long seed, List<Proj> targets) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("adapter_config.json"), """
                {"peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": "%s", "r": %d,
                 "lora_alpha": %d, "target_modules": %s, "use_rslora": false, "use_dora": false,
                 "bias": "none", "fan_in_fan_out": false, "lora_dropout": 0.0, "modules_to_save": null}
                """.formatted(shape.name(), rank, 2 * rank,
                targets.stream().map(p -> "\"" + p.shortName() + "\"").toList()));
        SplittableRandom rng = new SplittableRandom(seed);
        SafeTensorsWriter w = new SafeTensorsWriter();
        for (int l = 0; l < shape.layers(); l++) {
            for (Proj p : targets) {
                String key = "base_model.model.model.layers." + l + "." + p.path();
                w.add(key + ".lora_A.weight", normal(rng, (long) rank * shape.in(p), 1.0 / Math.sqrt(shape.in(p))),
                        rank, shape.in(p));
                w.add(key + ".lora_B.weight", normal(rng, (long) shape.out(p) * rank, 0.01), shape.out(p), rank);
            }
        }
        w.write(dir.resolve("adapter_model.safetensors"));
    }

    private static float[] normal(SplittableRandom rng, long n, double std) {
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i += 2) {
            double u1 = 1.0 - rng.nextDouble();
            double u2 = rng.nextDouble();
            double r = Math.sqrt(-2 * Math.log(u1)) * std;
            v[i] = (float) (r * Math.cos(2 * Math.PI * u2));
            if (i + 1 < v.length) {
                v[i + 1] = (float) (r * Math.sin(2 * Math.PI * u2));
            }
        }
        return v;
    }

    private static float[] ones(int n) {
        float[] v = new float[n];
        java.util.Arrays.fill(v, 1f);
        return v;
    }

    /**
     * A byte-level vocabulary of {@code size} tokens for constraints on a synthetic model (which has
     * no tokenizer): ids 0-2 special (2 = EOS), 3-258 the 256 single bytes, the rest seeded random
     * pieces of 2 to 8 characters from JSON-ish text (letters, digits, quotes, brackets, spaces,
     * punctuation), so pieces share prefixes as BPE merges do.
     */
    static Vocabulary vocabulary(int size) {
        String alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 \"{}[]:,.-_";
        SplittableRandom rng = new SplittableRandom(11);
        byte[][] tokens = new byte[size][];
        for (int id = 3; id < size; id++) {
            if (id < 259) {
                tokens[id] = new byte[] {(byte) (id - 3)};
            } else {
                byte[] piece = new byte[2 + rng.nextInt(7)];
                for (int i = 0; i < piece.length; i++) {
                    piece[i] = (byte) alphabet.charAt(rng.nextInt(alphabet.length()));
                }
                tokens[id] = piece;
            }
        }
        return new Vocabulary(tokens, new int[] {2});
    }
}
