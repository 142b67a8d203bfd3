package io.loraserve.lora;

import io.loraserve.lora.AdapterException.Reason;
import io.loraserve.lora.AdapterRegistry.RegistryException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;
import java.util.Optional;

/**
 * The directories adapters may be read from ({@code --adapter-root}), and the check every adapter directory and every
 * file read from it passes first.
 *
 * <p>Semantics: a path is judged by where it leads, every {@code ..} and symlink resolved, never by its spelling. A
 * file is checked on its own, not only its directory: {@code ROOT/a/adapter_model.safetensors -> /elsewhere} is
 * refused like {@code /elsewhere} itself, while a link to a file under any root is allowed (a HuggingFace cache's
 * snapshots link to blobs in the same cache). Only regular files are read: a FIFO would block the reader until a
 * writer came. A refusal never says where a link leads, and nothing outside the roots is opened.
 *
 * <p>What remains: the check and the open are two steps, so someone who can write inside a root could swap a checked
 * file for a link in between; writing inside a root is trusted.
 */
final class AdapterRoots {
    /** Links followed through a dangling path before giving up (Linux's limit). */
    private static final int MAX_LINKS = 40;
    private final List<Path> roots;

    /** {@code roots} as given; each is used by its real path when it exists. */
    AdapterRoots(List<Path> roots) {
        this.roots = roots.stream().map(AdapterRoots::realOrSelf).toList();
    }

    /** The real directory of {@code path}, which must lie under a root; relative paths are taken from the first root. */
    Path directory(Path path) {
        Path p = (path.isAbsolute() || roots.isEmpty() ? path : roots.get(0).resolve(path)).toAbsolutePath();
        Path real;
        try {
            real = p.toRealPath();
        } catch (IOException e) {
            // Outside the roots, whether a path exists is not the client's business: judge where it would lead.
            if (!contains(wouldLeadTo(p))) {
                throw outside("adapter path " + path);
            }
            throw new RegistryException(RegistryException.Kind.NO_SUCH_PATH, "adapter path " + path + " does not exist");
        }
        if (!contains(real)) {
            throw outside("adapter path " + path);
        }
        if (!Files.isDirectory(real)) {
            throw new RegistryException(RegistryException.Kind.NO_SUCH_PATH, "adapter path " + path
                    + " is not a directory");
        }
        return real;
    }

    /**
     * The real directory of the adapter called {@code name}: {@code ROOT/<name>} in the first root that has an entry
     * of that name, checked as {@link #directory} checks (a link leading out of every root is refused).
     *
     * @throws RegistryException {@code BAD_NAME} for a name that is not one path element ({@code /}, {@code ..});
     *                           {@code NOT_FOUND} when no root has it; as {@link #directory} otherwise
     */
    Path named(String name) {
        if (!oneElement(name)) {
            throw new RegistryException(RegistryException.Kind.BAD_NAME, "adapter name '" + name + "' is not a"
                    + " directory name: names with '/' or '..' are never looked up under --adapter-root");
        }
        for (Path root : roots) {
            Path candidate = root.resolve(name);
            if (Files.exists(candidate, LinkOption.NOFOLLOW_LINKS)) {
                return directory(candidate);
            }
        }
        throw new RegistryException(RegistryException.Kind.NOT_FOUND, "adapter '" + name + "' is not loaded and no"
                + " --adapter-root holds a directory of that name");
    }

    /** Whether some root has an entry called {@code name} (not followed if it is a link). */
    boolean hasEntry(String name) {
        return oneElement(name) && roots.stream().anyMatch(r -> Files.exists(r.resolve(name), LinkOption.NOFOLLOW_LINKS));
    }

    private static boolean oneElement(String name) {
        return name != null && !name.isEmpty() && !name.contains("/") && !name.contains("\\") && !name.contains("..")
                && !name.equals(".");
    }

    /**
     * The real path of file {@code name} in adapter directory {@code dir}, safe to open; empty when there is no such
     * file (a dangling link whose target would lie under a root counts as none).
     *
     * @throws RegistryException with {@code OUTSIDE_ROOTS} when the file leads outside every root
     * @throws AdapterException  with {@code unreadable} when it is not a regular file or cannot be examined
     */
    Optional<Path> file(String adapter, Path dir, String name, Reason unreadable) {
        Path file = dir.resolve(name);
        Path real;
        try {
            real = file.toRealPath();
        } catch (NoSuchFileException e) {
            if (!contains(wouldLeadTo(file))) {
                throw outside("adapter '" + adapter + "': " + file);
            }
            return Optional.empty();
        } catch (IOException e) {
            throw new AdapterException(adapter, unreadable, "cannot read " + file + ": " + e.getMessage(), e);
        }
        if (!contains(real)) {
            throw outside("adapter '" + adapter + "': " + file);
        }
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(real, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (IOException e) {
            throw new AdapterException(adapter, unreadable, "cannot read " + file + ": " + e.getMessage(), e);
        }
        if (!attributes.isRegularFile()) {
            throw new AdapterException(adapter, unreadable, file + " is not a regular file");
        }
        return Optional.of(real);
    }

    private boolean contains(Path real) {
        return roots.stream().anyMatch(real::startsWith);
    }

    /**
     * Where a path that does not exist would lead: the real path of its deepest existing ancestor (symlinks
     * resolved), then the rest of it with {@code ..} applied; nothing in that rest exists to be a symlink. A dangling
     * link is followed to where it points, for at most {@value #MAX_LINKS} links, as the kernel does.
     */
    private static Path wouldLeadTo(Path absolute) {
        Path path = absolute;
        for (int links = 0; links < MAX_LINKS; links++) {
            Path existing = path;
            while (existing != null && !Files.exists(existing, LinkOption.NOFOLLOW_LINKS)) {
                existing = existing.getParent();
            }
            if (existing == null) {
                return path.normalize();
            }
            try {
                if (!Files.isSymbolicLink(existing)) {
                    return existing.toRealPath().resolve(existing.relativize(path)).normalize();
                }
                Path target = existing.resolveSibling(Files.readSymbolicLink(existing));
                path = target.resolve(existing.relativize(path)).toAbsolutePath();
            } catch (IOException e) {
                return path.normalize();
            }
        }
        return path.normalize();
    }

    private static RegistryException outside(String what) {
        return new RegistryException(RegistryException.Kind.OUTSIDE_ROOTS, what
                + " is outside every --adapter-root; nothing was loaded");
    }

    private static Path realOrSelf(Path p) {
        try {
            return p.toRealPath();
        } catch (IOException e) {
            return p.toAbsolutePath().normalize();
        }
    }
}
