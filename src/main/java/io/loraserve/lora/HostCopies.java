package io.loraserve.lora;

import io.loraserve.lora.AdapterRegistry.RegistryException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The host tier of {@link AdapterPlacement}: which adapters hold a host copy of their weights, how many bytes those
 * copies take, and which copy goes first when room is needed (the least recently used idle one).
 *
 * <p>Semantics: the sum of the host copies' bytes, versions replaced but still running included, never exceeds
 * {@code capacity} ({@code --max-cpu-adapter-bytes}). Room for a new copy is made by dropping idle copies, least
 * recently used first; a copy whose adapter has a request in flight is never dropped. The copies themselves are
 * owned by their {@link Adapter} (lifetime: adapter, or until dropped here); this class only decides and counts.
 * Thread-safe; lock order: registry, then this, then an adapter.
 */
final class HostCopies {
    private final long capacity;
    /** Adapters with a host copy, least recently used first. */
    private final Map<Adapter, Long> copies = new LinkedHashMap<>(16, 0.75f, true);
    private volatile AdapterEvents events = AdapterEvents.NONE;
    private long bytes;

    HostCopies(long capacity) {
        this.capacity = capacity;
    }

    void setEvents(AdapterEvents events) {
        this.events = events;
    }

    /**
     * Counts {@code adapter}'s new host copy of {@code need} bytes, first dropping idle copies, least recently used
     * first, until it fits; {@code freedByReplace} bytes are about to be freed by the caller and count as free.
     *
     * @throws RegistryException with {@code CAPACITY} when even dropping every idle copy leaves too little room; then
     *                           nothing was dropped
     */
    synchronized void admit(Adapter adapter, long need, long freedByReplace, String replacedNote) {
        long room = capacity - bytes + freedByReplace;
        List<Adapter> victims = new ArrayList<>();
        for (Map.Entry<Adapter, Long> e : copies.entrySet()) {
            if (room >= need) {
                break;
            }
            if (e.getKey() != adapter && e.getKey().inFlight() == 0) {
                victims.add(e.getKey());
                room += e.getValue();
            }
        }
        if (room < need) {
            throw new RegistryException(RegistryException.Kind.CAPACITY, "adapter '" + adapter.name() + "' needs "
                    + need + " bytes of host memory but only " + (capacity - bytes) + " of --max-cpu-adapter-bytes "
                    + capacity + " are free and every other host copy is in use by running requests; retry when they"
                    + " end, or unload an adapter" + replacedNote);
        }
        for (Adapter v : victims) {
            long dropped = v.dropHostCopy();
            if (dropped > 0) {
                copies.remove(v);
                bytes -= dropped;
                events.tierEvicted(AdapterEvents.HOST);
            }
        }
        if (bytes + need - freedByReplace > capacity) {
            // A victim took a request between the count and the drop: nothing was lost, the caller may retry.
            throw new RegistryException(RegistryException.Kind.CAPACITY, "adapter '" + adapter.name() + "' needs "
                    + need + " bytes of host memory; the copies that would have made room were taken by new"
                    + " requests meanwhile; retry");
        }
        copies.put(adapter, need);
        bytes += need;
    }

    /** {@code adapter} was used: its copy moves to the back of the eviction order. */
    synchronized void touch(Adapter adapter) {
        copies.get(adapter);
    }

    /** {@code adapter}'s host copy of {@code freed} bytes was closed (unloaded or replaced, last request ended). */
    synchronized void freed(Adapter adapter, long freed) {
        if (copies.remove(adapter) != null) {
            bytes -= freed;
        }
    }

    synchronized long bytes() {
        return bytes;
    }

    long capacity() {
        return capacity;
    }
}
