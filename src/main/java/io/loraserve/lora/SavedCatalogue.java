package io.loraserve.lora;

import io.loraserve.lora.AdapterException.Reason;
import io.loraserve.lora.AdapterRegistry.RegistryException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.EnumMap;
import java.util.HexFormat;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * The adapter catalogue kept in {@code --state-dir}, so that a restart, even after {@code kill -9}, serves the adapters
 * that were registered and pinned.
 *
 * <p>Semantics: {@link #save} writes the registry's current set — name, real directory, pinned, the SHA-256 of its
 * {@code adapter_config.json} and {@code adapter_model.safetensors} — through {@link CatalogueFile} (atomic, durable),
 * and returns only once it is on disk; the admin API answers a change after saving it. Saves are serialized and each
 * takes its snapshot inside the lock, so the last save to finish holds every change acknowledged before it started.
 * Nothing is written when the set is what was last written, and unloading at shutdown saves nothing.
 *
 * <p>{@link #restore} runs at start-up before the server listens: adapters already registered (the command line's)
 * win on a name clash; every other entry is re-checked like any load (the roots, then the files' digest, then the
 * load itself) and skipped with a log line when its files are gone, changed or refused; pinned entries are pinned
 * before it returns. An unusable state file is set aside with a warning and the server starts without it.
 *
 * <p>One process per directory: {@link #open} locks {@code DIR/lock} until {@link #close}; the OS drops the lock
 * when the process dies.
 */
public final class SavedCatalogue implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(SavedCatalogue.class.getName());

    private final AdapterRegistry registry;
    private final CatalogueFile file;
    private final FileChannel lockFile;
    private final FileLock lock;
    /** The digest of each registered version, computed once. */
    private final Map<Adapter, String> digests = new IdentityHashMap<>();
    private List<CatalogueFile.Entry> written;

    private SavedCatalogue(AdapterRegistry registry, CatalogueFile file, FileChannel lockFile, FileLock lock) {
        this.registry = registry;
        this.file = file;
        this.lockFile = lockFile;
        this.lock = lock;
    }

    /**
     * The catalogue of {@code registry} saved in {@code dir} (created if missing).
     *
     * @throws IllegalStateException when the directory cannot be used or another process holds it
     */
    public static SavedCatalogue open(Path dir, AdapterRegistry registry) {
        FileChannel channel = null;
        try {
            Files.createDirectories(dir);
            channel = FileChannel.open(dir.resolve("lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock lock = tryLock(channel);
            if (lock == null) {
                throw new IllegalStateException("--state-dir " + dir + " is in use by another loraserve");
            }
            return new SavedCatalogue(registry, new CatalogueFile(dir), channel, lock);
        } catch (IOException e) {
            closeQuietly(channel);
            throw new IllegalStateException("--state-dir " + dir + " cannot be used: " + e, e);
        } catch (RuntimeException e) {
            closeQuietly(channel);
            throw e;
        }
    }

    /** The lock, or null when another process, or this one, holds it. */
    private static FileLock tryLock(FileChannel channel) throws IOException {
        try {
            return channel.tryLock();
        } catch (OverlappingFileLockException e) {
            return null;
        }
    }

    /**
     * Registers and pins what the state file lists (see the class comment), then saves the resulting catalogue.
     *
     * @param pin pins the named adapter and returns once it serves pinned
     */
    public void restore(Consumer<String> pin) {
        List<CatalogueFile.Entry> entries = List.of();
        try {
            entries = file.read();
        } catch (CatalogueFile.Unreadable e) {
            String aside = setAside();
            LOG.warning(() -> "--state-dir: " + file.path() + " cannot be used (" + e.getMessage() + "); " + aside
                    + "; starting without the saved adapters");
        }
        Map<Outcome, Integer> outcomes = new EnumMap<>(Outcome.class);
        for (CatalogueFile.Entry e : entries) {
            outcomes.merge(restore(e, pin), 1, Integer::sum);
        }
        int saved = entries.size();
        LOG.info(() -> "--state-dir " + file.path().getParent() + ": " + saved + " saved adapters, "
                + outcomes.getOrDefault(Outcome.RESTORED, 0) + " restored, "
                + outcomes.getOrDefault(Outcome.ON_COMMAND_LINE, 0) + " already loaded by --adapter, "
                + outcomes.getOrDefault(Outcome.SKIPPED, 0) + " skipped");
        save();
    }

    /** What became of one saved entry at start-up. */
    private enum Outcome { RESTORED, ON_COMMAND_LINE, SKIPPED }

    private String setAside() {
        try {
            return "kept as " + file.setAside();
        } catch (IOException e) {
            return "could not set it aside (" + e + "), the next save replaces it";
        }
    }

    /**
     * Registers {@code e} unless the command line already did; a pinned entry is pinned either way when the
     * directory is the same.
     */
    private Outcome restore(CatalogueFile.Entry e, Consumer<String> pin) {
        String what = "saved adapter '" + e.name() + "' (" + e.path() + ")";
        Optional<Adapter> present = registry.get(e.name());
        if (present.isPresent() && !present.get().path().equals(e.path())) {
            LOG.warning(() -> what + " not restored: --adapter loads '" + e.name() + "' from "
                    + present.get().path() + ", and --adapter wins");
            return Outcome.SKIPPED;
        }
        if (present.isEmpty()) {
            try {
                if (!sha256(registry.roots(), e.name(), e.path()).equals(e.sha256())) {
                    LOG.warning(() -> what + " skipped: its files changed since it was registered");
                    return Outcome.SKIPPED;
                }
                registry.load(e.name(), e.path(), false);
            } catch (RegistryException | AdapterException ex) {
                LOG.warning(() -> what + " skipped: " + ex.getMessage());
                return Outcome.SKIPPED;
            }
        }
        if (e.pinned()) {
            try {
                pin.accept(e.name());
            } catch (RuntimeException ex) {
                LOG.warning(() -> what + " registered but not pinned: " + ex.getMessage());
            }
        }
        if (present.isPresent()) {
            if (e.pinned()) {
                LOG.info(() -> what + " is loaded by --adapter; pinned as saved");
            }
            return Outcome.ON_COMMAND_LINE;
        }
        LOG.info(() -> "restored " + what + (e.pinned() ? ", pinned" : ""));
        return Outcome.RESTORED;
    }

    /**
     * Writes the registry's current set unless it is what was last written; returns once it is durable.
     *
     * @throws UncheckedIOException when it cannot be written (the change stands, but a restart would lose it)
     */
    public synchronized void save() {
        // Adapters loaded on first use come back on their next use; one an operator pinned is kept like any other.
        List<Adapter> adapters = registry.list().stream().filter(a -> !a.onDemand() || a.pinned()).toList();
        digests.keySet().retainAll(adapters);
        List<CatalogueFile.Entry> now = adapters.stream()
                .map(a -> new CatalogueFile.Entry(a.name(), a.path(), a.pinned(), digest(a))).toList();
        if (now.equals(written)) {
            return;
        }
        try {
            file.write(now);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file.path() + ": " + e, e);
        }
        written = now;
    }

    private String digest(Adapter a) {
        return digests.computeIfAbsent(a, v -> sha256(registry.roots(), v.name(), v.path()));
    }

    /**
     * The SHA-256 of an adapter's config and weights files (each preceded by its name and length), reached through
     * {@code roots} like any load: nothing outside them is opened.
     */
    static String sha256(AdapterRoots roots, String name, Path path) {
        Path dir = roots.directory(path);
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java has SHA-256", e);
        }
        byte[] buffer = new byte[1 << 16];
        for (String fileName : List.of(AdapterWeights.CONFIG, AdapterWeights.FILE)) {
            Reason unreadable = fileName.equals(AdapterWeights.CONFIG) ? Reason.CONFIG_UNREADABLE
                    : Reason.WEIGHTS_UNREADABLE;
            Path f = roots.file(name, dir, fileName, unreadable).orElseThrow(() -> new AdapterException(name,
                    unreadable, "no such file " + dir.resolve(fileName)));
            try (InputStream in = Files.newInputStream(f)) {
                sha.update(fileName.getBytes(StandardCharsets.UTF_8));
                sha.update(ByteBuffer.allocate(Long.BYTES).putLong(Files.size(f)).flip());
                for (int n; (n = in.read(buffer)) > 0; ) {
                    sha.update(buffer, 0, n);
                }
            } catch (IOException e) {
                throw new AdapterException(name, unreadable, "cannot read " + f + ": " + e, e);
            }
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    /** Releases the directory. */
    @Override
    public void close() {
        try {
            lock.release();
        } catch (IOException e) {
            LOG.fine(() -> "releasing the --state-dir lock: " + e);
        }
        closeQuietly(lockFile);
    }

    private static void closeQuietly(FileChannel channel) {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException e) {
                LOG.fine(() -> "closing " + channel + ": " + e);
            }
        }
    }
}
