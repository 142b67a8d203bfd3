package io.loraserve.tokenizer;

import java.nio.file.Path;

/**
 * A tokenizer file of a model directory is missing or unusable. The message always starts with
 * the file's path, so a start-up failure points at the file to fix.
 */
public final class TokenizerLoadException extends IllegalArgumentException {

    private final transient Path file;

    TokenizerLoadException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
        this.file = file;
    }

    TokenizerLoadException(Path file, String problem) {
        this(file, problem, null);
    }

    /** The file that could not be loaded. */
    public Path file() {
        return file;
    }
}
