package io.loraserve.tensor;

import java.lang.foreign.MemorySegment;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Java arrays in and out of libtorch. Every {@code new…} method returns a tensor the caller
 * owns; call them inside a step's {@code PointerScope} for step-lifetime data.
 */
public final class Tensors {
    /**
     * Uploads staged through pinned memory at most: libtorch's pinned-memory allocator keeps what it
     * pins for the process (rounded up to powers of two), so large one-off uploads (rotary tables,
     * long prefills' masks) are copied synchronously from pageable memory instead.
     */
    private static final long PINNED_UPLOAD_BYTES = 1 << 20;

    private Tensors() {
    }

    public static TensorOptions options(ScalarType dtype, Device device) {
        return new TensorOptions(dtype).device(new DeviceOptional(device));
    }

    /** An uninitialised tensor of {@code shape}. */
    public static Tensor newEmpty(ScalarType dtype, Device device, long... shape) {
        return torch.empty(shape, options(dtype, device), new MemoryFormatOptional());
    }

    /** A copy of {@code values} as an int64 tensor of {@code shape} on {@code device}. */
    public static Tensor newLongs(long[] values, Device device, long... shape) {
        try (LongPointer p = new LongPointer(values);
             Tensor view = torch.from_blob(p, shape, new TensorOptions(ScalarType.Long))) {
            return copyTo(view, device);
        }
    }

    /** A copy of {@code values} as a float32 tensor of {@code shape} on {@code device}. */
    public static Tensor newFloats(float[] values, Device device, long... shape) {
        try (FloatPointer p = new FloatPointer(values);
             Tensor view = torch.from_blob(p, shape, new TensorOptions(ScalarType.Float))) {
            return copyTo(view, device);
        }
    }

    /** A copy of {@code values} as a float64 tensor of {@code shape} on {@code device}. */
    public static Tensor newDoubles(double[] values, Device device, long... shape) {
        try (DoublePointer p = new DoublePointer(values);
             Tensor view = torch.from_blob(p, shape, new TensorOptions(ScalarType.Double))) {
            return copyTo(view, device);
        }
    }

    /** A copy of {@code values} as a bool tensor of {@code shape} on {@code device}. */
    public static Tensor newBools(boolean[] values, Device device, long... shape) {
        byte[] bytes = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            bytes[i] = (byte) (values[i] ? 1 : 0);
        }
        try (BytePointer p = new BytePointer(bytes);
             Tensor view = torch.from_blob(p, shape, new TensorOptions(ScalarType.Bool))) {
            return copyTo(view, device);
        }
    }

    /** The values of a float tensor (any device, any float dtype) as a Java array: a host sync ({@link OpCounter}). */
    public static float[] toFloats(Tensor t) {
        OpCounter.hostSync(t.numel() * Float.BYTES);
        try (Tensor host = onHost(t, ScalarType.Float)) {
            float[] out = new float[(int) host.numel()];
            host.data_ptr_float().get(out);
            return out;
        }
    }

    /** The values of an integer tensor (any device) as a Java array: a host sync ({@link OpCounter}). */
    public static long[] toLongs(Tensor t) {
        OpCounter.hostSync(t.numel() * Long.BYTES);
        try (Tensor host = onHost(t, ScalarType.Long)) {
            long[] out = new long[(int) host.numel()];
            host.data_ptr_long().get(out);
            return out;
        }
    }

    /** A contiguous CPU copy of {@code t} in {@code type}; the caller closes it. */
    private static Tensor onHost(Tensor t, ScalarType type) {
        try (Tensor cpu = t.to(new Device(torch.DeviceType.CPU), type, false, false, new MemoryFormatOptional())) {
            return cpu.contiguous();  // its own reference: valid after cpu is closed
        }
    }

    /**
     * The storage of a contiguous CPU tensor as a memory segment, for the CPU kernels. A view: it
     * owns nothing and is valid while {@code t} lives; refuses anything else it could misread.
     */
    public static MemorySegment memory(Tensor t) {
        if (!t.device().is_cpu() || !t.is_contiguous()) {
            throw new IllegalArgumentException("only a contiguous CPU tensor has host memory to view");
        }
        return MemorySegment.ofAddress(t.data_ptr().address()).reinterpret(t.numel() * t.element_size());
    }

    /**
     * A copy of the host tensor {@code view} on {@code device}. To a GPU a small one is staged in
     * pinned host memory and copied asynchronously, so the host does not wait for the device at every small
     * upload of a step (block tables, slot mappings, index tensors): the ops that read it queue
     * behind the copy on the stream, and libtorch's pinned-memory allocator keeps the staging block
     * until the copy has run, though its handle is closed here. A larger one waits for its copy: a
     * host sync, counted as one on a CPU too ({@link OpCounter}).
     */
    private static Tensor copyTo(Tensor view, Device device) {
        long bytes = view.numel() * view.element_size();
        if (bytes > PINNED_UPLOAD_BYTES) {
            OpCounter.hostSync(bytes);
        }
        if (device.is_cpu() || bytes > PINNED_UPLOAD_BYTES) {
            return view.to(device, view.scalar_type(), false, true, new MemoryFormatOptional());
        }
        try (TensorOptions host = new TensorOptions(view.scalar_type());
             TensorOptions pinned = host.pinned_memory(new BoolOptional(true));
             Tensor staging = torch.empty(view.sizes().vec().get(), pinned, new MemoryFormatOptional())) {
            staging.copy_(view);
            return staging.to(device, view.scalar_type(), true, false, new MemoryFormatOptional());
        }
    }
}
