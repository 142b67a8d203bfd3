package io.loraserve.engine;

import io.loraserve.lora.Adapter;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * The content address of one full KV block: SHA-256 chained over the previous block's address,
 * the identity of the weights that computed it ({@link #identity}) and the block's token ids, as
 * vLLM's prefix-caching hash ({@code sha256}) is. Two blocks share an address only when every token
 * before and in them and the weights that computed their keys and values are the same, so equal
 * addresses mean equal KV.
 *
 * @param h0 .. h3 the 256-bit digest
 */
record BlockHash(long h0, long h1, long h2, long h3) {
    /** The parent of a sequence's first block. */
    static final BlockHash ROOT = new BlockHash(0, 0, 0, 0);

    /**
     * Whose KV a block holds: 0 for the base model, else the adapter's {@link Adapter#version()} (positive and
     * unique per registry; replacing an adapter gives the new weights a new one). Every adapter has its own
     * identity, also one that targets no k/v projection: its earlier layers change the hidden states that later
     * layers' k/v are computed from. A pinned adapter shares its identity with its unmerged self (the same weights).
     */
    static long identity(Adapter adapter) {
        return adapter == null ? 0 : adapter.version();
    }

    /** The address of the block holding {@code count} tokens of {@code s} from position {@code from}, after {@code parent}. */
    static BlockHash of(MessageDigest sha, BlockHash parent, long identity, Sequence s, int from, int count) {
        ByteBuffer b = ByteBuffer.allocate(5 * Long.BYTES + count * Integer.BYTES);
        b.putLong(parent.h0).putLong(parent.h1).putLong(parent.h2).putLong(parent.h3).putLong(identity);
        for (int i = 0; i < count; i++) {
            b.putInt(s.token(from + i));
        }
        ByteBuffer d = ByteBuffer.wrap(sha.digest(b.array()));
        return new BlockHash(d.getLong(), d.getLong(), d.getLong(), d.getLong());
    }

    static MessageDigest newDigest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java runtime has SHA-256", e);
        }
    }
}
