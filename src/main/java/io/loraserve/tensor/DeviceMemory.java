package io.loraserve.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.Optional;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.cuda.DeviceStats;
import org.bytedeco.pytorch.global.torch_cuda;

/**
 * Memory of one CUDA device as libtorch's caching allocator counts it (the aggregate pool of its
 * device statistics, as {@code torch.cuda.memory_allocated/memory_reserved} report). Only exists
 * for CUDA devices; the allocator guards its statistics with its own lock, so any thread may read.
 * Not exercised on the CPU-only machines this project is built on.
 */
public final class DeviceMemory {
    private final byte index;

    private DeviceMemory(byte index) {
        this.index = index;
    }

    /** The device's memory counters, or empty for a CPU device. */
    public static Optional<DeviceMemory> of(Device device) {
        return device.is_cuda() ? Optional.of(new DeviceMemory(device.index())) : Optional.empty();
    }

    /** Bytes of live tensors. */
    public long allocatedBytes() {
        try (DeviceStats s = torch_cuda.getAllocator().getDeviceStats(index)) {
            return s.allocated_bytes().current();
        }
    }

    /**
     * {free, total} bytes of the device as its driver reports them ({@code cudaMemGetInfo}, what
     * {@code torch.cuda.mem_get_info} reads): memory held by this process's caching allocator, its
     * CUDA context and other processes counts as used. Called through FFM on the CUDA runtime that
     * libtorch loaded (JavaCPP maps it only in the CUDA build's classes).
     */
    public long[] freeAndTotal() {
        byte previous = torch_cuda.ExchangeDevice(index);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment free = arena.allocate(ValueLayout.JAVA_LONG);
            MemorySegment total = arena.allocate(ValueLayout.JAVA_LONG);
            int error = (int) memGetInfo().invokeExact(free, total);
            if (error != 0) {
                throw new IllegalStateException("cudaMemGetInfo failed with CUDA error " + error);
            }
            return new long[] {free.get(ValueLayout.JAVA_LONG, 0), total.get(ValueLayout.JAVA_LONG, 0)};
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        } finally {
            torch_cuda.ExchangeDevice(previous);
        }
    }

    /** {@code cudaError_t cudaMemGetInfo(size_t*, size_t*)} from the loaded libcudart. */
    private static MethodHandle memGetInfo() {
        String lib = Loader.getLoadedLibraries().values().stream()
                .filter(p -> p.matches(".*/libcudart\\.so[.0-9]*")).findFirst().orElse("libcudart.so.12");
        SymbolLookup cudart = lib.startsWith("/") ? SymbolLookup.libraryLookup(Path.of(lib), Arena.global())
                : SymbolLookup.libraryLookup(lib, Arena.global());
        return Linker.nativeLinker().downcallHandle(cudart.find("cudaMemGetInfo").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS));
    }

    /** Bytes the caching allocator holds from the driver (allocated plus cached). */
    public long reservedBytes() {
        try (DeviceStats s = torch_cuda.getAllocator().getDeviceStats(index)) {
            return s.reserved_bytes().current();
        }
    }
}
