package io.loraserve.model;

import io.loraserve.SafeTensorsIo;
import java.util.Map;

/**
 * A naive Llama forward for tests: plain Java, float64, no KV cache — every call recomputes the
 * whole sequence from its tokens, with explicit loops for every matmul, RMSNorm, rotate_half RoPE,
 * causal GQA softmax attention and SwiGLU, as HuggingFace {@code LlamaForCausalLM} defines them.
 * Slow and obvious on purpose: it is the "full recompute" that the cached forward is held to.
 * Weights come from the test-tree safetensors reader, not from the main code's loader.
 *
 * <p>The relatives too, each from its own weights or config field: fused {@code qkv_proj} and
 * {@code gate_up_proj} split by rows (Phi-3), per-head {@code q_norm}/{@code k_norm} (Qwen3),
 * {@code linear} and {@code llama3} rope scaling (written out again here from transformers'
 * formulas), and a sliding window of the config's size (Mistral, Phi-3).
 */
public final class ReferenceLlama {
    private final ModelConfig c;
    private final Map<String, SafeTensorsIo.Stored> w;

    public ReferenceLlama(ModelConfig config, Map<String, SafeTensorsIo.Stored> weights) {
        this.c = config;
        this.w = weights;
    }

    /** Logits of the last position of {@code tokens} (positions 0..n-1). */
    public double[] lastLogits(int[] tokens) {
        int n = tokens.length;
        int hidden = c.hidden();
        int hd = c.headDim();
        double[][] x = new double[n][];
        float[] embed = weight("model.embed_tokens.weight");
        for (int t = 0; t < n; t++) {
            x[t] = new double[hidden];
            for (int i = 0; i < hidden; i++) {
                x[t][i] = embed[tokens[t] * hidden + i];
            }
        }
        for (int l = 0; l < c.layers(); l++) {
            String p = "model.layers." + l + ".";
            double[][] q = new double[n][];
            double[][] k = new double[n][];
            double[][] v = new double[n][];
            int qw = c.heads() * hd;
            int kvw = c.kvHeads() * hd;
            for (int t = 0; t < n; t++) {
                double[] h = rmsNorm(x[t], weight(p + "input_layernorm.weight"));
                double[][] qkv = projections(p + "self_attn.", h, "qkv_proj", new String[] {"q_proj", "k_proj", "v_proj"},
                        qw, kvw, kvw);
                q[t] = rope(headNorm(qkv[0], p + "self_attn.q_norm.weight"), c.heads(), t);
                k[t] = rope(headNorm(qkv[1], p + "self_attn.k_norm.weight"), c.kvHeads(), t);
                v[t] = qkv[2];
            }
            int group = c.heads() / c.kvHeads();
            for (int t = 0; t < n; t++) {
                double[] attn = new double[c.heads() * hd];
                for (int head = 0; head < c.heads(); head++) {
                    int kvHead = head / group;
                    double[] scores = new double[t + 1];
                    double max = Double.NEGATIVE_INFINITY;
                    int first = c.slidingWindow() == 0 ? 0 : Math.max(0, t - c.slidingWindow() + 1);
                    for (int s = first; s <= t; s++) {
                        double dot = 0;
                        for (int i = 0; i < hd; i++) {
                            dot += q[t][head * hd + i] * k[s][kvHead * hd + i];
                        }
                        scores[s] = dot / Math.sqrt(hd);
                        max = Math.max(max, scores[s]);
                    }
                    double sum = 0;
                    for (int s = first; s <= t; s++) {
                        scores[s] = Math.exp(scores[s] - max);
                        sum += scores[s];
                    }
                    for (int s = first; s <= t; s++) {
                        for (int i = 0; i < hd; i++) {
                            attn[head * hd + i] += scores[s] / sum * v[s][kvHead * hd + i];
                        }
                    }
                }
                add(x[t], linear(p + "self_attn.o_proj", attn));
            }
            for (int t = 0; t < n; t++) {
                double[] h = rmsNorm(x[t], weight(p + "post_attention_layernorm.weight"));
                double[][] gateUp = projections(p + "mlp.", h, "gate_up_proj", new String[] {"gate_proj", "up_proj"},
                        c.intermediate(), c.intermediate());
                double[] gate = gateUp[0];
                double[] up = gateUp[1];
                double[] act = new double[gate.length];
                for (int i = 0; i < act.length; i++) {
                    act[i] = gate[i] / (1 + Math.exp(-gate[i])) * up[i];
                }
                add(x[t], linear(p + "mlp.down_proj", act));
            }
        }
        double[] last = rmsNorm(x[n - 1], weight("model.norm.weight"));
        String head = w.containsKey("lm_head.weight") ? "lm_head.weight" : "model.embed_tokens.weight";
        return matVec(weight(head), last, c.vocab());
    }

