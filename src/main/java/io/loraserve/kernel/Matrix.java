package io.loraserve.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A row-major {@code [rows, cols]} weight matrix in native memory (a libtorch tensor's storage) as
 * the kernels read it: float32 or bfloat16 elements, little-endian. A view: whoever owns the
 * memory keeps it alive while the view is used.
 */
public record Matrix(MemorySegment memory, int rows, int cols, Precision precision) {

    /** How the elements are stored. The kernels compute in float32 either way. */
    public enum Precision {
        FLOAT32(Float.BYTES),
        /** The upper 16 bits of a float32: widened exactly by a 16-bit shift. */
        BFLOAT16(2);

        final int bytes;

        Precision(int bytes) {
            this.bytes = bytes;
        }
    }

    public Matrix {
        if (memory.byteSize() < (long) rows * cols * precision.bytes) {
            throw new IllegalArgumentException("a " + rows + "x" + cols + " " + precision + " matrix needs "
                    + (long) rows * cols * precision.bytes + " bytes, the memory holds " + memory.byteSize());
        }
    }

    /** Copies row {@code r} as float32 into {@code out[at, at + cols)}. */
    public void row(int r, float[] out, int at) {
        long from = (long) r * cols;
        if (precision == Precision.FLOAT32) {
            MemorySegment.copy(memory, ValueLayout.JAVA_FLOAT_UNALIGNED, from * Float.BYTES, out, at, cols);
            return;
        }
        for (int i = 0; i < cols; i++) {
            out[at + i] = Bf16.widen(memory.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, from + i));
        }
    }

    /** Bytes the elements take. */
    public long bytes() {
        return (long) rows * cols * precision.bytes;
    }
}
