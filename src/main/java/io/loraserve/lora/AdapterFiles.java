package io.loraserve.lora;

import io.loraserve.lora.AdapterException.Reason;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What an adapter's two files looked like when they were read: each one's real path, size and modification time.
 * An adapter whose host copy was dropped is read again only when its files still look like this, so the weights a
 * name serves never change behind the operator's back.
 *
 * <p>Semantics: taken through {@link AdapterRoots#file}, so nothing outside the roots is examined; a missing file is
 * recorded as missing (size -1). Taken before and after a read, two equal stamps say the read saw one version.
 */
record AdapterFiles(List<Stamp> stamps) {
    /** One file: where it leads, its size in bytes (-1 when missing) and its modification time in ns since the epoch. */
    record Stamp(String name, Path real, long size, long modifiedNanos) {
    }

    static AdapterFiles of(String adapter, Path dir, AdapterRoots roots) {
        List<Stamp> stamps = new ArrayList<>();
        for (String file : List.of(AdapterWeights.CONFIG, AdapterWeights.FILE)) {
            Reason unreadable = file.equals(AdapterWeights.CONFIG) ? Reason.CONFIG_UNREADABLE : Reason.WEIGHTS_UNREADABLE;
            Optional<Path> real = roots.file(adapter, dir, file, unreadable);
            if (real.isEmpty()) {
                stamps.add(new Stamp(file, null, -1, 0));
                continue;
            }
            try {
                BasicFileAttributes a = Files.readAttributes(real.get(), BasicFileAttributes.class,
                        LinkOption.NOFOLLOW_LINKS);
                stamps.add(new Stamp(file, real.get(), a.size(), a.lastModifiedTime().toInstant().getEpochSecond()
                        * 1_000_000_000L + a.lastModifiedTime().toInstant().getNano()));
            } catch (IOException e) {
                throw new AdapterException(adapter, unreadable, "cannot examine " + real.get() + ": "
                        + e.getMessage(), e);
            }
        }
        return new AdapterFiles(List.copyOf(stamps));
    }

    /**
     * Refuses files that no longer look as they did when {@code adapter} was loaded, naming the first difference.
     *
     * @throws AdapterException with {@link Reason#FILES_CHANGED}
     */
    void requireSame(String adapter, Path dir, AdapterFiles now) {
        for (int i = 0; i < stamps.size(); i++) {
            Stamp was = stamps.get(i);
            Stamp is = now.stamps.get(i);
            String change = null;
            if (is.size() < 0) {
                change = "no longer exists";
            } else if (!is.real().equals(was.real())) {
                change = "now leads to another file";
            } else if (is.size() != was.size()) {
                change = "changed size (" + was.size() + " bytes when loaded, " + is.size() + " now)";
            } else if (is.modifiedNanos() != was.modifiedNanos()) {
                change = "was modified since it was loaded";
            }
            if (change != null) {
                throw new AdapterException(adapter, Reason.FILES_CHANGED, dir.resolve(was.name()) + " " + change
                        + "; its host copy had been dropped to make room and is not re-read from changed files:"
                        + " load the adapter again (POST /admin/adapters with \"replace\": true, or"
                        + " /v1/load_lora_adapter with \"load_inplace\": true)");
            }
        }
    }
}
