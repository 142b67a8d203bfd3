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
    /**
     * Phrases of CUDA's messages (cudaGetErrorString, as libtorch's c10::Error carries them) for the
     * sticky errors only. Errors that fail one call and leave the context usable (an allocation, an
     * unsupported or invalid cuBLAS/cuDNN call, a bad launch configuration) are not among them.
     */
    private static final List<String> FATAL = List.of("illegal memory access", "illegal address",
            "illegal instruction", "device-side assert", "unspecified launch failure", "misaligned address",
            "uncorrectable ecc error", "cublas_status_execution_failed");

    private DeviceFault() {
    }

    /** Whether {@code e} (or a cause of it) says the device can no longer be used. */
    static boolean fatal(Throwable e) {
        return cause(e) != null;
    }

    /** The throwable in {@code e}'s cause chain whose message names a sticky error, or null. */
    static Throwable cause(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause() == t ? null : t.getCause()) {
            String m = t.getMessage() == null ? "" : t.getMessage().toLowerCase(Locale.ROOT);
            if (!m.contains("out of memory") && FATAL.stream().anyMatch(m::contains)) {
                return t;
            }
        }
        return null;
    }

    /** The first line of {@code e}'s message: libtorch appends a C++ backtrace after it. */
    static String summary(Throwable e) {
        String m = String.valueOf(e.getMessage());
        int eol = m.indexOf('\n');
        return eol < 0 ? m : m.substring(0, eol);
    }
}
