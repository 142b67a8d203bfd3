package io.loraserve.lora;

/**
 * An adapter that cannot be served, and why. The message always names the adapter, the module or config field
 * when one is at fault, and the reason; {@link #reason()} lets callers branch without parsing it.
 */
public final class AdapterException extends RuntimeException {

    /** Why an adapter was refused. */
    public enum Reason {
        /** {@code adapter_config.json} is missing, not a regular file, or cannot be read. */
        CONFIG_UNREADABLE,
        /** {@code adapter_config.json} is larger than any real config (a few kilobytes); it is not read. */
        CONFIG_TOO_LARGE,
        /** The file is not a JSON object (or nests deeper than any config does). */
        MALFORMED_JSON,
        /** A field PEFT always writes and we cannot guess is absent. */
        MISSING_FIELD,
        /** A field has the wrong JSON type, e.g. {@code "r": "eight"}. */
        WRONG_TYPE,
        /** {@code peft_type} is not {@code LORA}. */
        NOT_LORA,
        /** A PEFT option that changes the math or adds weights we do not serve (DoRA, bias, modules_to_save…). */
        UNSUPPORTED_FEATURE,
        /** A rank that is not a positive integer. */
        INVALID_RANK,
        /** An alpha that is not a finite positive number. */
        INVALID_ALPHA,
        /** A regular expression that does not compile. */
        INVALID_PATTERN,
        /** Two options PEFT itself refuses to combine. */
        CONFLICTING_OPTIONS,
        /** A target that is not one of the seven decoder linears (embed_tokens, lm_head, a norm…). */
        UNSUPPORTED_TARGET,
        /** A listed target that matches no module of the base model, or a config that targets nothing. */
        UNMATCHED_TARGET,
        /** {@code layers_to_transform} names a layer the base model does not have. */
        LAYER_OUT_OF_RANGE,
        /** Only a pickle checkpoint ({@code adapter_model.bin}); safetensors is required. */
        PICKLE_ONLY,
        /** {@code adapter_model.safetensors} is missing, not a regular file, truncated or has a corrupt header. */
        WEIGHTS_UNREADABLE,
        /** A targeted module has no lora_A or no lora_B tensor. */
        MISSING_WEIGHT,
        /** A tensor the config does not explain: another module, a bias, an embedding, a DoRA magnitude… */
        UNEXPECTED_WEIGHT,
        /** A tensor's shape does not fit the base model (trained for another base). */
        SHAPE_MISMATCH,
        /** A tensor's rank differs from the rank the config (or its rank_pattern) gives. */
        RANK_MISMATCH,
        /** A tensor holds NaN or infinity. */
        NON_FINITE,
        /** A rank above the server's {@code --max-lora-rank}. */
        RANK_TOO_LARGE,
        /** A file of an adapter whose host copy was dropped changed or vanished before it was read again. */
        FILES_CHANGED
    }

    private final String adapter;
    private final Reason reason;

    AdapterException(String adapter, Reason reason, String detail) {
        super("adapter '" + adapter + "': " + detail + " [" + reason + "]");
        this.adapter = adapter;
        this.reason = reason;
    }

    AdapterException(String adapter, Reason reason, String detail, Throwable cause) {
        this(adapter, reason, detail);
        initCause(cause);
    }

    public String adapter() {
        return adapter;
    }

    public Reason reason() {
        return reason;
    }
}
