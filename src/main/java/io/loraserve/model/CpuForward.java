package io.loraserve.model;

import io.loraserve.kernel.Int8;
import io.loraserve.kernel.MatMul;
import io.loraserve.kernel.Matrix;
import io.loraserve.kernel.PagedAttention;
import io.loraserve.kernel.Parallel;
import io.loraserve.kernel.VectorOps;
import io.loraserve.tensor.Tensors;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * {@link LlamaModel}'s forward on the CPU kernels ({@link Kernels#JAVA}): the same steps as the
 * libtorch path, computed by Java Vector API code that reads the weights (float32, bfloat16 or int8) and
 * the KV pool (float32) where libtorch keeps them, with activations in float32 Java arrays. No
 * native call runs during a pass.
 *
 * <p>Why: on a CPU a decode step is ~25 small libtorch ops a layer at ~3 µs of dispatch each, plus
 * OpenBLAS matrix-vector products that read weights at 3–6 GB/s; here a pass is ~5 forks a layer
 * and the products stream weights at memory speed.
 *
 * <p>Owns the kernel threads (lifetime: process). Holds views of the weights and KV pool it was
 * given (they own their memory and outlive every pass). Engine thread only.
 */
final class CpuForward implements AutoCloseable {
    private final ModelConfig config;
    private final Parallel pool;
    private final PagedAttention attention;
    private final float[] cos;  // [maxPositions, headDim/2]
    private final float[] sin;  // [maxPositions, headDim/2]
    private LlamaWeights base;
    private BaseView baseView;
    private PagedKvCache cache;
    private MemorySegment[] keys;    // per layer [slots, kvHeads, headDim]
    private MemorySegment[] values;  // per layer [slots, kvHeads, headDim]
    private List<LayerWeights> otherLayers;  // the last non-base layers seen (a pinned adapter's merged copy)
    private LayerView[] otherViews;

    /** Views of the base weights; the norm as float32 ({@link #floats}), the matrices read in place. */
    private record BaseView(Matrix embed, MemorySegment finalNorm, Matrix lmHead, LayerView[] layers) {
    }

    /** Views of one layer's weights; norms and bias as float32 ({@link #floats}). */
    private record LayerView(MemorySegment attnNorm, Matrix qkv, MemorySegment qkvBias, MemorySegment qNorm,
                             MemorySegment kNorm, Matrix o, MemorySegment mlpNorm, Matrix gateUp, Matrix down) {
        static LayerView of(LayerWeights w) {
            return new LayerView(floats(w.attnNorm()), matrix(w.qkv()), orNull(w.qkvBias()),
                    orNull(w.qNorm()), orNull(w.kNorm()), matrix(w.o()),
                    floats(w.mlpNorm()), matrix(w.gateUp()), matrix(w.down()));
        }

        private static MemorySegment orNull(Tensor t) {
            return t == null ? null : floats(t);
        }
    }

    /** A view of a 2-d CPU weight tensor, float32, bfloat16 or quantized ({@link Quantization#INT8}). */
    static Matrix matrix(Tensor t) {
        ScalarType type = t.scalar_type().intern();  // JavaCPP returns a copy of the constant
        if (Quantization.quantized(t)) {
            return new Matrix(Tensors.memory(t), (int) t.size(0), Int8.cols(t.size(1)), Matrix.Precision.INT8);
        }
        if (type != ScalarType.Float && type != ScalarType.BFloat16) {
            throw new IllegalArgumentException("the java kernels read float32, bfloat16 or int8 weights, not " + type);
        }
        Matrix.Precision precision = type == ScalarType.Float ? Matrix.Precision.FLOAT32 : Matrix.Precision.BFLOAT16;
        return new Matrix(Tensors.memory(t), (int) t.size(0), (int) t.size(1), precision);
    }

