package io.loraserve.model;

import io.loraserve.tensor.Tensors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DoubleOptional;
import org.bytedeco.pytorch.T_TensorTensor_T;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptional;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The Llama-family forward pass (RMSNorm, q/k/v bias or per-head q/k RMSNorm where the family
 * has them, rotate-half RoPE, GQA attention over the paged KV cache, within the sliding window
 * where there is one, SwiGLU MLP) as HuggingFace {@code LlamaForCausalLM} and its relatives
 * ({@link ModelConfig}) compute it.
 *
 * <p>Computed by libtorch ops or, on a CPU with float32 or bfloat16 weights, by the Java kernels of
 * {@link CpuForward} ({@link Kernels}); on float32 weights both give the same results within
 * float32 rounding.
 *
 * <p>Owns the rotary tables and the kernel threads (lifetime: process). {@link #forward} allocates only step
 * temporaries: call it inside a {@code PointerScope}; it returns Java arrays, no tensors.
 * Engine thread only.
 */
public final class LlamaModel implements AutoCloseable {
    private final ModelConfig config;
    private final ScalarType dtype;
    private final Device device;
    private final Kernels kernels;
    private final CpuForward cpu;      // the Java kernels' forward, or null on libtorch
    private final Tensor cos;          // [maxPositions, headDim] (libtorch kernels only)
    private final Tensor sinSigned;    // [maxPositions, headDim], first half negated (rotate_half folded in)
    private final long[] normShape;
    private final long[] headShape;
    private final double attnScale;
    private final boolean gpuPolicy;

    /** The model on {@code device} with the fastest kernels it can use ({@link Kernels#auto}), one thread a core. */
    public LlamaModel(ModelConfig config, ScalarType dtype, Device device) {
        this(config, dtype, device, Kernels.auto(dtype, device), Runtime.getRuntime().availableProcessors());
    }

    /** The model computed by {@code kernels} with {@code threads} kernel threads (Java kernels only), the GPU policy on CUDA. */
    public LlamaModel(ModelConfig config, ScalarType dtype, Device device, Kernels kernels, int threads) {
        this(config, dtype, device, kernels, threads, device.is_cuda());
    }

    /**
     * @param gpuPolicy whether a pass returns its logits on the device for {@link DeviceSampler}
     *                  (the GPU policy, which also batches the LoRA bypass: see {@link #gpuPolicy()})
     */
    public LlamaModel(ModelConfig config, ScalarType dtype, Device device, Kernels kernels, int threads,
                      boolean gpuPolicy) {
        String refusal = kernels.refusal(dtype, device);
        if (refusal != null) {
            throw new IllegalArgumentException("--kernels java: " + refusal);
        }
        if (gpuPolicy && kernels == Kernels.JAVA) {
            throw new IllegalArgumentException("--gpu-policy on runs the libtorch forward: not with --kernels java");
        }
        this.gpuPolicy = gpuPolicy;
        this.config = config;
        this.dtype = dtype;
        this.device = device;
        this.kernels = kernels;
        int hd = config.headDim();
        int n = config.maxPositions();
        float[][] rotary = rotary(config);
        this.attnScale = 1.0 / Math.sqrt(hd);
        this.normShape = new long[] {config.hidden()};
        this.headShape = new long[] {hd};
        if (kernels == Kernels.JAVA) {
            this.cpu = new CpuForward(config, rotary, threads, attnScale);
            this.cos = null;
            this.sinSigned = null;
            return;
        }
        this.cpu = null;
        int half = hd / 2;
        float[] c = new float[n * hd];
        float[] s = new float[n * hd];
        for (int p = 0; p < n; p++) {
            for (int i = 0; i < half; i++) {
                c[p * hd + i] = rotary[0][p * half + i];
                c[p * hd + half + i] = rotary[0][p * half + i];
                s[p * hd + i] = -rotary[1][p * half + i];
                s[p * hd + half + i] = rotary[1][p * half + i];
            }
        }
        this.cos = toModel(Tensors.newFloats(c, device, n, hd));
        this.sinSigned = toModel(Tensors.newFloats(s, device, n, hd));
    }

    /** {cos, sin} of every position's rotary angles, {@link RopeScaling} applied: two [maxPositions, headDim/2] tables. */
    static float[][] rotary(ModelConfig config) {
        int hd = config.headDim();
        int half = hd / 2;
        int n = config.maxPositions();
        double[] invFreq = config.ropeScaling().inverseFrequencies(config.ropeTheta(), hd);
        float[] c = new float[n * half];
        float[] s = new float[n * half];
        for (int p = 0; p < n; p++) {
            for (int i = 0; i < half; i++) {
                double angle = p * invFreq[i];
                c[p * half + i] = (float) Math.cos(angle);
                s[p * half + i] = (float) Math.sin(angle);
            }
        }
        return new float[][] {c, s};
    }

    private Tensor toModel(Tensor f32) {
        if (dtype == ScalarType.Float) {
            return f32;
        }
        Tensor t = f32.to(dtype);
        f32.close();
        return t;
    }

    public ModelConfig config() {
        return config;
    }

    public Kernels kernels() {
        return kernels;
    }

    /** The weights' dtype. */
    public ScalarType dtype() {
        return dtype;
    }

    /**
     * The dtype of the KV cache and of the adapter slots this model reads: float32 on the Java
     * kernels (which compute in float32 whatever the weights' dtype), the weights' dtype on libtorch.
     */
    public ScalarType cacheDtype() {
        return kernels == Kernels.JAVA ? ScalarType.Float : dtype;
    }

    public Device device() {
        return device;
    }

    /**
     * Whether steps run as on a GPU: logits stay on the device and are sampled there
     * ({@link DeviceSampler}), and the LoRA bypass gathers every adapter into the same few ops
     * whatever the number of segments. On by default on CUDA; {@code --gpu-policy on} forces it on
     * a CPU (libtorch kernels), so its op and sync counts can be measured there.
     */
    public boolean gpuPolicy() {
        return gpuPolicy;
    }

    /**
     * What one pass returns: the sampling logits, on the host ({@code logits}, [logitRows, vocab]
     * row-major) or, under the GPU policy, on the device ({@code deviceLogits} [logitRows, vocab],
     * step lifetime; null when no span wants logits), and the scored rows.
     */
    public record Output(float[] logits, Tensor deviceLogits, Scoring.Result scores) {
    }

    /** Rows scored per lm_head call, so a long prompt's scoring holds [rows, vocab] for this many rows at a time. */
    private static final int SCORE_CHUNK = 128;

    /**
     * Runs one pass and writes this pass's K/V into {@code cache}.
     *
     * @return logits [logitRows, vocab] row-major, one row per span with {@code logits}, in span order (on
     *         the host whatever the policy)
     */
    public float[] forward(ForwardBatch batch, LlamaWeights base, List<LayerWeights> layers,
                           Bypass bypass, PagedKvCache cache) {
        Output out = forward(batch, base, layers, bypass, cache, Scoring.NONE);
        if (out.logits() != null) {
            return out.logits();
        }
        return out.deviceLogits() == null ? new float[0] : Tensors.toFloats(out.deviceLogits());
    }

    /** {@link #forward} that also scores the rows of {@code scoring} (prompt logprobs). */
    public Output forward(ForwardBatch batch, LlamaWeights base, List<LayerWeights> layers,
                          Bypass bypass, PagedKvCache cache, Scoring scoring) {
        if (cpu != null) {
            float[] x = cpu.hidden(batch, base, layers, bypass, cache);  // [t, hidden]
            Scoring.Result scores = scoring.rows().length == 0 ? Scoring.Result.NONE : score(scoring,
                    rows -> Tensors.newFloats(cpu.logits(x, Arrays.stream(rows).mapToInt(r -> (int) r).toArray(),
                            base), device, rows.length, config.vocab()));
            return new Output(cpu.logits(x, lastRows(batch), base), null, scores);
        }
        Tensor x = hidden(batch, base, layers, bypass, cache);       // [t, hidden]
        Scoring.Result scores = scoring.rows().length == 0 ? Scoring.Result.NONE : score(scoring,
                rows -> torch.linear(rmsNorm(x.index_select(0, Tensors.newLongs(rows, device, rows.length)),
                        base.finalNorm()), base.lmHead()));
        Tensor logits = lastLogits(x, batch, base);                  // [logitRows, vocab] or null
        if (gpuPolicy) {
            return new Output(null, logits, scores);
        }
        return new Output(logits == null ? new float[0] : Tensors.toFloats(logits), null, scores);
    }

    private Tensor hidden(ForwardBatch batch, LlamaWeights base, List<LayerWeights> layers, Bypass bypass,
                          PagedKvCache cache) {
        ModelConfig c = config;
        int t = batch.size();
        Tensor ids = Tensors.newLongs(batch.tokens(), device, t);
        Tensor pos = Tensors.newLongs(batch.positions(), device, t);
        Tensor slots = Tensors.newLongs(slotMapping(batch, cache.blockSize()), device, t);
        Tensor cosT = cos.index_select(0, pos).unsqueeze(1);        // [t, 1, hd]
        Tensor sinT = sinSigned.index_select(0, pos).unsqueeze(1);  // [t, 1, hd]
        List<AttentionGroup> groups = AttentionGroup.plan(batch, cache.blockSize(), c.slidingWindow(), device);

        Tensor x = base.embed().index_select(0, ids);                // [t, hidden]
        PointerScope step = PointerScope.getInnerScope();            // the caller's: the pass's lifetime
        for (int l = 0; l < c.layers(); l++) {
            try (PointerScope layer = step == null ? null : new PointerScope()) {
                Tensor in = x;
                x = layer(l, layers.get(l), in, bypass, cache, slots, cosT, sinT, groups);
                if (layer != null) {  // the new residual outlives the layer, the old one and the temporaries do not
                    step.attach(x);
                    layer.detach(x);
                    step.detach(in);
                }
            }
        }
        return x;
    }

    /**
     * One decoder layer on the residual stream {@code x} [t, hidden]; returns the new residual.
     * Called inside a scope of its own, so the layer's temporaries (attention's gathered context
     * above all) are freed when it ends instead of piling up over every layer of the pass.
     */
    private Tensor layer(int l, LayerWeights w, Tensor x, Bypass bypass, PagedKvCache cache, Tensor slots,
                         Tensor cosT, Tensor sinT, List<AttentionGroup> groups) {
        ModelConfig c = config;
        int t = (int) x.size(0);
        int heads = c.heads();
        int kvHeads = c.kvHeads();
        int hd = c.headDim();
        Tensor h = rmsNorm(x, w.attnNorm());
        Tensor qkv = w.qkvBias() == null ? torch.linear(h, w.qkv()) : torch.linear(h, w.qkv(), w.qkvBias());
        bypass.apply(l, Fused.QKV, h, qkv);
        Tensor qk = qkv.narrow(1, 0, (long) (heads + kvHeads) * hd).reshape(t, heads + kvHeads, hd);
        if (w.qNorm() != null) {
            qk = headNorms(qk, w);
        }
        Tensor qkRot = rope(qk, cosT, sinT, hd);                  // [t, heads+kvHeads, hd]
        Tensor q = qkRot.narrow(1, 0, heads);                     // [t, heads, hd]
        Tensor k = qkRot.narrow(1, heads, kvHeads);               // [t, kvHeads, hd]
        Tensor v = qkv.narrow(1, (long) (heads + kvHeads) * hd, (long) kvHeads * hd)
                .reshape(t, kvHeads, hd);                         // [t, kvHeads, hd]
        cache.keys(l).index_copy_(0, slots, k);
        cache.values(l).index_copy_(0, slots, v);
        Tensor attn = attention(groups, q, cache.keys(l), cache.values(l), t);  // [t, heads*hd]
        Tensor o = torch.linear(attn, w.o());                     // [t, hidden]
        bypass.apply(l, Fused.O, attn, o);
        Tensor mid = x.add(o);                                    // [t, hidden]
        Tensor h2 = rmsNorm(mid, w.mlpNorm());
        Tensor gateUp = torch.linear(h2, w.gateUp());             // [t, 2*intermediate]
        bypass.apply(l, Fused.GATE_UP, h2, gateUp);
        Tensor act = torch.silu(gateUp.narrow(1, 0, c.intermediate()))
                .mul_(gateUp.narrow(1, c.intermediate(), c.intermediate()));  // [t, intermediate]
        Tensor down = torch.linear(act, w.down());                // [t, hidden]
        bypass.apply(l, Fused.DOWN, act, down);
        return mid.add(down);
    }

    /** The batch row of each span's last token, for the spans that want logits. */
    private static int[] lastRows(ForwardBatch batch) {
        int[] last = new int[batch.logitRows()];
        int r = 0;
        for (ForwardBatch.Span s : batch.seqs()) {
            if (s.logits()) {
                last[r++] = s.start() + s.count() - 1;
            }
        }
        return last;
    }

    /** [logitRows, vocab], or null when no span wants logits. */
    private Tensor lastLogits(Tensor x, ForwardBatch batch, LlamaWeights base) {
        int rows = batch.logitRows();
        if (rows == 0) {
            return null;
        }
        long[] last = Arrays.stream(lastRows(batch)).asLongStream().toArray();
        Tensor lastX = x.index_select(0, Tensors.newLongs(last, device, rows));
        return torch.linear(rmsNorm(lastX, base.finalNorm()), base.lmHead());  // [rows, vocab]
    }

    /**
     * Log-softmax of the scored rows' logits ({@code logitsOf} the pass's batch rows: [rows, vocab]),
     * read at their targets and at their top tokens. Each chunk's temporaries live in a scope of their own (step lifetime would keep every chunk's
     * {@code [rows, vocab]} tensors until the pass ends); only Java arrays leave a chunk.
     */
    @SuppressWarnings("try")  // the PointerScope owns the temporaries; the body need not name it
    private Scoring.Result score(Scoring scoring, Function<long[], Tensor> logitsOf) {
        int n = scoring.rows().length;
        int top = scoring.top();
        float[] logprobs = new float[n];
        float[] topLogprobs = new float[n * top];
        long[] topIds = new long[n * top];
        for (int from = 0; from < n; from += SCORE_CHUNK) {
            int rows = Math.min(SCORE_CHUNK, n - from);
            try (PointerScope chunk = new PointerScope()) {
                Tensor targets = Tensors.newLongs(Arrays.copyOfRange(scoring.targets(), from, from + rows), device,
                        rows, 1);
                Tensor logits = logitsOf.apply(Arrays.copyOfRange(scoring.rows(), from, from + rows));  // [rows, vocab]
                Tensor lp = logits.to(ScalarType.Float).log_softmax(1);              // [rows, vocab]
                System.arraycopy(Tensors.toFloats(lp.gather(1, targets)), 0, logprobs, from, rows);
                if (top > 0) {
                    T_TensorTensor_T best = lp.topk(top, 1, true, true);              // [rows, top] each
                    System.arraycopy(Tensors.toFloats(best.get0()), 0, topLogprobs, from * top, rows * top);
                    System.arraycopy(Tensors.toLongs(best.get1()), 0, topIds, from * top, rows * top);
                }
            }
        }
        return new Scoring.Result(logprobs, topLogprobs, topIds, top);
    }

    private Tensor rmsNorm(Tensor x, Tensor weight) {
        return torch.rms_norm(x, normShape, new TensorOptional(weight), new DoubleOptional(config.rmsNormEps()));
    }

    /** Qwen3's RMSNorm of each query head by {@code qNorm} and each key head by {@code kNorm}: [t, heads+kvHeads, hd]. */
    private Tensor headNorms(Tensor qk, LayerWeights w) {
        int heads = config.heads();
        DoubleOptional eps = new DoubleOptional(config.rmsNormEps());
        Tensor q = torch.rms_norm(qk.narrow(1, 0, heads), headShape, new TensorOptional(w.qNorm()), eps);
        Tensor k = torch.rms_norm(qk.narrow(1, heads, config.kvHeads()), headShape, new TensorOptional(w.kNorm()), eps);
        return torch.cat(new org.bytedeco.pytorch.TensorVector(q, k), 1);
    }

    /** x*cos + rotate_half(x)*sin, with rotate_half's sign folded into {@code sinSigned}. */
    private static Tensor rope(Tensor x, Tensor cos, Tensor sinSigned, int hd) {
        int half = hd / 2;
        Tensor swapped = torch.cat(new org.bytedeco.pytorch.TensorVector(
                x.narrow(2, half, half), x.narrow(2, 0, half)), 2);
        return x.mul(cos).add_(swapped.mul_(sinSigned));
    }

    private Tensor attention(List<AttentionGroup> groups, Tensor q, Tensor kPool, Tensor vPool, int t) {
        int heads = config.heads();
        int hd = config.headDim();
        Tensor out = groups.size() == 1 ? null : Tensors.newEmpty(dtype, device, t, (long) heads * hd);
        for (AttentionGroup g : groups) {
            Tensor qg = q.index_select(0, g.queryRows())
                    .view(g.seqs(), g.maxQuery(), heads, hd).transpose(1, 2);      // [seqs, heads, maxQ, hd]
            Tensor kg = perHead(kPool.index_select(0, g.contextSlots()), g);   // [seqs, heads, maxC, hd]
            Tensor vg = perHead(vPool.index_select(0, g.contextSlots()), g);
            Tensor og = torch.scaled_dot_product_attention(qg, kg, vg, new TensorOptional(g.mask()), 0.0, false,
                    new DoubleOptional(attnScale), gpuPolicy);                      // [seqs, heads, maxQ, hd]
            Tensor rows = og.transpose(1, 2).reshape(g.seqs() * g.maxQuery(), (long) heads * hd)
                    .index_select(0, g.validRows());                                // [tokensOfGroup, heads*hd]
            if (out == null) {
                return rows;  // one group holds every span in batch order
            }
            out.index_copy_(0, g.tokenRows(), rows);
        }
        return out;
    }

    /**
     * Gathered keys or values {@code [seqs*maxC, kvHeads, hd]} as {@code [seqs, heads, maxC, hd]},
     * each KV head repeated for its {@code heads/kvHeads} query heads (HF's {@code repeat_kv}: query
     * head h reads KV head {@code h / group}). Materialising the repeat and calling SDPA without
     * {@code enable_gqa} measured 2.7x faster on CPU at 32 sequences (0.62 vs 1.65 ms a layer). Under
     * the GPU policy the heads stay {@code [seqs, kvHeads, maxC, hd]} and SDPA's {@code enable_gqa}
     * reads each KV head for its group: on a device bound by memory traffic, the repeat would write
     * and read the gathered keys and values {@code group} times over.
     */
    private Tensor perHead(Tensor gathered, AttentionGroup g) {
        int kvHeads = config.kvHeads();
        int group = config.heads() / kvHeads;
        int hd = config.headDim();
        Tensor t = gathered.view(g.seqs(), g.maxContext(), kvHeads, hd);                      // [seqs, maxC, kvHeads, hd]
        if (group > 1 && !gpuPolicy) {
            t = t.unsqueeze(3).expand(g.seqs(), g.maxContext(), kvHeads, group, hd)
                    .reshape(g.seqs(), g.maxContext(), (long) kvHeads * group, hd);          // [seqs, maxC, heads, hd]
        }
        return t.transpose(1, 2);
    }

    private static long[] slotMapping(ForwardBatch batch, int blockSize) {
        long[] slots = new long[batch.size()];
        for (ForwardBatch.Span s : batch.seqs()) {
            for (int i = 0; i < s.count(); i++) {
                int p = (int) batch.positions()[s.start() + i];
                slots[s.start() + i] = PagedKvCache.slot(s.blockTable(), blockSize, p);
            }
        }
        return slots;
    }

    @Override
    public void close() {
        if (cpu != null) {
            cpu.close();
            return;
        }
        cos.close();
        sinSigned.close();
    }
}
