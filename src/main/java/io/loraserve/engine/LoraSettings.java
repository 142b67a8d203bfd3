package io.loraserve.engine;

import java.nio.file.Path;
import java.util.List;

/**
 * Adapter capacity ({@code --max-adapters}, {@code --max-lora-rank}, {@code --max-cpu-adapter-bytes},
 * {@code --adapter-root}). Defaults: {@link RuntimeSettings#builder()}.
 *
 * @param maxAdapters  adapters resident on the device at once (device slots)
 * @param maxRank      largest adapter rank accepted; sizes the device slots
 * @param maxHostBytes host memory for registered adapters' weights
 * @param roots        directories adapters may be loaded from
 */
public record LoraSettings(int maxAdapters, int maxRank, long maxHostBytes, List<Path> roots) {
    public LoraSettings {
        roots = List.copyOf(roots);
    }
}
