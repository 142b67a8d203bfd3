package io.loraserve.engine;

import java.util.List;
import java.util.Locale;

/**
 * Which errors leave the device unusable. After a CUDA error such as an illegal memory access or a
 * device-side assert the CUDA context is corrupt: every later call fails or, worse, returns
 * garbage, so the process must be restarted. Out-of-memory is not one of them: it fails one
 * allocation and the next step can run.
 */
final class DeviceFault {
    /** Phrases of libtorch's and CUDA's messages for sticky errors (c10::Error / cudaGetErrorString). */
    private static final List<String> FATAL = List.of("cuda error", "cublas_status_", "cudnn_status_",
            "cusolver_status_", "device-side assert", "illegal memory access", "illegal instruction",
            "unspecified launch failure", "misaligned address", "uncorrectable ecc error", "cuda driver error",
            "nccl error");

    private DeviceFault() {
    }

    /** Whether {@code e} (or a cause of it) says the device can no longer be used. */
    static boolean fatal(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            String m = t.getMessage() == null ? "" : t.getMessage().toLowerCase(Locale.ROOT);
            if (!m.contains("out of memory") && FATAL.stream().anyMatch(m::contains)) {
                return true;
            }
        }
        return false;
    }

    /** The first line of {@code e}'s message: libtorch appends a C++ backtrace after it. */
    static String summary(Throwable e) {
        String m = String.valueOf(e.getMessage());
        int eol = m.indexOf('\n');
        return eol < 0 ? m : m.substring(0, eol);
    }
}
