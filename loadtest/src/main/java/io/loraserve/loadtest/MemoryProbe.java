package io.loraserve.loadtest;

import io.loraserve.kernel.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * This machine's memory read bandwidth as the CPU kernels can use it: every thread sums its share of
 * a native buffer far larger than the caches with the Vector API, as the decode-shaped products read
 * weights. The best of several passes, in bytes per second.
 */
final class MemoryProbe {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final long BYTES = 1L << 30;
    private static final int CHUNKS = 64;

    private MemoryProbe() {
    }

    static double bytesPerSecond(int threads, int passes) {
        double best = 0;
        try (Arena arena = Arena.ofShared(); Parallel pool = new Parallel(threads)) {
            MemorySegment buffer = arena.allocate(BYTES, 4096);  // zeroed, so every page is resident
            float[] sums = new float[CHUNKS];
            for (int p = 0; p < passes; p++) {
                long t0 = System.nanoTime();
                pool.run(CHUNKS, c -> sums[c] = sum(buffer, BYTES / CHUNKS * c, BYTES / CHUNKS));
                best = Math.max(best, BYTES / ((System.nanoTime() - t0) / 1e9));
            }
        }
        return best;
    }

    private static float sum(MemorySegment m, long from, long bytes) {
        int step = S.vectorByteSize();
        FloatVector a = FloatVector.zero(S);
        FloatVector b = a;
        FloatVector c = a;
        FloatVector d = a;
        for (long at = from; at < from + bytes; at += 4L * step) {
            a = a.add(FloatVector.fromMemorySegment(S, m, at, ByteOrder.LITTLE_ENDIAN));
            b = b.add(FloatVector.fromMemorySegment(S, m, at + step, ByteOrder.LITTLE_ENDIAN));
            c = c.add(FloatVector.fromMemorySegment(S, m, at + 2L * step, ByteOrder.LITTLE_ENDIAN));
            d = d.add(FloatVector.fromMemorySegment(S, m, at + 3L * step, ByteOrder.LITTLE_ENDIAN));
        }
        return a.add(b).add(c.add(d)).reduceLanes(VectorOperators.ADD);
    }
}
