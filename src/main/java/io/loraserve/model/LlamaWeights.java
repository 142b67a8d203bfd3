package io.loraserve.model;

import io.loraserve.tensor.SafeTensorsException;
import io.loraserve.tensor.WeightFiles;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorVector;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The frozen base weights. Lifetime: process — created once at start-up, never modified in
 * place, closed by {@link #close()} when the server stops.
 */
public final class LlamaWeights implements AutoCloseable {
    private final Tensor embed;      // [vocab, hidden]
    private final Tensor finalNorm;  // [hidden]
    private final Tensor lmHead;     // [vocab, hidden]; the same tensor as embed when tied and not quantized
    private final List<LayerWeights> layers;
    private final List<Tensor> owned = new ArrayList<>();

    private LlamaWeights(ModelConfig c, WeightFiles files, ScalarType dtype, Device device, Quantization q) {
        Loader l = new Loader(files, dtype, device, q);
        try {
            embed = own(l.load("model.embed_tokens.weight", c.vocab(), c.hidden()));
            finalNorm = own(l.load("model.norm.weight", c.hidden()));
            if (files.contains("lm_head.weight")) {
                lmHead = own(q.store(l.load("lm_head.weight", c.vocab(), c.hidden())));
            } else if (c.tiedEmbeddings()) {
                lmHead = q == Quantization.NONE ? embed : own(q.store(embed.clone()));
            } else {
                throw new ModelLoadException("model weights have no lm_head.weight and config.json does not set"
                        + " tie_word_embeddings");
            }
            List<LayerWeights> ls = new ArrayList<>();
            for (int i = 0; i < c.layers(); i++) {
                ls.add(loadLayer(c, l, i));
            }
            layers = List.copyOf(ls);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Loads the weights of {@code dir} in {@code dtype} onto {@code device}, as they are. */
    public static LlamaWeights load(Path dir, ModelConfig c, ScalarType dtype, Device device) {
        return load(dir, c, dtype, device, Quantization.NONE);
    }

    /**
     * Loads the weights of {@code dir} in {@code dtype} onto {@code device}, the layer matrices and
     * the LM head stored as {@code q} says (one matrix at a time, so loading needs one unquantized
     * matrix beside the quantized ones).
     */
    public static LlamaWeights load(Path dir, ModelConfig c, ScalarType dtype, Device device, Quantization q) {
        try {
            return new LlamaWeights(c, WeightFiles.open(dir), dtype, device, q);
        } catch (SafeTensorsException e) {
            throw new ModelLoadException(e.getMessage(), e);
        }
    }

    private LayerWeights loadLayer(ModelConfig c, Loader l, int i) {
        String p = "model.layers." + i + ".";
        int qw = c.heads() * c.headDim();
        int kvw = c.kvHeads() * c.headDim();
        Tensor qkvBias = null;
        if (c.qkvBias()) {
            qkvBias = own(l.fuse(
                    l.load(p + "self_attn.q_proj.bias", qw),
                    l.load(p + "self_attn.k_proj.bias", kvw),
                    l.load(p + "self_attn.v_proj.bias", kvw)));
        }
        Tensor qNorm = c.qkNorm() ? own(l.load(p + "self_attn.q_norm.weight", c.headDim())) : null;
        Tensor kNorm = c.qkNorm() ? own(l.load(p + "self_attn.k_norm.weight", c.headDim())) : null;
        return new LayerWeights(
                own(l.load(p + "input_layernorm.weight", c.hidden())),
                own(group(c, l, i, Fused.QKV)),
                qkvBias,
                qNorm,
                kNorm,
                own(group(c, l, i, Fused.O)),
                own(l.load(p + "post_attention_layernorm.weight", c.hidden())),
                own(group(c, l, i, Fused.GATE_UP)),
                own(group(c, l, i, Fused.DOWN)));
    }

    /** The fused matrix of {@code g} [g.out, g.in]: the checkpoint's modules that hold its rows, concatenated. */
    private static Tensor group(ModelConfig c, Loader l, int layer, Fused g) {
        Tensor[] parts = c.layout().modules().stream()
                .filter(m -> Fused.of(m.projs().get(0)) == g)
                .map(m -> l.load(m.moduleName(layer) + ".weight", m.outFeatures(c), m.inFeatures(c)))
                .toArray(Tensor[]::new);
        return l.quantization().store(parts.length == 1 ? parts[0] : l.fuse(parts));
    }

    private Tensor own(Tensor t) {
        owned.add(t);
        return t;
    }

    public Tensor embed() {
        return embed;
    }

    public Tensor finalNorm() {
        return finalNorm;
    }

    public Tensor lmHead() {
        return lmHead;
    }

    public List<LayerWeights> layers() {
        return layers;
    }

    /**
     * How many of the matrices are quantized ({@link Quantization}), e.g. {@code "int8: 60 of 61
     * matrices"}, or null when none is.
     */
    public String quantization() {
        long matrices = owned.stream().filter(t -> t.dim() == 2 && t != embed).count();
        long quantized = owned.stream().filter(Quantization::quantized).count();
        return quantized == 0 ? null : "int8: " + quantized + " of " + matrices + " matrices";
    }

    /** Bytes held by the base weights. */
    public long bytes() {
        return owned.stream().mapToLong(t -> t.numel() * t.element_size()).sum();
    }

    @Override
    public void close() {
        owned.forEach(Tensor::close);
        owned.clear();
    }

    /** Reads tensors by name, checking each shape against the config. */
    private record Loader(WeightFiles files, ScalarType dtype, Device device, Quantization quantization) {
        Tensor load(String name, long... shape) {
            if (!files.contains(name)) {
                throw new ModelLoadException("model weights have no tensor " + name);
            }
            long[] stored = files.entry(name).shape();
            if (!Arrays.equals(stored, shape)) {
                throw new ModelLoadException("tensor " + name + " has shape " + Arrays.toString(stored)
                        + " but config.json implies " + Arrays.toString(shape));
            }
            return files.newTensor(name, dtype, device);
        }

        /** Concatenates along rows and closes the parts. */
        Tensor fuse(Tensor... parts) {
            try (TensorVector v = new TensorVector(parts)) {
                return torch.cat(v, 0);
            } finally {
                for (Tensor t : parts) {
                    t.close();
                }
            }
        }
    }
}
