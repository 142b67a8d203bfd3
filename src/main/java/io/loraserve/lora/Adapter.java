package io.loraserve.lora;

import io.loraserve.model.WeightLayout;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * One loaded version of a named adapter: what it is (config, size, files as read), its host copy of the weights
 * while it has one, and the requests using it.
 *
 * <p>Semantics: every request that runs on an adapter holds one reference, from {@link AdapterRegistry#acquire}
 * (or {@link #retain()} by a holder) until {@link #release()}; a holder always finds the host copy present. Unloading
 * or replacing the name only marks this version removed; its host copy is freed when the last reference goes, so a
 * running request always finishes on the weights it started with. While no reference is held, {@link HostCopies}
 * may drop the host copy to make room (the version stays registered, its weights on disk); the next acquire reads it
 * again, once for all its waiters, from files that must still look as they did ({@link AdapterFiles}).
 *
 * <p>Native memory: the host copy ({@link AdapterWeights}) has lifetime adapter: closed when dropped, or when the
 * version is removed and its last reference ends. Changes to it are guarded by this object's lock.
 */
public final class Adapter {
    private final String name;
    private final Path path;
    private final AdapterConfig config;
    private final long bytes;
    private final int layers;
    private final WeightLayout layout;
    private final AdapterFiles files;
    private final long version;
    private final double loadSeconds;
    private final boolean onDemand;
    private final AtomicInteger references = new AtomicInteger();
    private final AtomicBoolean freed = new AtomicBoolean();
    private final AdapterPlacement placement;
    private final AdapterEvents events;
    private AdapterWeights weights;                 // the host copy, null while dropped; guarded by this
    private CompletableFuture<AdapterWeights> reading;  // the read that brings it back, null when none; guarded by this
    private volatile boolean removed;
    private volatile boolean pinned;
    private volatile boolean resident;

    Adapter(String name, Path path, AdapterWeights weights, AdapterFiles files, long version, double loadSeconds,
            boolean onDemand, AdapterPlacement placement, AdapterEvents events) {
        this.name = name;
        this.path = path;
        this.weights = weights;
        this.config = weights.config();
        this.bytes = weights.bytes();
        this.layers = weights.layers();
        this.layout = weights.layout();
        this.files = files;
        this.version = version;
        this.loadSeconds = loadSeconds;
        this.onDemand = onDemand;
        this.placement = placement;
        this.events = events;
    }

    public String name() {
        return name;
    }

    public Path path() {
        return path;
    }

    /**
     * The host copy. Only a holder of a reference may call it, and it is then present (the registry's acquire brings
     * it back before handing out the reference).
     */
    public synchronized AdapterWeights weights() {
        if (weights == null) {
            throw new IllegalStateException("adapter '" + name + "' has no host copy; acquire it first");
        }
        return weights;
    }

    public AdapterConfig config() {
        return config;
    }

    /** Bytes of its host copy (whether it holds one now or not). */
    public long bytes() {
        return bytes;
    }

    /** Decoder layers of the base model its weights were validated against. */
    public int layers() {
        return layers;
    }

    /** How that base model names its decoder linears. */
    public WeightLayout layout() {
        return layout;
    }

    AdapterFiles files() {
        return files;
    }

    /** Distinguishes a replaced adapter's versions (increasing per registry). */
    public long version() {
        return version;
    }

    public double loadSeconds() {
        return loadSeconds;
    }

    /** Loaded because a request named it ({@code --adapter-root}), not by an operator. */
    public boolean onDemand() {
        return onDemand;
    }

    public int inFlight() {
        return references.get();
    }

    public boolean removed() {
        return removed;
    }

    /** Served from a merged copy of the base weights (set by {@link AdapterPlacement}). */
    public boolean pinned() {
        return pinned;
    }

    void pinned(boolean value) {
        pinned = value;
        if (!removed) {
            events.adapterPinned(name, value);
        }
    }

    /** Whether a device slot holds it now (set by {@link AdapterPlacement}). */
    public boolean resident() {
        return resident;
    }

    void resident(boolean value) {
        resident = value;
        if (!removed) {
            events.adapterTier(name, tier());
        }
    }

    /** Where its weights are: {@link AdapterEvents#DEVICE}, {@link AdapterEvents#HOST} or {@link AdapterEvents#DISK}. */
    public synchronized String tier() {
        return resident ? AdapterEvents.DEVICE : weights != null ? AdapterEvents.HOST : AdapterEvents.DISK;
    }

    /**
     * Takes a reference for a new request; true when the host copy is present, else the caller brings it back with
     * {@link #awaitHostCopy} (the reference keeps it from being dropped again meanwhile).
     */
    synchronized boolean lease() {
        if (freed.get()) {
            throw new IllegalStateException("adapter '" + name + "' version " + version + " was already freed");
        }
        references.incrementAndGet();
        return weights != null;
    }

    /**
     * Waits until the host copy is back: the first caller starts {@code read} (disk to a validated copy, counted in
     * {@link HostCopies}), later ones wait for the same read. A failed read fails every waiter and is not kept: the
     * next caller reads again.
     */
    void awaitHostCopy(Supplier<CompletableFuture<AdapterWeights>> read) {
        CompletableFuture<AdapterWeights> f;
        synchronized (this) {
            if (weights != null) {
                return;
            }
            if (reading == null) {
                reading = read.get();
            }
            f = reading;
        }
        try {
            settle(f, f.join());
        } catch (CompletionException e) {
            settle(f, null);
            throw e.getCause() instanceof RuntimeException re ? re : e;
        }
    }

    /** A waiter saw {@code read} end with {@code w} (null: it failed): the copy is installed, the read forgotten. */
    private synchronized void settle(CompletableFuture<AdapterWeights> read, AdapterWeights w) {
        if (reading == read) {
            reading = null;
        }
        if (w != null && weights == null) {
            weights = w;
            if (!removed && !resident) {
                events.adapterTier(name, AdapterEvents.HOST);
            }
        }
    }

    /** Closes the host copy if no request holds this version; returns the bytes freed (0 when it kept it). */
    synchronized long dropHostCopy() {
        if (references.get() != 0 || weights == null || freed.get()) {
            return 0;
        }
        weights.close();
        weights = null;
        if (!removed && !resident) {
            events.adapterTier(name, AdapterEvents.DISK);
        }
        return bytes;
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

    /** Drops one request's reference; the last one of a removed adapter frees its host copy. */
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
        boolean hadCopy;
        synchronized (this) {
            if (references.get() != 0 || !freed.compareAndSet(false, true)) {
                return;
            }
            hadCopy = weights != null;
            if (hadCopy) {
                weights.close();
                weights = null;
            }
        }
        if (hadCopy) {
            placement.hostFreed(this, bytes);  // outside this lock: the host tier's lock comes first
        }
    }

    public boolean freed() {
        return freed.get();
    }
}
