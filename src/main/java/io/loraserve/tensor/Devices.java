package io.loraserve.tensor;

import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Parses the user's {@code --device} and {@code --dtype} settings into libtorch values.
 * The same code runs on {@code cpu} and {@code cuda:N}; only this choice differs.
 */
public final class Devices {
    private Devices() {
    }

    /** {@code cpu}, {@code cuda} or {@code cuda:N}; anything else is an {@link IllegalArgumentException}. */
    public static Device parse(String spec) {
        if (spec.equals("cpu")) {
            return new Device(torch.DeviceType.CPU);
        }
        if (spec.equals("cuda") || spec.matches("cuda:\\d{1,2}")) {
            if (!torch.cuda_is_available()) {
                throw new IllegalArgumentException("--device " + spec + ": CUDA is not available"
                        + " (build with -Pgpu on a machine with an NVIDIA GPU)");
            }
            byte index = spec.equals("cuda") ? 0 : Byte.parseByte(spec.substring(5));
            if (index >= torch.cuda_device_count()) {
                throw new IllegalArgumentException("--device " + spec + ": only "
                        + torch.cuda_device_count() + " CUDA device(s)");
            }
            return new Device(torch.DeviceType.CUDA, index);
        }
        throw new IllegalArgumentException("--device must be cpu, cuda or cuda:N, not '" + spec + "'");
    }

    /**
     * {@code --dtype}, with {@code auto} resolved for {@code device}: float32 on a CPU (exact against
     * the float32 references), bfloat16 on CUDA (tensor cores, half the memory). GPUs before Ampere
     * have no fast bfloat16: pass {@code float16} there.
     */
    public static ScalarType parseDtype(String name, Device device) {
        if (name.equals("auto")) {
            return device.is_cuda() ? ScalarType.BFloat16 : ScalarType.Float;
        }
        return parseDtype(name);
    }

    /** {@code float32}, {@code bfloat16} or {@code float16} ({@code auto} needs the device: see above). */
    public static ScalarType parseDtype(String name) {
        return switch (name) {
            case "float32", "float" -> ScalarType.Float;
            case "bfloat16" -> ScalarType.BFloat16;
            case "float16", "half" -> ScalarType.Half;
            default -> throw new IllegalArgumentException(
                    "--dtype must be auto, float32, bfloat16 or float16, not '" + name + "'");
        };
    }

    public static String dtypeName(ScalarType type) {
        return switch (type.intern()) {  // JavaCPP may hand out a copy of the constant
            case Float -> "float32";
            case BFloat16 -> "bfloat16";
            case Half -> "float16";
            default -> type.name();
        };
    }
}
