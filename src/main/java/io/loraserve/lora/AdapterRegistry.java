package io.loraserve.lora;

import io.loraserve.model.ModelConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;

/**
 * The catalogue of adapters: name → current version, with host copies of their weights.
 *
 * <p>Semantics: loading (disk → host tensors → validation) runs on this registry's own loader
 * thread, never on the engine thread, and either registers a complete, valid adapter or leaves
 * the catalogue unchanged. Adapters load only from under the configured roots: the directory and
 * every file read from it, after resolving {@code ..} and symlinks ({@link AdapterRoots}). The
 * sum of host bytes, replaced versions still running included, stays under {@code maxHostBytes}.
 * Thread-safe.
 */
public final class AdapterRegistry implements AutoCloseable {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    /** Names /metrics uses for the base model and for adapters past the label cap. */
    private static final List<String> RESERVED = List.of("base", "other");

    /** Why a registry operation was refused; the API maps it to a status. */
    public static final class RegistryException extends RuntimeException {
        /** The kinds of refusal. */
        public enum Kind { BAD_NAME, NOT_FOUND, EXISTS, OUTSIDE_ROOTS, NO_SUCH_PATH, CAPACITY }

        private final Kind kind;

        RegistryException(Kind kind, String message) {
            super(message);
            this.kind = kind;
        }

        public Kind kind() {
            return kind;
        }
    }

    private final ModelConfig base;
    private final String baseName;
    private final AdapterRoots roots;
    private final int maxRank;
    private final long maxHostBytes;
    private final Map<String, Adapter> byName = new LinkedHashMap<>();
    private final ExecutorService loader = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "adapter-loader");
        t.setDaemon(true);
        return t;
    });
    private final AtomicLong versions = new AtomicLong();
    private volatile AdapterEvents events = AdapterEvents.NONE;
    private long hostBytes;

    /**
     * @param roots the only directories adapters may be loaded from
     */
    public AdapterRegistry(ModelConfig base, String baseName, List<Path> roots, int maxRank, long maxHostBytes) {
        this.base = base;
        this.baseName = baseName;
        this.roots = new AdapterRoots(roots);
        this.maxRank = maxRank;
        this.maxHostBytes = maxHostBytes;
    }

    /**
     * Loads {@code path} as {@code name}. With {@code replace}, an existing name gets the new
     * weights for new requests while running ones finish on the old.
     *
     * @throws RegistryException for a bad name, a path outside the roots, a taken name, or no room
     * @throws AdapterException  for an adapter that does not fit the base model
     */
    public Adapter load(String name, Path path, boolean replace) {
        if (name == null || !NAME.matcher(name).matches() || name.equals(baseName) || RESERVED.contains(name)) {
            throw new RegistryException(RegistryException.Kind.BAD_NAME, "adapter name '" + name + "' must be 1-64"
                    + " letters, digits, '.', '_' or '-', start with a letter or digit, and differ from the base"
                    + " model's name and from " + String.join(", ", RESERVED) + " (metric labels of their own)");
        }
        Path dir = roots.directory(path);
        synchronized (this) {
            if (byName.containsKey(name) && !replace) {
                throw new RegistryException(RegistryException.Kind.EXISTS, "adapter '" + name + "' is already loaded"
                        + " (from " + byName.get(name).path() + "); pass \"replace\": true to replace it");
            }
        }
        long start = System.nanoTime();
        AdapterWeights weights = onLoader(name, dir);
        double seconds = (System.nanoTime() - start) / 1e9;
        synchronized (this) {
            Adapter old = byName.get(name);
            if (old != null && !replace) {
                weights.close();
                throw new RegistryException(RegistryException.Kind.EXISTS, "adapter '" + name + "' was loaded"
                        + " concurrently; pass \"replace\": true to replace it");
            }
            // The replaced version's weights are freed at once only when no request holds it (none can take one
            // while this lock is held); otherwise they stay until its last request ends, and count until then.
            boolean oldFreedNow = old != null && old.inFlight() == 0;
            long freedByReplace = oldFreedNow ? old.weights().bytes() : 0;
            if (hostBytes - freedByReplace + weights.bytes() > maxHostBytes) {
                weights.close();
                throw new RegistryException(RegistryException.Kind.CAPACITY, "adapter '" + name + "' needs "
                        + weights.bytes() + " bytes of host memory but only " + (maxHostBytes - hostBytes)
                        + " of --max-cpu-adapter-bytes " + maxHostBytes + " are free; unload an adapter first"
                        + (old != null && !oldFreedNow ? " (the version it replaces counts until its "
                                + old.inFlight() + " running requests end)" : ""));
            }
            long bytes = weights.bytes();
            Adapter a = new Adapter(name, dir, weights, versions.incrementAndGet(), seconds, () -> freed(bytes), events);
            hostBytes += bytes;
            byName.put(name, a);
            if (old != null) {
                old.markRemoved();
            }
            events.adapterLoaded(name, bytes, seconds);
            events.adapterTier(name, "host");
            return a;
        }
    }

    private AdapterWeights onLoader(String name, Path dir) {
        Future<AdapterWeights> f = loader.submit(() -> AdapterWeights.load(name, dir, roots, base, maxRank));
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while loading adapter '" + name + "'", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw new IllegalStateException(e.getCause());
        }
    }

    private synchronized void freed(long bytes) {
        hostBytes -= bytes;
    }

    /** Who hears about loads, removals, pinning and tiers from now on; set before adapters load. */
    public void setEvents(AdapterEvents events) {
        this.events = events;
    }

    /** Takes a reference on the current version of {@code name} for one request. */
    public synchronized Adapter acquire(String name) {
        Adapter a = byName.get(name);
        if (a == null) {
            throw new RegistryException(RegistryException.Kind.NOT_FOUND, "adapter '" + name + "' is not loaded");
        }
        a.retain();
        return a;
    }

    /**
     * Removes {@code name} and returns the version it removed, in one step (a concurrent replace or
     * unload cannot slip between finding and removing); running requests finish on it. Empty when
     * it was not loaded.
     */
    public synchronized Optional<Adapter> unload(String name) {
        Adapter a = byName.remove(name);
        if (a == null) {
            return Optional.empty();
        }
        a.markRemoved();
        events.adapterRemoved(name);
        return Optional.of(a);
    }

    public synchronized Optional<Adapter> get(String name) {
        return Optional.ofNullable(byName.get(name));
    }

    public synchronized boolean contains(String name) {
        return byName.containsKey(name);
    }

    public synchronized List<Adapter> list() {
        List<Adapter> all = new ArrayList<>(byName.values());
        all.sort(Comparator.comparing(Adapter::name));
        return all;
    }

    public synchronized List<String> names() {
        return list().stream().map(Adapter::name).toList();
    }

    public synchronized long hostBytes() {
        return hostBytes;
    }

    public int maxRank() {
        return maxRank;
    }

    /** The directories adapters may be read from. */
    AdapterRoots roots() {
        return roots;
    }

    /** Unloads everything and stops the loader thread. */
    @Override
    public synchronized void close() {
        loader.shutdownNow();
        new ArrayList<>(byName.keySet()).forEach(this::unload);
    }
}
