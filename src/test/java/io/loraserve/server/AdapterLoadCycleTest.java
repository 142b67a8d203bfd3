package io.loraserve.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import javax.management.JMException;
import javax.management.ObjectName;
import org.bytedeco.javacpp.Pointer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * 1,000 load/unload cycles of the largest fixture adapter (all-r8-rslora, 74,752 bytes of host weights) through the
 * admin API, each also refusing a copy with a NaN in its last tensor (so every tensor is read, then the refusal must
 * close them all), and every tenth using the adapter for one token (device slot upload) and pinning it (merged
 * copy). Native memory and file descriptors must end where they started.
 *
 * <p>Three measures, taken after a warm-up and {@code System.gc()}:
 * <ul>
 *   <li>{@link Pointer#totalCount()}: native objects JavaCPP owns and has not freed (every Tensor handle). Exact:
 *       it read 50 before and after 3,000 cycles here; one leaked tensor per cycle would add 1,000.
 *   <li>{@link Pointer#physicalBytes()}: the process's resident bytes, less what the JVM has committed for its heap
 *       and non-heap pools (see {@link Reading}); this also sees memory libtorch keeps that JavaCPP cannot. Noisy: after 500 warm-up cycles it still drifted by up to 36 MB over the next 1,000 (malloc
 *       arenas and the JIT settling; over 10,000 cycles it plateaus, 233 MB at cycle 2,000 and 229 MB at 10,000).
 *       Free malloc memory is returned to the OS before each reading (glibc's trim, which cannot release memory that
 *       is still allocated). The bound, 48 MB, is above that drift and below what losing the weights costs: 1,000 ×
 *       74,752 B ≈ 75 MB for the loaded copies alone, as much again for the refused ones.
 *   <li>open file descriptors ({@code /proc/self/fd}): 97 throughout here; one leaked per cycle would add 1,000.
 * </ul>
 */
@Order(1)  // first in the suite's JVM (junit-platform.properties), so no earlier test's memory moves during its window
class AdapterLoadCycleTest {
    private static final int WARM_UP = 300;
    private static final int CYCLES = 1_000;
    private static final long MAX_RESIDENT_GROWTH = 48L << 20;
    private static final long MAX_NATIVE_OBJECT_GROWTH = 16;
    private static final long MAX_FD_GROWTH = 4;

    @TempDir
    Path root;

    @Test
    void thousandLoadUnloadCyclesLeaveNativeMemoryAndFileDescriptorsFlat() {
        Path poisoned = poisonedCopy(root.resolve("nan"));
        try (TestServer server = new TestServer(Fixtures.tinyModel(), "--adapter-root",
                Fixtures.tinyAdapter("all-r8-rslora").getParent().toString(), "--adapter-root", root.toString())) {
            for (int i = 0; i < WARM_UP; i++) {
                cycle(server, poisoned, i);
            }
            Reading before = Reading.take();
            for (int i = 0; i < CYCLES; i++) {
                cycle(server, poisoned, i);
            }
            Reading after = Reading.take();
            String report = "before " + before + ", after " + after;
            assertTrue(after.nativeObjects() - before.nativeObjects() <= MAX_NATIVE_OBJECT_GROWTH, report);
            assertTrue(after.nativeResidentBytes() - before.nativeResidentBytes() <= MAX_RESIDENT_GROWTH, report);
            assertTrue(after.fileDescriptors() - before.fileDescriptors() <= MAX_FD_GROWTH, report);
            System.out.println("AdapterLoadCycleTest: " + report);
        }
    }

    private static void cycle(TestServer server, Path poisoned, int i) {
        TestServer.Reply load = server.postAdapter("cycled", Fixtures.tinyAdapter("all-r8-rslora"));
        assertEquals(201, load.status(), load.body());
        TestServer.Reply refused = server.postAdapter("poisoned", poisoned);
        assertEquals(400, refused.status(), refused.body());
        if (i % 10 == 0) {
            TestServer.Reply used = server.post("/v1/completions",
                    "{\"prompt\":\"Hi\",\"adapter\":\"cycled\",\"max_tokens\":1,\"temperature\":0}");
            assertEquals(200, used.status(), used.body());
            assertEquals(200, server.adminPost("/admin/adapters/cycled/pin", "").status());
        }
        TestServer.Reply unload = server.adminDelete("/admin/adapters/cycled");
        assertEquals(200, unload.status(), unload.body());
    }

    /** all-r8-rslora with its last stored float (in the last tensor of the file) set to NaN. */
    private static Path poisonedCopy(Path dir) {
        Path copy = AdminRefusalsTest.copyFixture("all-r8-rslora", dir);
        try {
            Path file = copy.resolve("adapter_model.safetensors");
            byte[] bytes = Files.readAllBytes(file);
            ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putFloat(bytes.length - 4, Float.NaN);
            Files.write(file, bytes);
            return copy;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * {@code jvmCommitted} is the heap and non-heap memory the JVM has committed: with {@code -XX:+AlwaysPreTouch}
     * (the surefire line) every page the heap grows by is resident at once, so a heap that grows during the cycles
     * (more likely when the suite has run before and other processes load the machine: +129 and +156 MB in two
     * full-suite runs, with native objects and descriptors flat) would read as a native leak.
     */
    private record Reading(long nativeObjects, long residentBytes, long jvmCommitted, long fileDescriptors,
                           String kinds) {
        /** Resident bytes the JVM's own heap and non-heap pools do not account for. */
        long nativeResidentBytes() {
            return residentBytes - jvmCommitted;
        }

        static Reading take() {
            for (int i = 0; i < 3; i++) {
                System.gc();
                try {
                    Thread.sleep(50);  // lets JavaCPP's deallocator thread free what the collector found
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new AssertionError(e);
                }
            }
            trimNativeHeap();
            var memory = ManagementFactory.getMemoryMXBean();
            long committed = memory.getHeapMemoryUsage().getCommitted() + memory.getNonHeapMemoryUsage().getCommitted();
            return new Reading(Pointer.totalCount(), Pointer.physicalBytes(), committed, openFileDescriptors(),
                    residentKinds());
        }

        /** glibc's malloc_trim through the JVM's System.trim_native_heap; without it readings are only noisier. */
        private static void trimNativeHeap() {
            try {
                ManagementFactory.getPlatformMBeanServer().invoke(
                        new ObjectName("com.sun.management:type=DiagnosticCommand"), "systemTrimNativeHeap",
                        new Object[] {new String[0]}, new String[] {String[].class.getName()});
            } catch (JMException e) {
                System.out.println("AdapterLoadCycleTest: no native heap trim (" + e + ")");
            }
        }

        private static long openFileDescriptors() {
            try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
                return fds.count();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        /** The kernel's split of resident memory (anonymous, file-backed, shared), to tell a failure's kind. */
        private static String residentKinds() {
            try {
                return String.join(" ", Files.readAllLines(Path.of("/proc/self/status")).stream()
                        .filter(l -> l.startsWith("RssAnon") || l.startsWith("RssFile") || l.startsWith("RssShmem"))
                        .map(l -> l.replaceAll("\\s+", " ")).toList());
            } catch (IOException e) {
                return "(no /proc/self/status)";
            }
        }

        @Override
        public String toString() {
            return nativeObjects + " native objects, " + residentBytes / (1 << 20) + " MiB resident (" + kinds
                    + ") of which " + jvmCommitted / (1 << 20) + " MiB JVM-committed, " + fileDescriptors + " fds";
        }
    }
}
