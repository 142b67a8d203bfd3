package io.loraserve.lora;

import io.loraserve.model.LayerWeights;
import io.loraserve.model.LlamaWeights;
import io.loraserve.model.ModelConfig;
import io.loraserve.model.Proj;
import io.loraserve.model.Quantization;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.Scalar;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A pinned adapter's merged copy {@code W' = W0 + scale·B·A} of exactly the matrices it targets;
 * every other matrix is the base's own tensor, shared. The base is never modified. Lifetime:
 * from pin to unpin (or unload); built and closed on the engine thread.
 */
public final class MergedWeights implements AutoCloseable {
    private final List<LayerWeights> layers;
    private final List<Tensor> owned = new ArrayList<>();

    private MergedWeights(List<LayerWeights> layers) {
        this.layers = layers;
    }

    /**
     * Merges {@code w} into copies of the matrices it targets, held in {@code dtype}: the dtype the
     * model computes in ({@code LlamaModel.cacheDtype()}), so that a pinned adapter gives what its
     * unmerged bypass gives. On the Java kernels a bfloat16 base thus gets float32 merged copies:
     * rounding {@code W0 + scale·B·A} to bfloat16 would move results by bfloat16's precision. Likewise
     * an int8 base merges into float32 copies of its dequantized weights, never requantized.
     */
    public static MergedWeights build(ModelConfig c, LlamaWeights base, AdapterWeights w, ScalarType dtype) {
        List<LayerWeights> layers = new ArrayList<>();
        MergedWeights merged = new MergedWeights(layers);
        for (int l = 0; l < c.layers(); l++) {
            LayerWeights b = base.layers().get(l);
            layers.add(new LayerWeights(b.attnNorm(),
                    merged.merge(c, b, w, dtype, l, Proj.Q, Proj.K, Proj.V),
                    b.qkvBias(),
                    b.qNorm(),
                    b.kNorm(),
                    merged.merge(c, b, w, dtype, l, Proj.O),
                    b.mlpNorm(),
                    merged.merge(c, b, w, dtype, l, Proj.GATE, Proj.UP),
                    merged.merge(c, b, w, dtype, l, Proj.DOWN)));
        }
        return merged;
    }

    /** The fused matrix holding {@code projs}: a merged copy if any is targeted, else the base's. */
    @SuppressWarnings("try")  // the PointerScope owns the temporaries; the body need not name it
    private Tensor merge(ModelConfig c, LayerWeights base, AdapterWeights w, ScalarType dtype, int layer,
                         Proj... projs) {
        Tensor baseMatrix = base.matrixOf(projs[0]);
        boolean any = false;
        for (Proj p : projs) {
            any |= w.a(layer, p) != null;
        }
        if (!any) {
            return baseMatrix;
        }
        Tensor copy = Quantization.quantized(baseMatrix) ? Quantization.newDequantized(baseMatrix)  // float32: int8 runs on the java kernels
                : baseMatrix.scalar_type().intern() == dtype ? baseMatrix.clone()
                : baseMatrix.to(dtype);  // lifetime: this MergedWeights
        owned.add(copy);
        try (PointerScope scope = new PointerScope()) {
            for (Proj p : projs) {
                if (w.a(layer, p) == null) {
                    continue;
                }
                Tensor rows = copy.narrow(0, LayerWeights.rowOffset(c, p), c.outFeatures(p));  // [out, in]
                // A and B go to the device (rank-sized); the [out, in] product is formed there, in one addmm_
                Tensor a = w.a(layer, p).to(rows.device(), rows.scalar_type());  // [rank, in]
                Tensor b = w.b(layer, p).to(rows.device(), rows.scalar_type());  // [out, rank]
                rows.addmm_(b, a, new Scalar(1.0), new Scalar(w.scale(layer, p)));
            }
        }
        return copy;
    }

    public List<LayerWeights> layers() {
        return layers;
    }

    @Override
    public void close() {
        owned.forEach(Tensor::close);
        owned.clear();
    }
}
