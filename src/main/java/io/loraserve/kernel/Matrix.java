package io.loraserve.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A row-major {@code [rows, cols]} weight matrix in native memory (a libtorch tensor's storage) as
 * the kernels read it: float32 or bfloat16 elements, little-endian, or int8 blocks with their
 * scales ({@link Int8}'s layout). A view: whoever owns the
 * memory keeps it alive while the view is used.
 */
public record Matrix(MemorySegment memory, int rows, int cols, Precision precision) {

    /** How the elements are stored. The kernels compute in float32 either way. */
    public enum Precision {
        FLOAT32,
        /** The upper 16 bits of a float32: widened exactly by a 16-bit shift. */
        BFLOAT16,
        /** {@link Int8}: int8 values with a float32 scale a block, dequantized as read. */
        INT8;

        /** Bytes a row of {@code cols} elements takes. */
        public long rowBytes(int cols) {
            return switch (this) {
                case FLOAT32 -> (long) cols * Float.BYTES;
                case BFLOAT16 -> (long) cols * 2;
                case INT8 -> Int8.rowBytes(cols);
            };
        }
    }

    public Matrix {
        if (precision == Precision.INT8 && cols % Int8.BLOCK != 0) {
            throw new IllegalArgumentException("an int8 matrix needs a width divisible by " + Int8.BLOCK + ", not " + cols);
        }
        if (memory.byteSize() < rows * precision.rowBytes(cols)) {
            throw new IllegalArgumentException("a " + rows + "x" + cols + " " + precision + " matrix needs "
                    + rows * precision.rowBytes(cols) + " bytes, the memory holds " + memory.byteSize());
        }
    }

    /** Copies row {@code r} as float32 into {@code out[at, at + cols)}. */
    public void row(int r, float[] out, int at) {
        long from = (long) r * cols;
        if (precision == Precision.FLOAT32) {
            MemorySegment.copy(memory, ValueLayout.JAVA_FLOAT_UNALIGNED, from * Float.BYTES, out, at, cols);
            return;
        }
        if (precision == Precision.INT8) {
            long stride = Int8.rowBytes(cols);
            for (int i = 0; i < cols; i++) {
                float scale = memory.get(ValueLayout.JAVA_FLOAT_UNALIGNED, r * stride + cols + (long) (i / Int8.BLOCK) * Float.BYTES);
                out[at + i] = memory.get(ValueLayout.JAVA_BYTE, r * stride + i) * scale;
            }
            return;
        }
        for (int i = 0; i < cols; i++) {
            out[at + i] = Bf16.widen(memory.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, from + i));
        }
    }

    /** Bytes the elements take. */
    public long bytes() {
        return rows * precision.rowBytes(cols);
    }
}
