package io.loraserve.config;

import java.util.Optional;

/**
 * Option values set outside the command line, looked up by flag name ({@code port},
 * {@code api-key}): a config file, the environment. The server supplies Helidon's config
 * ({@code LoraServer.optionSource}); {@link #NONE} sets nothing.
 */
@FunctionalInterface
public interface OptionSource {
    OptionSource NONE = flag -> Optional.empty();

    /** The value configured for {@code flag}, if any. */
    Optional<String> value(String flag);
}
