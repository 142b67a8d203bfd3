package io.loraserve.lora;

import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * One loaded version of a named adapter: its host weights and the requests using it.
 *
 * <p>Semantics: every request that runs on an adapter holds one reference, from
 * {@link AdapterRegistry#acquire} (or {@link #retain()} by a holder) until {@link #release()}.
 * Unloading or replacing the name only marks this version removed; its host weights are freed
 * when the last reference goes, so a running request always finishes on the weights it started
 * with.
 */
public final class Adapter {
    private final String name;
    private final Path path;
    private final AdapterWeights weights;
    private final long version;
    private final double loadSeconds;
    private final AtomicInteger references = new AtomicInteger();
    private final AtomicBoolean freed = new AtomicBoolean();
    private final Runnable onFreed;
    private final AdapterEvents events;
    private volatile boolean removed;
    private volatile boolean pinned;
    private volatile boolean resident;

    Adapter(String name, Path path, AdapterWeights weights, long version, double loadSeconds, Runnable onFreed,
            AdapterEvents events) {
        this.name = name;
        this.path = path;
        this.weights = weights;
        this.version = version;
        this.loadSeconds = loadSeconds;
        this.onFreed = onFreed;
        this.events = events;
    }

    public String name() {
        return name;
    }

    public Path path() {
        return path;
    }

    public AdapterWeights weights() {
        return weights;
    }

    public AdapterConfig config() {
        return weights.config();
    }

    /** Distinguishes a replaced adapter's versions (increasing per registry). */
    public long version() {
        return version;
    }

    public double loadSeconds() {
        return loadSeconds;
    }

    public int inFlight() {
        return references.get();
    }

    public boolean removed() {
        return removed;
    }

    /** Served from a merged copy of the base weights (set by the engine once the copy exists). */
    public boolean pinned() {
        return pinned;
    }

    public void pinned(boolean value) {
        pinned = value;
        if (!removed) {
            events.adapterPinned(name, value);
        }
    }

    /** Whether a device slot holds it now (set by {@link AdapterSlots}). */
    public boolean resident() {
        return resident;
    }

    void resident(boolean value) {
        resident = value;
        if (!removed) {
            events.adapterTier(name, value ? "device" : "host");
        }
    }

    /**
     * Takes one more reference on this version, e.g. for another choice of the same request. Only a holder of a
     * reference may call it, so the version cannot have been freed.
     */
    public void retain() {
        if (freed.get()) {
            throw new IllegalStateException("adapter '" + name + "' version " + version + " was already freed");
        }
        references.incrementAndGet();
    }

    /** Drops one request's reference; the last one of a removed adapter frees its host weights. */
    public void release() {
        if (references.decrementAndGet() == 0 && removed) {
            free();
        }
    }

    void markRemoved() {
        removed = true;
        if (references.get() == 0) {
            free();
        }
    }

    private void free() {
        if (references.get() == 0 && freed.compareAndSet(false, true)) {
            weights.close();
            onFreed.run();
        }
    }

    public boolean freed() {
        return freed.get();
    }
}
