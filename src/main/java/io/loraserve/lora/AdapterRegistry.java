package io.loraserve.lora;

import io.loraserve.model.ModelConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;
import java.util.logging.Logger;
import java.util.regex.Pattern;

/**
 * The catalogue of adapters: name → current version. Where each version's weights live (disk, host copy, device
 * slot, merged) is its {@link AdapterPlacement}'s to decide and count; this class loads, reads again and removes.
 *
 * <p>Semantics: loading (disk → host tensors → validation) runs on this registry's own loader thread, never on the
 * engine thread, and either registers a complete, valid adapter or leaves the catalogue unchanged. Adapters load only
 * from under the configured roots: the directory and every file read from it, after resolving {@code ..} and
 * symlinks ({@link AdapterRoots}). The sum of host copies' bytes, replaced versions still running included, stays
 * under the placement's {@code --max-cpu-adapter-bytes}: room is made by dropping the least recently used idle copy, which the next request
 * reads again from unchanged files. With {@link #loadOnFirstUse}, acquiring a name that is not registered but is a
 * directory {@code ROOT/<name>} loads it there and then; concurrent acquirers share that one load and its failure,
 * and a failed load is forgotten, so the next acquire tries again. Thread-safe.
 */
public final class AdapterRegistry implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(AdapterRegistry.class.getName());
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    /** Names /metrics uses for the base model and for adapters past the label cap. */
    private static final List<String> RESERVED = List.of("base", "other");
    /** How often an acquire follows a name that a concurrent unload or replace moved meanwhile. */
    private static final int ATTEMPTS = 3;

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
    private final AdapterPlacement placement;
    private final Map<String, Adapter> byName = new LinkedHashMap<>();
    /** Loads on first use under way, by name; guarded by this. */
    private final Map<String, CompletableFuture<Adapter>> firstUse = new HashMap<>();
    private final ExecutorService loader = Executors.newSingleThreadExecutor(r -> {
        Thread t = new Thread(r, "adapter-loader");
        t.setDaemon(true);
        return t;
    });
    private final AtomicLong versions = new AtomicLong();
    private volatile AdapterEvents events = AdapterEvents.NONE;
    private volatile boolean onFirstUse;

    /**
     * @param roots     the only directories adapters may be loaded from
     * @param placement where the adapters' weights live; it holds the host tier's byte cap
     */
    public AdapterRegistry(ModelConfig base, String baseName, List<Path> roots, int maxRank, AdapterPlacement placement) {
        this.base = base;
        this.baseName = baseName;
        this.roots = new AdapterRoots(roots);
        this.maxRank = maxRank;
        this.placement = placement;
    }

    /** From now on, {@link #acquire} loads a name that is not registered from {@code ROOT/<name>} when there is one. */
    public void loadOnFirstUse(boolean on) {
        onFirstUse = on;
    }

    /**
     * Loads {@code path} as {@code name}. With {@code replace}, an existing name gets the new
     * weights for new requests while running ones finish on the old.
     *
     * @throws RegistryException for a bad name, a path outside the roots, a taken name, or no room
     * @throws AdapterException  for an adapter that does not fit the base model
     */
    public Adapter load(String name, Path path, boolean replace) {
        return load(name, path, replace, false);
    }

    private Adapter load(String name, Path path, boolean replace, boolean onDemand) {
        checkName(name);
        Path dir = roots.directory(path);
        synchronized (this) {
            if (byName.containsKey(name) && !replace) {
                throw new RegistryException(RegistryException.Kind.EXISTS, "adapter '" + name + "' is already loaded"
                        + " (from " + byName.get(name).path() + "); pass \"replace\": true to replace it");
            }
        }
        long start = System.nanoTime();
        Read read = await(onLoader(() -> read(name, dir, null)));
        double seconds = (System.nanoTime() - start) / 1e9;
        AdapterWeights weights = read.weights();
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
            long freedByReplace = oldFreedNow && !old.tier().equals(AdapterEvents.DISK) ? old.bytes() : 0;
            Adapter a = new Adapter(name, dir, weights, read.files(), versions.incrementAndGet(), seconds, onDemand,
                    placement, events);
            try {
                placement.admitHost(a, weights.bytes(), freedByReplace, old != null && !oldFreedNow
                        ? " (the version it replaces counts until its " + old.inFlight() + " running requests end)" : "");
            } catch (RegistryException e) {
                weights.close();
                throw e;
            }
            if (old != null) {
                placement.replaced(old, a);  // before any request can take the new version
            }
            byName.put(name, a);
            if (old != null) {
                old.markRemoved();
            }
            events.adapterLoaded(name, weights.bytes(), seconds);
            events.adapterTier(name, AdapterEvents.HOST);
            return a;
        }
    }

    private void checkName(String name) {
        if (name == null || !NAME.matcher(name).matches() || name.equals(baseName) || RESERVED.contains(name)) {
            throw new RegistryException(RegistryException.Kind.BAD_NAME, "adapter name '" + name + "' must be 1-64"
                    + " letters, digits, '.', '_' or '-', start with a letter or digit, and differ from the base"
                    + " model's name and from " + String.join(", ", RESERVED) + " (metric labels of their own)");
        }
    }

    /** A host copy as read, and the files it was read from, unchanged during the read. */
    private record Read(AdapterWeights weights, AdapterFiles files) {
    }

    /**
     * Reads {@code dir} (on the loader thread). With {@code expected}, the files must still look as they did then,
     * before and after the read.
     */
    private Read read(String name, Path dir, AdapterFiles expected) {
        AdapterFiles before = AdapterFiles.of(name, dir, roots);
        if (expected != null) {
            expected.requireSame(name, dir, before);
        }
        AdapterWeights w = AdapterWeights.load(name, dir, roots, base, maxRank);
        try {
            before.requireSame(name, dir, AdapterFiles.of(name, dir, roots));
        } catch (RuntimeException e) {
            w.close();
            throw e;
        }
        return new Read(w, before);
    }

    private <T> CompletableFuture<T> onLoader(Supplier<T> task) {
        return CompletableFuture.supplyAsync(task, loader);
    }

    /** Runs {@code task} on the loader thread after the reads queued before it (tests hold reads back with it). */
    void onLoaderThread(Runnable task) {
        loader.execute(task);
    }

    /** The result of {@code f}, or the exception it failed with, as thrown where it happened. */
    private static <T> T await(CompletableFuture<T> f) {
        try {
            return f.join();
        } catch (CompletionException e) {
            throw e.getCause() instanceof RuntimeException re ? re : e;
        }
    }

    /** Who hears about loads, removals, pinning and every tier (its placement's too) from now on; set before adapters load. */
    public void setEvents(AdapterEvents events) {
        this.events = events;
        placement.setEvents(events);
    }

    /**
     * Takes a reference on the current version of {@code name} for one request, its host copy present: read again
     * from disk when it had been dropped, or, with {@link #loadOnFirstUse}, the whole adapter loaded from
     * {@code ROOT/<name>} when the name is not registered. Blocks the caller (never the engine) meanwhile.
     *
     * @throws RegistryException {@code NOT_FOUND} when the name is neither registered nor (loading on first use) a
     *                           directory under a root; as {@link #load} for a load on first use that fails; {@code
     *                           CAPACITY} when no idle host copy can make room
     * @throws AdapterException  for an adapter that does not fit the base model, or whose files changed on disk
     */
    public Adapter acquire(String name) {
        for (int attempt = 1; ; attempt++) {
            Adapter a;
            boolean present;
            synchronized (this) {
                a = byName.get(name);
                present = a != null && a.lease();
            }
            if (a == null) {
                if (!onFirstUse || attempt > ATTEMPTS) {
                    throw notLoaded(name);
                }
                loadFirstUse(name);
                continue;
            }
            if (present) {
                placement.hostHit(a);
                return a;
            }
            try {
                long start = System.nanoTime();
                a.awaitHostCopy(() -> onLoader(() -> reread(a)));
                placement.hostMiss(a, (System.nanoTime() - start) / 1e9);
                return a;
            } catch (RuntimeException e) {
                a.release();
                throw e;
            }
        }
    }

    /** Reads {@code a}'s dropped host copy again (on the loader thread) and counts it in the host tier. */
    private AdapterWeights reread(Adapter a) {
        AdapterWeights w = read(a.name(), a.path(), a.files()).weights();
        try {
            placement.admitHost(a, w.bytes(), 0, "");
        } catch (RuntimeException e) {
            w.close();
            throw e;
        }
        return w;
    }

    /**
     * Loads {@code name} from under a root, or waits for the load another acquirer started; either way the result
     * (or failure) is that one load's. The failed load is forgotten before anyone hears of it.
     */
    private void loadFirstUse(String name) {
        CompletableFuture<Adapter> load;
        boolean mine;
        synchronized (this) {
            if (byName.containsKey(name)) {
                return;
            }
            load = firstUse.get(name);
            mine = load == null;
            if (mine) {
                load = new CompletableFuture<>();
                firstUse.put(name, load);
            }
        }
        if (mine) {
            Adapter loaded = null;
            RuntimeException failure = null;
            try {
                checkName(name);
                loaded = load(name, roots.named(name), false, true);
                events.tierMiss(AdapterEvents.HOST, loaded.loadSeconds());
            } catch (RegistryException e) {
                failure = e.kind() == RegistryException.Kind.EXISTS ? null : e;  // loaded meanwhile: use that
            } catch (RuntimeException e) {
                failure = e;
            }
            synchronized (this) {
                firstUse.remove(name);
            }
            if (failure != null) {
                load.completeExceptionally(failure);
            } else {
                load.complete(loaded);
                LOG.fine(() -> "adapter '" + name + "' loaded on first use");
            }
        }
        await(load);
    }

    /**
     * Whether a request may name {@code name}: registered, or (loading on first use) a valid name with an entry of
     * that name in a root. Looks no further than the roots' own listings.
     */
    public boolean servable(String name) {
        synchronized (this) {
            if (byName.containsKey(name)) {
                return true;
            }
        }
        return onFirstUse && name != null && NAME.matcher(name).matches() && !name.contains("..")
                && roots.hasEntry(name);
    }

    private static RegistryException notLoaded(String name) {
        return new RegistryException(RegistryException.Kind.NOT_FOUND, "adapter '" + name + "' is not loaded");
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

    /** Bytes of the host copies held now. */
    public long hostBytes() {
        return placement.hostBytes();
    }

    /** {@code --max-cpu-adapter-bytes}: the most the host copies may hold. */
    public long maxHostBytes() {
        return placement.hostCapacity();
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
