package io.loraserve.engine;

import java.util.Map;

/**
 * What some consecutive engine steps asked of libtorch ({@link io.loraserve.tensor.OpCounter}): top-level
 * native ops and how many of them only made views, host syncs and the bytes those syncs moved, and the
 * ops by name.
 */
public record StepCounts(long steps, long ops, long views, long syncs, long syncBytes, Map<String, Long> byName) {
    public double opsPerStep() {
        return (double) ops / steps;
    }

    /** Ops a step that compute (launch a kernel on a GPU): all but the views. */
    public double kernelOpsPerStep() {
        return (double) (ops - views) / steps;
    }

    public double syncsPerStep() {
        return (double) syncs / steps;
    }

    public double syncBytesPerStep() {
        return (double) syncBytes / steps;
    }
}
