package io.loraserve.model;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Who computes a forward pass: libtorch ops, or the Java Vector API kernels of {@link CpuForward}. */
public enum Kernels {
    /** libtorch: every device and dtype; the path a GPU takes. */
    TORCH,
    /**
     * Java Vector API kernels: CPU only, float32 or bfloat16 weights (computed in float32, KV cache
     * in float32), and the JVM must have {@code jdk.incubator.vector}.
     */
    JAVA;

    private static final boolean VECTOR_API = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();

    /** The faster one that can run {@code dtype} on {@code device}: the Java kernels wherever they can. */
    public static Kernels auto(ScalarType dtype, Device device) {
        return supports(dtype, device) && vectorApi() ? JAVA : TORCH;
    }

    /** Why {@code this} cannot run {@code dtype} on {@code device}, or null when it can. */
    public String refusal(ScalarType dtype, Device device) {
        if (this == TORCH) {
            return null;
        }
        if (!supports(dtype, device)) {
            return "the java kernels run float32 or bfloat16 on the CPU only";
        }
        return vectorApi() ? null
                : "the java kernels need the JVM flag --add-modules jdk.incubator.vector (the launcher passes it)";
    }

    private static boolean supports(ScalarType dtype, Device device) {
        return device.is_cpu() && (dtype == ScalarType.Float || dtype == ScalarType.BFloat16);
    }

    /** Whether this JVM has the Vector API module, so classes of {@code io.loraserve.kernel} may load. */
    public static boolean vectorApi() {
        return VECTOR_API;
    }
}
