package io.loraserve.engine;

import java.lang.management.ManagementFactory;
import org.bytedeco.javacpp.Pointer;

/** The process's resident memory outside the Java heap, as the flat-memory tests read it. */
final class ResidentMemory {
    private ResidentMemory() {
    }

    /**
     * Resident bytes outside the heap after GC (the surefire JVM pre-touches its heap, so resident heap =
     * committed heap), once they stop changing: G1 lowers its committed size at the collection but gives
     * the pages back to the OS afterwards on a thread of its own, so until then RSS still holds heap the
     * committed size no longer counts (on a loaded machine the heap grew to 2 GB during earlier tests and
     * read as 400-600 MB of "native growth").
     */
    static long settledOutsideHeap() throws InterruptedException {
        for (int i = 0; i < 3; i++) {
            System.gc();
            Thread.sleep(200);
        }
        long last = Long.MAX_VALUE;
        for (int i = 0; i < 50; i++) {
            long now = Pointer.physicalBytes() - ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getCommitted();
            if (Math.abs(now - last) < (1L << 20)) {
                return now;
            }
            last = now;
            Thread.sleep(200);
        }
        return last;
    }
}
