package io.loraserve.model;

import io.loraserve.kernel.Int8;
import io.loraserve.tensor.Tensors;
import java.util.Locale;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * How the base model's layer matrices and LM head are stored ({@code --quantization}). The
 * embedding table, norms and biases stay in the load dtype; adapters, the KV cache and a pinned
 * adapter's merged copies are not quantized.
 */
public enum Quantization {
    /** As loaded. */
    NONE,
    /**
     * Weight-only int8 with a float32 scale per 32 weights ({@link Int8}; llama.cpp's Q8_0 with a
     * wider scale): a quarter of float32's bytes, computed in float32 by the Java kernels. A
     * quantized matrix is an int8 tensor {@code [rows, Int8.rowBytes(cols)]} in {@link Int8}'s
     * layout, which only the Java kernels read.
     */
    INT8;

    /** {@code none} or {@code int8}. */
    public static Quantization parse(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "none" -> NONE;
            case "int8" -> INT8;
            default -> throw new IllegalArgumentException("--quantization must be none or int8, not " + name);
        };
    }

    /** Why this cannot run on {@code kernels}, or null when it can. */
    public String refusal(Kernels kernels) {
        return this == INT8 && kernels != Kernels.JAVA
                ? "--quantization int8 runs on the java kernels only (a CPU with the Vector API)" : null;
    }

    /**
     * {@code w} [rows, cols] stored this way: {@code w} itself, or a new quantized tensor (and
     * {@code w} closed). A matrix whose width is not a multiple of {@link Int8#BLOCK} stays as loaded
     * (as llama.cpp keeps such tensors out of Q8_0). The caller owns the result.
     */
    Tensor store(Tensor w) {
        int rows = (int) w.size(0);
        int cols = (int) w.size(1);
        if (this == NONE || cols % Int8.BLOCK != 0) {
            return w;
        }
        Tensor f32 = w.scalar_type().intern() == ScalarType.Float ? w : w.to(ScalarType.Float);
        Tensor q = Tensors.newEmpty(ScalarType.Char, w.device(), rows, Int8.rowBytes(cols));  // lifetime: the caller's
        Int8.quantize(Tensors.memory(f32), rows, cols, Tensors.memory(q));
        if (f32 != w) {
            f32.close();
        }
        w.close();
        return q;
    }

    /** Whether {@code t} is a matrix this class quantized. */
    public static boolean quantized(Tensor t) {
        return t.scalar_type().intern() == ScalarType.Char;
    }

    /**
     * A new float32 {@code [rows, cols]} copy of a quantized matrix's values (the weights the kernels
     * compute with). The caller owns it.
     */
    public static Tensor newDequantized(Tensor q) {
        int rows = (int) q.size(0);
        int cols = Int8.cols(q.size(1));
        Tensor out = Tensors.newEmpty(ScalarType.Float, q.device(), rows, cols);
        Int8.dequantize(Tensors.memory(q), 0, rows, cols, Tensors.memory(out));
        return out;
    }
}
