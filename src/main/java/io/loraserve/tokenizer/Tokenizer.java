package io.loraserve.tokenizer;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import jakarta.json.Json;
import jakarta.json.JsonArray;
import jakarta.json.JsonException;
import jakarta.json.JsonNumber;
import jakarta.json.JsonObject;
import jakarta.json.JsonReader;
import jakarta.json.JsonValue;
import java.io.IOException;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReadWriteLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The tokenizer of one model directory: {@code tokenizer.json} run by DJL's binding of the Rust
 * HuggingFace {@code tokenizers} library, plus the fields of {@code tokenizer_config.json} the
 * server needs (BOS/EOS tokens, chat template).
 *
 * <p>Semantics:
 * <ul>
 *   <li>{@link #encode} adds special tokens exactly as {@code tokenizer.json}'s post-processor
 *       does (Llama: {@code <s>} first) and nothing else: no truncation, no padding, no
 *       lower-casing. DJL's own defaults (truncate to 512 tokens, pad to the longest) are switched
 *       off, and DJL's Java-side reading of {@code tokenizer_config.json} (which would turn on
 *       {@code clean_up_tokenization_spaces}, {@code add_prefix_space}, accent stripping) is
 *       bypassed by giving DJL the {@code tokenizer.json} file alone.
 *   <li>{@link #decode} skips special tokens and ignores ids outside the vocabulary, like HF's
 *       {@code decode(ids, skip_special_tokens=True)}.
 *   <li>Thread-safe. DJL's native encode and decode only read the Rust tokenizer (its BPE cache
 *       has its own lock), so HTTP threads run them concurrently without serialising. A
 *       read-write lock lets {@link #close} wait for calls in flight; afterwards every call throws
 *       {@link IllegalStateException} instead of touching freed memory.
 * </ul>
 *
 * <p>Native memory: the DJL tokenizer is a <em>process</em>-lifetime allocation owned by this
 * object; {@code Main} closes it. DJL loads its native library from the {@code tokenizers} jar
 * itself (extracted once to {@code ~/.djl.ai/tokenizers/}, or {@code $DJL_CACHE_DIR} /
 * {@code $ENGINE_CACHE_DIR}; the system temp dir if home is not writable) and never downloads it.
 */
public final class Tokenizer implements AutoCloseable {

    private static final String TOKENIZER_FILE = "tokenizer.json";
    private static final String CONFIG_FILE = "tokenizer_config.json";
    private static final Logger LOG = Logger.getLogger(Tokenizer.class.getName());

    /** DJL options: its defaults would truncate every input to 512 tokens and pad batches. */
    private static final Map<String, String> DJL_OPTIONS =
            Map.of("addSpecialTokens", "true", "truncation", "false", "padding", "false");

    private final HuggingFaceTokenizer hf;
    private final int vocabSize;
    private final TokenBytes tokenBytes;  // null when tokenizer.json's decoder is of another kind
    private final Optional<String> bosToken;
    private final Optional<String> eosToken;
    private final OptionalInt bosId;
    private final OptionalInt eosId;
    private final Optional<String> chatTemplate;
    private final ReadWriteLock lock = new ReentrantReadWriteLock();
    private boolean closed;

    private Tokenizer(HuggingFaceTokenizer hf, int vocabSize, TokenBytes tokenBytes, ConfigFile config) {
        this.hf = hf;
        this.vocabSize = vocabSize;
        this.tokenBytes = tokenBytes;
        this.bosToken = config.bosToken();
        this.eosToken = config.eosToken();
        this.bosId = resolve(config, "bos_token", bosToken);
        this.eosId = resolve(config, "eos_token", eosToken);
        this.chatTemplate = config.chatTemplate();
        config.addBosToken().ifPresent(this::warnIfPostProcessorDisagrees);
    }

    /**
     * Loads {@code modelDir/tokenizer.json} (required) and {@code modelDir/tokenizer_config.json}
     * (optional).
     *
     * @throws TokenizerLoadException naming the file that is missing, unreadable or malformed
     */
    public static Tokenizer load(Path modelDir) {
        Path file = modelDir.resolve(TOKENIZER_FILE);
        JsonObject json = readJsonObject(file);
        ConfigFile config = ConfigFile.read(modelDir.resolve(CONFIG_FILE));
        optOutOfDjlTelemetry();
        HuggingFaceTokenizer hf;
        try {
            hf = HuggingFaceTokenizer.newInstance(file, DJL_OPTIONS);
        } catch (IOException | RuntimeException e) {
            throw new TokenizerLoadException(
                    file, "not a HuggingFace tokenizer: " + e.getMessage(), e);
        }
        try {
            int size = vocabSize(file, json);
            return new Tokenizer(hf, size, TokenBytes.read(json, size), config);
        } catch (RuntimeException e) {
            hf.close();
            throw e;
        }
    }

    /** Token ids of {@code text}, with the special tokens the post-processor adds. */
    public int[] encode(String text) {
        return encode(text, true);
    }

    /** Token ids of {@code text} alone, e.g. for a rendered chat template that holds its BOS. */
    public int[] encodeWithoutSpecial(String text) {
        return encode(text, false);
    }

    /** The text of {@code ids}, special tokens skipped. */
    public String decode(int[] ids) {
        return decode(ids, 0, ids.length, true);
    }

    /**
     * The text of one token, for logprobs display. Special tokens show as themselves
     * ({@code "</s>"}); a token holding part of a multi-byte UTF-8 character shows as U+FFFD.
     */
    public String tokenText(int id) {
        return decode(new int[] {id}, 0, 1, false);
    }

    /**
     * The raw bytes of one token: part of a multi-byte character for some tokens, so their
     * concatenation over a sequence is its UTF-8 text. For a vocabulary whose byte encoding this
     * class does not know, the UTF-8 of {@link #tokenText}.
     */
    public byte[] tokenBytes(int id) {
        byte[] raw = tokenBytes == null ? null : tokenBytes.of(id);
        return raw != null ? raw : tokenText(id).getBytes(StandardCharsets.UTF_8);
    }

    /** Number of token ids: one past the largest id of the model vocabulary and added tokens. */
    public int vocabSize() {
        return vocabSize;
    }

    /** {@code bos_token} of {@code tokenizer_config.json}, for chat templates. */
    public Optional<String> bosToken() {
        return bosToken;
    }

    /** {@code eos_token} of {@code tokenizer_config.json}, for chat templates. */
    public Optional<String> eosToken() {
        return eosToken;
    }

    /** Id of {@link #bosToken()}; empty without a config file or when the model has no BOS. */
    public OptionalInt bosId() {
        return bosId;
    }

    /** Id of {@link #eosToken()}; empty without a config file. */
    public OptionalInt eosId() {
        return eosId;
    }

    /** The raw Jinja {@code chat_template} of {@code tokenizer_config.json}, if it has one. */
    public Optional<String> chatTemplate() {
        return chatTemplate;
    }

    /**
     * A detokenizer for one generated sequence; {@code promptIds} give it left context (see
     * {@link IncrementalDecoder}).
     */
    public IncrementalDecoder newIncrementalDecoder(int[] promptIds) {
        return new IncrementalDecoder(this, promptIds);
    }

    /** Frees the native tokenizer once calls in flight have returned. */
    @Override
    public void close() {
        Lock write = lock.writeLock();
        write.lock();
        try {
            if (!closed) {
                closed = true;
                hf.close();
            }
        } finally {
            write.unlock();
        }
    }

    /** Text of {@code ids[from, to)}; the incremental decoder's window. */
    String decode(int[] ids, int from, int to, boolean skipSpecial) {
        long[] longIds = new long[to - from];
        for (int i = from; i < to; i++) {
            longIds[i - from] = ids[i];
        }
        Lock read = lock.readLock();
        read.lock();
        try {
            checkOpen();
            return hf.decode(longIds, skipSpecial);
        } finally {
            read.unlock();
        }
    }

    private int[] encode(String text, boolean addSpecial) {
        Objects.requireNonNull(text, "text");
        long[] ids;
        Lock read = lock.readLock();
        read.lock();
        try {
            checkOpen();
            ids = hf.encode(text, addSpecial, false).getIds();
        } finally {
            read.unlock();
        }
        return Arrays.stream(ids).mapToInt(Math::toIntExact).toArray();
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("tokenizer is closed");
        }
    }

    /** The id of a special token named in the config: it must encode to exactly one id. */
    private OptionalInt resolve(ConfigFile config, String key, Optional<String> token) {
        if (token.isEmpty()) {
            return OptionalInt.empty();
        }
        int[] ids = encodeWithoutSpecial(token.get());
        if (ids.length != 1) {
            throw new TokenizerLoadException(
                    config.file(),
                    key + " \"" + token.get() + "\" is not one token of " + TOKENIZER_FILE
                            + " but " + ids.length);
        }
        return OptionalInt.of(ids[0]);
    }

    /**
     * HF's Python {@code LlamaTokenizerFast} rebuilds the post-processor from
     * {@code add_bos_token}; the Rust library, and so this class, follows {@code tokenizer.json}.
     * Say so when the two differ.
     */
    private void warnIfPostProcessorDisagrees(boolean addBosToken) {
        if (bosId.isEmpty()) {
            return;
        }
        int[] empty = encode("");
        boolean addsBos = empty.length > 0 && empty[0] == bosId.getAsInt();
        if (addsBos != addBosToken) {
            LOG.log(
                    Level.WARNING,
                    "{0} says add_bos_token={1} but the post-processor of {2} {3} the BOS token;"
                            + " following {2}",
                    new Object[] {
                        CONFIG_FILE, addBosToken, TOKENIZER_FILE, addsBos ? "adds" : "does not add"
                    });
        }
    }

    private static int vocabSize(Path file, JsonObject json) {
        int size = 0;
        JsonValue vocab = json.getJsonObject("model").get("vocab");
        if (vocab instanceof JsonObject idsByToken) {
            for (JsonValue id : idsByToken.values()) {
                size = Math.max(size, ((JsonNumber) id).intValue() + 1);
            }
        } else if (vocab instanceof JsonArray unigramPieces) {
            size = unigramPieces.size();
        } else {
            throw new TokenizerLoadException(file, "model.vocab is neither an object nor a list");
        }
        for (JsonValue added : json.getOrDefault("added_tokens", JsonValue.EMPTY_JSON_ARRAY)
                .asJsonArray()) {
            size = Math.max(size, added.asJsonObject().getInt("id") + 1);
        }
        return size;
    }

    /** Reads a JSON object file; every failure names the file. */
    static JsonObject readJsonObject(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw new TokenizerLoadException(file, "file not found", e);
        } catch (IOException e) {
            throw new TokenizerLoadException(file, "cannot be read: " + e, e);
        }
        try (JsonReader reader = Json.createReader(new StringReader(text))) {
            return reader.readObject();
        } catch (JsonException | IllegalStateException e) {
            throw new TokenizerLoadException(file, "not a JSON object: " + e.getMessage(), e);
        }
    }

    /**
     * DJL probes the EC2 metadata endpoint and posts usage telemetry on every tokenizer creation
     * ({@code Ec2Utils.callHome}, up to seconds of connect timeouts when offline) unless
     * {@code OPT_OUT_TRACKING} or {@code DJL_OFFLINE} is set. loraserve makes no network calls of
     * its own, so it opts out unless the operator chose otherwise.
     */
    private static void optOutOfDjlTelemetry() {
        if (System.getenv("OPT_OUT_TRACKING") == null
                && System.getProperty("OPT_OUT_TRACKING") == null) {
            System.setProperty("OPT_OUT_TRACKING", "true");
        }
    }
}