    /**
     * A small tensor's values as float32 in native memory: the tensor's own when it is float32, else
     * a copy (lifetime: the view holding it; an automatic arena frees it with the view). Never a heap
     * segment: the Vector API's memory loads profile the segment kind, and heap norms beside native
     * weights made every product's loads polymorphic (16-row decode 355-370 -> 211-245 tok/s).
     */
    private static MemorySegment floats(Tensor t) {
        if (t.scalar_type().intern() == ScalarType.Float) {
            return Tensors.memory(t);
        }
        float[] values = Tensors.toFloats(t);
        MemorySegment copy = Arena.ofAuto().allocate((long) values.length * Float.BYTES, 64);
        MemorySegment.copy(values, 0, copy, ValueLayout.JAVA_FLOAT_UNALIGNED, 0, values.length);
        return copy;
    }

    CpuForward(ModelConfig config, float[][] rotary, int threads, double attnScale) {
        this.config = config;
        this.pool = new Parallel(threads);
        this.attention = new PagedAttention(config.heads(), config.kvHeads(), config.headDim(), attnScale);
        this.cos = rotary[0];
        this.sin = rotary[1];
    }

    /**
     * Runs the decoder layers and writes this pass's K/V into {@code cache}.
     *
     * @return the hidden states [tokens, hidden] after the last layer
     */
    float[] hidden(ForwardBatch batch, LlamaWeights base, List<LayerWeights> layers, Bypass bypass,
                   PagedKvCache cache) {
        ModelConfig c = config;
        BaseView bv = baseView(base);
        LayerView[] views = layers == base.layers() ? bv.layers() : views(layers);
        MemorySegment[][] kv = kvViews(cache);
        int t = batch.size();
        int hidden = c.hidden();
        int hd = c.headDim();
        int qWidth = c.heads() * hd;
        int kvWidth = c.kvHeads() * hd;
        int qkvWidth = qWidth + 2 * kvWidth;
        int inter = c.intermediate();
        int[] slots = new int[t];
        int[][] context = new int[t][];
        int[] visible = new int[t];
        plan(batch, cache.blockSize(), c.slidingWindow(), slots, context, visible);

        float[] x = new float[t * hidden];         // [t, hidden] residual stream
        for (int i = 0; i < t; i++) {
            bv.embed().row((int) batch.tokens()[i], x, i * hidden);
        }
        float[] h = new float[t * hidden];         // [t, hidden] normed input of a block
        float[] qkv = new float[t * qkvWidth];     // [t, qkvWidth]
        float[] attn = new float[t * qWidth];      // [t, heads*headDim]
        float[] out = new float[t * hidden];       // [t, hidden] o and down outputs
        float[] gateUp = new float[t * 2 * inter]; // [t, 2*intermediate]
        float[] act = new float[t * inter];        // [t, intermediate]
        for (int l = 0; l < c.layers(); l++) {
            LayerView w = views[l];
            VectorOps.rmsNorm(x, t, hidden, w.attnNorm(), c.rmsNormEps(), h);
            MatMul.linear(pool, h, t, w.qkv(), qkv);
            if (w.qkvBias() != null) {
                VectorOps.addRows(qkv, t, qkvWidth, w.qkvBias());
            }
            bypass.apply(l, Fused.QKV, h, qkv, pool);
            if (w.qNorm() != null) {
                VectorOps.rmsNormHeads(qkv, t, qkvWidth, 0, c.heads(), hd, w.qNorm(), c.rmsNormEps());
                VectorOps.rmsNormHeads(qkv, t, qkvWidth, qWidth, c.kvHeads(), hd, w.kNorm(), c.rmsNormEps());
            }
            VectorOps.rope(qkv, t, qkvWidth, 0, c.heads(), hd, batch.positions(), cos, sin);
            VectorOps.rope(qkv, t, qkvWidth, qWidth, c.kvHeads(), hd, batch.positions(), cos, sin);
            for (int i = 0; i < t; i++) {
                long at = (long) slots[i] * kvWidth * Float.BYTES;
                MemorySegment.copy(qkv, i * qkvWidth + qWidth, kv[0][l], ValueLayout.JAVA_FLOAT_UNALIGNED, at, kvWidth);
                MemorySegment.copy(qkv, i * qkvWidth + qWidth + kvWidth, kv[1][l], ValueLayout.JAVA_FLOAT_UNALIGNED,
                        at, kvWidth);
            }
            attention.attend(pool, qkv, qkvWidth, t, kv[0][l], kv[1][l], context, visible, attn);
            MatMul.linear(pool, attn, t, w.o(), out);
            bypass.apply(l, Fused.O, attn, out, pool);
            VectorOps.addInPlace(x, out, t * hidden);
            VectorOps.rmsNorm(x, t, hidden, w.mlpNorm(), c.rmsNormEps(), h);
            MatMul.linear(pool, h, t, w.gateUp(), gateUp);
            bypass.apply(l, Fused.GATE_UP, h, gateUp, pool);
            VectorOps.swiglu(gateUp, t, inter, act);
            MatMul.linear(pool, act, t, w.down(), out);
            bypass.apply(l, Fused.DOWN, act, out, pool);
            VectorOps.addInPlace(x, out, t * hidden);
        }
        return x;
    }

