package io.loraserve.tokenizer;

import java.util.Arrays;

/**
 * Turns one sequence's generated token ids, fed one at a time, into the text to stream, the way
 * vLLM and text-generation-inference do: decode a short window of recent tokens with and without
 * the new ones, and emit the difference.
 *
 * <p>Owns the sequence's token ids (a few prompt tokens of left context, then every generated
 * id) and two offsets into them: text of {@code ids[prefixOffset, readOffset)} has been emitted
 * (or is prompt context), and {@code ids[readOffset, size)} is held back. Invariants:
 * <ul>
 *   <li>Nothing ending in U+FFFD is emitted before {@link #flush}: with byte-level BPE a token can
 *       be part of a multi-byte UTF-8 character, which decodes as U+FFFD until the rest arrives.
 *       So {@code readOffset} always sits on a character boundary.
 *   <li>For tokenizers whose decoder needs no left context (byte-level BPE, as the fixtures),
 *       the pushes and the flush concatenate to exactly {@code tokenizer.decode(generatedIds)}.
 *       The prompt context is for SentencePiece-style decoders, which drop a word's leading space
 *       at the start of a text; with context the first generated word keeps it.
 * </ul>
 *
 * <p>Not thread-safe: one instance per sequence, used by whoever streams that sequence.
 */
public final class IncrementalDecoder {

    /** Prompt tokens kept as left context (vLLM's initial detokenization offset). */
    private static final int PROMPT_CONTEXT = 5;

    private static final String REPLACEMENT = "\uFFFD";

    private final Tokenizer tokenizer;
    private int[] ids;
    private int size;
    private int prefixOffset;
    private int readOffset;
    private int textOffset;
    private boolean flushed;

    IncrementalDecoder(Tokenizer tokenizer, int[] promptIds) {
        this.tokenizer = tokenizer;
        int contextStart = Math.max(0, promptIds.length - PROMPT_CONTEXT);
        int[] context = Arrays.copyOfRange(promptIds, contextStart, promptIds.length);
        // A prompt given as ids may end inside a character; such context would swallow its rest.
        if (tokenizer.decode(context).endsWith(REPLACEMENT)) {
            context = new int[0];
        }
        this.ids = Arrays.copyOf(context, context.length + 16);
        this.size = context.length;
        this.readOffset = context.length;
    }

    /** Adds one generated token; returns the text it completes, possibly empty. */
    public String push(int id) {
        if (flushed) {
            throw new IllegalStateException("push after flush");
        }
        if (size == ids.length) {
            ids = Arrays.copyOf(ids, 2 * size);
        }
        ids[size++] = id;
        String prefix = tokenizer.decode(ids, prefixOffset, readOffset, true);
        String text = tokenizer.decode(ids, prefixOffset, size, true);
        if (text.length() <= prefix.length() || text.endsWith(REPLACEMENT)) {
            return "";
        }
        prefixOffset = readOffset;
        readOffset = size;
        return emit(text.substring(prefix.length()));
    }

    /** Ends the sequence: returns the held-back text, with U+FFFD for an unfinished character. */
    public String flush() {
        if (flushed) {
            return "";
        }
        flushed = true;
        String prefix = tokenizer.decode(ids, prefixOffset, readOffset, true);
        String text = tokenizer.decode(ids, prefixOffset, size, true);
        return emit(text.length() > prefix.length() ? text.substring(prefix.length()) : "");
    }

    /**
     * Length of the text emitted so far, in Unicode code points (what Python's {@code len}
     * counts, and so OpenAI's and vLLM's {@code text_offset}), not UTF-16 chars.
     */
    public int textOffset() {
        return textOffset;
    }

    private String emit(String delta) {
        textOffset += delta.codePointCount(0, delta.length());
        return delta;
    }
}
