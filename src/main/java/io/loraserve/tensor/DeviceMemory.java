package io.loraserve.tensor;

import java.util.Optional;
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

    /** Bytes the caching allocator holds from the driver (allocated plus cached). */
    public long reservedBytes() {
        try (DeviceStats s = torch_cuda.getAllocator().getDeviceStats(index)) {
            return s.reserved_bytes().current();
        }
    }
}
