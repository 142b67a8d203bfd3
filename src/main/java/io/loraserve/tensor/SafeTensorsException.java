package io.loraserve.tensor;

import java.nio.file.Path;

/** A safetensors file that cannot be read: its message names the file and what is wrong. */
public final class SafeTensorsException extends RuntimeException {
    public SafeTensorsException(Path file, String reason) {
        super(file + ": " + reason);
    }

    public SafeTensorsException(Path file, String reason, Throwable cause) {
        super(file + ": " + reason, cause);
    }
}