    /**
     * The logits of the given rows of {@code x}: final norm, then the LM head.
     *
     * @return [rows.length, vocab]
     */
    float[] logits(float[] x, int[] rows, LlamaWeights base) {
        BaseView bv = baseView(base);
        int hidden = config.hidden();
        float[] picked = new float[rows.length * hidden];
        for (int r = 0; r < rows.length; r++) {
            System.arraycopy(x, rows[r] * hidden, picked, r * hidden, hidden);
        }
        VectorOps.rmsNorm(picked, rows.length, hidden, bv.finalNorm(), config.rmsNormEps(), picked);
        float[] logits = new float[rows.length * config.vocab()];
        MatMul.linear(pool, picked, rows.length, bv.lmHead(), logits);
        return logits;
    }

    /**
     * Per token: its KV slot, the slots of the positions it attends, and how many of them it sees (the
     * first {@code visible} of {@code context}). Without a sliding window a sequence's tokens share one
     * context array; past the window a token gets the slots of its last {@code slidingWindow} positions.
     */
    private static void plan(ForwardBatch batch, int blockSize, int slidingWindow, int[] slots, int[][] context,
                             int[] visible) {
        for (ForwardBatch.Span s : batch.seqs()) {
            int[] ctx = new int[s.contextLen()];
            for (int p = 0; p < ctx.length; p++) {
                ctx[p] = PagedKvCache.slot(s.blockTable(), blockSize, p);
            }
            for (int i = 0; i < s.count(); i++) {
                int row = s.start() + i;
                int position = (int) batch.positions()[row];
                int first = slidingWindow == 0 ? 0 : Math.max(0, position - slidingWindow + 1);
                slots[row] = ctx[position];
                context[row] = first == 0 ? ctx : Arrays.copyOfRange(ctx, first, position + 1);
                visible[row] = position + 1 - first;
            }
        }
    }

    private BaseView baseView(LlamaWeights weights) {
        if (weights != base) {
            LayerView[] layers = weights.layers().stream().map(LayerView::of).toArray(LayerView[]::new);
            baseView = new BaseView(matrix(weights.embed()), floats(weights.finalNorm()),
                    matrix(weights.lmHead()), layers);
            base = weights;
        }
        return baseView;
    }

    private LayerView[] views(List<LayerWeights> layers) {
        if (layers != otherLayers) {
            otherViews = layers.stream().map(LayerView::of).toArray(LayerView[]::new);
            otherLayers = layers;
        }
        return otherViews;
    }

    private MemorySegment[][] kvViews(PagedKvCache kv) {
        if (kv != cache) {
            int n = config.layers();
            keys = new MemorySegment[n];
            values = new MemorySegment[n];
            for (int l = 0; l < n; l++) {
                Tensor k = kv.keys(l);
                Tensor v = kv.values(l);
                if (k.scalar_type().intern() != ScalarType.Float || v.scalar_type().intern() != ScalarType.Float) {
                    throw new IllegalArgumentException("the java kernels keep the KV cache in float32, not "
                            + k.scalar_type());
                }
                keys[l] = Tensors.memory(k);
                values[l] = Tensors.memory(v);
            }
            cache = kv;
        }
        return new MemorySegment[][] {keys, values};
    }

    @Override
    public void close() {
        pool.close();
    }
}