    /** The outputs of the projections {@code split} of {@code h}, or the rows of the one module {@code fused} holding them. */
    private double[][] projections(String prefix, double[] h, String fused, String[] split, int... widths) {
        double[][] out = new double[split.length][];
        if (!w.containsKey(prefix + fused + ".weight")) {
            for (int i = 0; i < split.length; i++) {
                out[i] = linear(prefix + split[i], h);
            }
            return out;
        }
        double[] all = linear(prefix + fused, h);
        int from = 0;
        for (int i = 0; i < split.length; i++) {
            out[i] = java.util.Arrays.copyOfRange(all, from, from + widths[i]);
            from += widths[i];
        }
        return out;
    }

    /** RMSNorm of each head of {@code x} by the weight {@code name} when the model has it, else {@code x}. */
    private double[] headNorm(double[] x, String name) {
        if (!w.containsKey(name)) {
            return x;
        }
        int hd = c.headDim();
        double[] y = new double[x.length];
        for (int o = 0; o < x.length; o += hd) {
            System.arraycopy(rmsNorm(java.util.Arrays.copyOfRange(x, o, o + hd), weight(name)), 0, y, o, hd);
        }
        return y;
    }

    /** transformers' inverse frequency {@code i} of the config's rope type. */
    private double inverseFrequency(int i) {
        double f = 1 / Math.pow(c.ropeTheta(), 2.0 * i / c.headDim());
        RopeScaling s = c.ropeScaling();
        switch (s.type()) {
            case "linear":
                return f / s.factor();
            case "llama3":
                double wavelen = 2 * Math.PI / f;
                double old = s.originalMaxPositions();
                if (wavelen > old / s.lowFreqFactor()) {
                    return f / s.factor();
                }
                if (wavelen < old / s.highFreqFactor()) {
                    return f;
                }
                double smooth = (old / wavelen - s.lowFreqFactor()) / (s.highFreqFactor() - s.lowFreqFactor());
                return (1 - smooth) * f / s.factor() + smooth * f;
            default:
                return f;
        }
    }

    private float[] weight(String name) {
        SafeTensorsIo.Stored s = w.get(name);
        if (s == null) {
            throw new IllegalArgumentException("reference weights have no " + name);
        }
        return s.values();
    }

    /** {@code W·x (+ b)} for the projection named {@code prefix} ({@code .weight}, optional {@code .bias}). */
    private double[] linear(String prefix, double[] x) {
        SafeTensorsIo.Stored weight = w.get(prefix + ".weight");
        double[] y = matVec(weight.values(), x, (int) weight.shape()[0]);
        if (w.containsKey(prefix + ".bias")) {
            float[] b = weight(prefix + ".bias");
            for (int i = 0; i < y.length; i++) {
                y[i] += b[i];
            }
        }
        return y;
    }

    private static double[] matVec(float[] m, double[] x, int rows) {
        double[] y = new double[rows];
        for (int r = 0; r < rows; r++) {
            double sum = 0;
            for (int i = 0; i < x.length; i++) {
                sum += m[r * x.length + i] * x[i];
            }
            y[r] = sum;
        }
        return y;
    }

    private double[] rmsNorm(double[] x, float[] weight) {
        double ms = 0;
        for (double v : x) {
            ms += v * v;
        }
        double inv = 1 / Math.sqrt(ms / x.length + c.rmsNormEps());
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = x[i] * inv * weight[i];
        }
        return y;
    }

    /** rotate_half RoPE of every head of {@code x} at {@code position}: pairs (i, i + headDim/2). */
    private double[] rope(double[] x, int heads, int position) {
        int hd = c.headDim();
        int half = hd / 2;
        double[] y = new double[x.length];
        for (int head = 0; head < heads; head++) {
            int o = head * hd;
            for (int i = 0; i < half; i++) {
                double angle = position * inverseFrequency(i);
                double cos = Math.cos(angle);
                double sin = Math.sin(angle);
                y[o + i] = x[o + i] * cos - x[o + half + i] * sin;
                y[o + half + i] = x[o + half + i] * cos + x[o + i] * sin;
            }
        }
        return y;
    }

    private static void add(double[] x, double[] delta) {
        for (int i = 0; i < x.length; i++) {
            x[i] += delta[i];
        }
    }
}
