package io.loraserve.lora;

import io.loraserve.model.LlamaWeights;
import io.loraserve.model.ModelConfig;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.Map;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The one owner of where an adapter version's weights live and how they move: disk → host → device slot → merged.
 *
 * <p>States of one version (what {@link Adapter#tier()} and {@link Adapter#pinned()} report):
 * <ul>
 * <li><b>disk</b>: registered, no host copy (dropped to make room, or never read since a restart);</li>
 * <li><b>host</b>: a host copy ({@link AdapterWeights}, lifetime adapter, held by the {@link Adapter}), counted
 * against {@code --max-cpu-adapter-bytes};</li>
 * <li><b>slot</b>: also copied into one of the {@link AdapterSlots} (its requests run through the bypass);</li>
 * <li><b>merged</b>: pinned; its requests run on a merged copy of the base ({@link MergedWeights}), no slot needed.</li>
 * </ul>
 * Transitions:
 * <ul>
 * <li>{@link #admitHost} (→ host, on load or re-read): room is made by host evictions (host → disk: idle versions
 * only, least recently used first, see {@link HostCopies}); refused with {@code CAPACITY} when even that leaves too
 * little; the registry reads the files (disk → host) on its loader thread, and a later acquire of a dropped copy
 * reads it again;</li>
 * <li>{@link #acquireSlot} (host → slot): into a free slot, else the least recently used one whose adapter the step
 * does not keep (an eviction, counted); refused when every slot is kept, which the scheduler's count prevents;</li>
 * <li>{@link #pin} (→ merged) and {@link #unpin} (merged → host or slot): the merged copy is built or closed;</li>
 * <li>{@link #replaced}: a new version of a pinned name is pinned too; its merged copy is built by {@link #activate}
 * before its first forward, so no caller pins it again;</li>
 * <li>unload (→ removed): the registry marks the version removed; running requests finish on it; its last one
 * frees the host copy ({@link #hostFreed}), and {@link #releaseUnused} frees its slot and its merged copy.</li>
 * </ul>
 * Counts: each tier's hits and misses (host: one per request acquired, a miss with its re-read time; device: one
 * per sequence placed, a miss with its upload time) and evictions go to the {@link AdapterEvents}; the catalogue
 * gauges hear of every change of tier or pin.
 *
 * <p>Threads: the host tier's methods run on any thread (the {@link HostCopies} lock: registry, then it, then an
 * adapter); {@link #replaced} on any thread; the device slots and merged copies on the engine thread only, which
 * alone calls libtorch. Native memory: the slots
 * (lifetime process) and every merged copy (lifetime: from pin to unpin or the end of an unloaded version's last
 * request) are owned here and closed by {@link #close}.
 */
public final class AdapterPlacement implements AutoCloseable {
    private final HostCopies host;
    private final AdapterSlots slots;
    private final ModelConfig config;
    private final LlamaWeights base;
    private final ScalarType mergeDtype;
    private final Adapter[] occupant;
    private final long[] lastUsed;
    private long clock;
    private final Map<Adapter, MergedWeights> merged = new IdentityHashMap<>();
    private volatile AdapterEvents events = AdapterEvents.NONE;

    /**
     * Host copies up to {@code maxHostBytes}; takes ownership of {@code slots}; merged copies are made from
     * {@code base} in {@code mergeDtype} (the dtype the model computes in).
     */
    public AdapterPlacement(long maxHostBytes, AdapterSlots slots, ModelConfig config, LlamaWeights base,
                            ScalarType mergeDtype) {
        this.host = new HostCopies(maxHostBytes);
        this.slots = slots;
        this.config = config;
        this.base = base;
        this.mergeDtype = mergeDtype;
        this.occupant = new Adapter[slots.slots()];
        this.lastUsed = new long[slots.slots()];
    }

    /** {@code --max-adapters}: how many adapters can run through the bypass in one step. */
    public int slotCount() {
        return occupant.length;
    }

    /** The device buffers the bypass reads. */
    public AdapterSlots slots() {
        return slots;
    }

    /** Who hears about each tier's hits, misses (with fill times) and evictions; set before traffic. */
    void setEvents(AdapterEvents events) {
        this.events = events;
        host.setEvents(events);
    }

    /**
     * Counts {@code adapter}'s new host copy of {@code need} bytes, evicting idle host copies if needed; see
     * {@link HostCopies#admit}.
     */
    void admitHost(Adapter adapter, long need, long freedByReplace, String replacedNote) {
        host.admit(adapter, need, freedByReplace, replacedNote);
    }

    /** A request acquired {@code adapter} and found its host copy: a host hit, and it is used most recently. */
    void hostHit(Adapter adapter) {
        host.touch(adapter);
        events.tierHit(AdapterEvents.HOST);
    }

    /** A request acquired {@code adapter} after reading its host copy again in {@code seconds}: a host miss. */
    void hostMiss(Adapter adapter, double seconds) {
        host.touch(adapter);
        events.tierMiss(AdapterEvents.HOST, seconds);
    }

    /** {@code adapter}'s host copy of {@code bytes} was closed (unloaded or replaced, last request ended). */
    void hostFreed(Adapter adapter, long bytes) {
        host.freed(adapter, bytes);
    }

    /** Bytes of the host copies held now. */
    long hostBytes() {
        return host.bytes();
    }

    /** {@code --max-cpu-adapter-bytes}: the most the host copies may hold. */
    long hostCapacity() {
        return host.capacity();
    }

    /**
     * A slot holding {@code adapter} for one more sequence: its current slot (a hit), else a free one or the least
     * recently used one whose adapter is not in {@code keep} (a miss: it is uploaded there).
     *
     * @throws IllegalStateException when every slot holds an adapter in {@code keep}
     */
    public int acquireSlot(Adapter adapter, Collection<Adapter> keep) {
        int slot = slotOf(adapter);
        if (slot >= 0) {
            events.tierHit(AdapterEvents.DEVICE);
        } else {
            slot = victim(keep);
            if (slot < 0) {
                throw new IllegalStateException("no device slot for adapter '" + adapter.name() + "': all "
                        + occupant.length + " hold adapters the step keeps");
            }
            long start = System.nanoTime();
            if (occupant[slot] != null) {
                vacate(slot);
                events.tierEvicted(AdapterEvents.DEVICE);
            }
            slots.upload(slot, adapter.weights());
            occupant[slot] = adapter;
            adapter.resident(true);
            events.tierMiss(AdapterEvents.DEVICE, (System.nanoTime() - start) / 1e9);
        }
        lastUsed[slot] = ++clock;
        return slot;
    }

    private int victim(Collection<Adapter> keep) {
        int best = -1;
        for (int s = 0; s < occupant.length; s++) {
            if (occupant[s] == null) {
                return s;
            }
            if (!keep.contains(occupant[s]) && (best < 0 || lastUsed[s] < lastUsed[best])) {
                best = s;
            }
        }
        return best;
    }

    /** The slot holding {@code adapter}, or -1. */
    public int slotOf(Adapter adapter) {
        for (int s = 0; s < occupant.length; s++) {
            if (occupant[s] == adapter) {
                return s;
            }
        }
        return -1;
    }

    private void vacate(int slot) {
        Adapter old = occupant[slot];
        occupant[slot] = null;
        slots.clear(slot);
        old.resident(false);
    }

    /**
     * Pins {@code adapter}: builds its merged copy, and its requests run from it from the next step on. A removed
     * version is not pinned.
     */
    public void pin(Adapter adapter) {
        if (!adapter.removed()) {
            mergedCopy(adapter);
            adapter.pinned(true);
        }
    }

    /** Unpins {@code adapter}: closes its merged copy; its requests go back to the bypass (and need a slot). */
    public void unpin(Adapter adapter) {
        adapter.pinned(false);
        MergedWeights m = merged.remove(adapter);
        if (m != null) {
            m.close();
        }
    }

    /** {@code fresh} replaces {@code old} under one name: pinned if {@code old} was. Any thread. */
    void replaced(Adapter old, Adapter fresh) {
        if (old.pinned()) {
            fresh.pinned(true);
        }
    }

    /** Before a forward that runs {@code adapter}: a pinned one gets its merged copy if it has none yet. */
    public void activate(Adapter adapter) {
        if (adapter.pinned()) {
            mergedCopy(adapter);
        }
    }

    private MergedWeights mergedCopy(Adapter adapter) {
        MergedWeights m = merged.get(adapter);
        if (m == null) {
            m = MergedWeights.build(config, base, adapter.weights(), mergeDtype);
            merged.put(adapter, m);
        }
        return m;
    }

    /** The merged copy {@code adapter}'s requests run on, or null when they run through the bypass. */
    public MergedWeights merged(Adapter adapter) {
        return adapter == null ? null : merged.get(adapter);
    }

    /**
     * After a step: removed versions with no request left lose their merged copy, and those outside {@code keep}
     * their slot (not counted as evictions: nobody wanted them).
     */
    public void releaseUnused(Collection<Adapter> keep) {
        merged.entrySet().removeIf(e -> {
            if (e.getKey().removed() && e.getKey().inFlight() == 0) {
                e.getKey().pinned(false);
                e.getValue().close();
                return true;
            }
            return false;
        });
        for (int s = 0; s < occupant.length; s++) {
            if (occupant[s] != null && occupant[s].removed() && !keep.contains(occupant[s])) {
                vacate(s);
            }
        }
    }

    @Override
    public void close() {
        merged.values().forEach(MergedWeights::close);
        merged.clear();
        slots.close();
    }
}
