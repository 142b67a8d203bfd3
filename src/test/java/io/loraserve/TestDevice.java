package io.loraserve;

import io.loraserve.model.Kernels;
import io.loraserve.tensor.Devices;
import java.util.List;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Where the tests that load a model run: {@code -Dloraserve.test.device} (default {@code cpu}) and,
 * for servers and engines the tests start, {@code -Dloraserve.test.dtype} (default
 * {@code float32}). The reference tests thus run unchanged on a GPU ({@code ./loraserve gpu-check}
 * passes {@code cuda}). Tests of the Java kernels themselves, which run on a CPU only, stay there.
 */
public final class TestDevice {
    /** The device spec, as {@code --device} takes it. */
    public static final String NAME = System.getProperty("loraserve.test.device", "cpu");
    /** The dtype name, as {@code --dtype} takes it. */
    public static final String DTYPE = System.getProperty("loraserve.test.dtype", "float32");

    private TestDevice() {
    }

    public static Device device() {
        return Devices.parse(NAME);
    }

    public static ScalarType dtype() {
        return Devices.parseDtype(DTYPE);
    }

    /** The kernels that can run the test device and dtype: both where the Java kernels can, else libtorch's. */
    public static List<Kernels> kernels() {
        return Kernels.JAVA.refusal(dtype(), device()) == null ? List.of(Kernels.JAVA, Kernels.TORCH)
                : List.of(Kernels.TORCH);
    }

    /** Whether {@code kernels} can run on the test device. */
    public static boolean runs(Kernels kernels) {
        return kernels().contains(kernels);
    }

    /** The server flags that put a server on the test device and dtype. */
    public static List<String> serverArgs() {
        return List.of("--device", NAME, "--dtype", DTYPE);
    }
}
