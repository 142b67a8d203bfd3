package io.loraserve.engine;

import io.loraserve.model.PagedKvCache;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;

/**
 * The KV blocks' bookkeeping over {@link PagedKvCache}'s free list: how many sequences hold each
 * block and, with prefix caching, which full blocks hold whose KV ({@link BlockHash}), so a
 * sequence that starts with the same tokens on the same weights attaches them instead of
 * computing them again (automatic prefix caching, adapter-aware).
 *
 * <p>Semantics: a block is in exactly one of three states. <em>Free</em>: in the cache's free
 * list. <em>Held</em>: in the block table of one or more sequences ({@code refs > 0}), cached or
 * not. <em>Idle</em>: cached, held by nobody, kept in least-recently-released order until a new
 * block is needed and none is free; then the oldest idle block is evicted (forgotten and reused).
 * A held block is never evicted. {@link #available()} = free + idle.
 *
 * <p>A cached block is full and read-only: a sequence writes only positions at or past its
 * {@code computed} count; a block is cached only once all its positions are computed; a sequence
 * attaches only whole cached blocks ahead of its last token (that token is always computed, its
 * logits are needed), so it never writes into one. Requests that score their prompt
 * ({@code promptLogprobs}) attach nothing: every position they score is computed for them.
 * Engine thread only.
 */
final class BlockPool {
    private final PagedKvCache cache;
    private final boolean caching;
    private final int blockSize;
    private final int[] refs;             // per block: sequences holding it
    private final BlockHash[] cachedAs;   // per block: its address while cached, else null
    private final Map<BlockHash, Integer> byHash = new HashMap<>();
    private final LinkedHashSet<Integer> idle = new LinkedHashSet<>();  // oldest release first
    private final MessageDigest sha = BlockHash.newDigest();
    private long queriedTokens;
    private long hitTokens;

    BlockPool(PagedKvCache cache, boolean caching) {
        this.cache = cache;
        this.caching = caching;
        this.blockSize = cache.blockSize();
        this.refs = new int[cache.blocks()];
        this.cachedAs = new BlockHash[cache.blocks()];
    }

    int blockSize() {
        return blockSize;
    }

    int blocks() {
        return cache.blocks();
    }

    /** Blocks a sequence could take now: free ones and idle cached ones. */
    int available() {
        return cache.freeBlocks() + idle.size();
    }

    /** Blocks held by sequences. */
    int held() {
        return cache.blocks() - available();
    }

    /** Blocks whose KV is cached, held or idle. */
    int cached() {
        return byHash.size();
    }

    /** Prompt tokens looked up in the cache at admissions so far. */
    long queriedTokens() {
        return queriedTokens;
    }

    /** Of {@link #queriedTokens()}, those found cached. */
    long hitTokens() {
        return hitTokens;
    }

    /**
     * The cached blocks that hold {@code s}'s leading tokens on its adapter, longest run first to
     * last, at most up to (not including) the block of its last token. Empty when caching is off
     * or {@code s} scores its prompt. Changes nothing.
     */
    List<Integer> lookup(Sequence s) {
        List<Integer> hit = new ArrayList<>();
        if (!caching || s.promptScores != null) {
            return hit;
        }
        int candidates = (s.length() - 1) / blockSize;
        for (int i = 0; i < candidates; i++) {
            Integer b = byHash.get(hash(s, i));
            if (b == null) {
                break;
            }
            hit.add(b);
        }
        return hit;
    }

    /** How many of {@code blocks} are idle (attaching them takes them from {@link #available()}). */
    int idleAmong(List<Integer> blocks) {
        return (int) blocks.stream().filter(b -> refs[b] == 0).count();
    }

    /**
     * Starts {@code s}'s block table with {@code hit} (from {@link #lookup}, taken at once) and counts
     * the query: {@code s} then has those positions computed.
     */
    void attach(Sequence s, List<Integer> hit) {
        for (int b : hit) {
            if (refs[b]++ == 0) {
                idle.remove(b);
            }
            s.blocks.add(b);
        }
        s.computed = hit.size() * blockSize;
        s.registeredBlocks = hit.size();
        if (caching && s.promptScores == null) {
            queriedTokens += s.length();
            hitTokens += s.computed;
        }
        if (s.cachedTokens < 0) {
            s.cachedTokens = s.computed;
        }
    }

    /** Takes a free block, or evicts the least recently released idle one; the caller checked {@link #available()}. */
    int allocate() {
        int b;
        if (cache.freeBlocks() > 0) {
            b = cache.allocate();
        } else {
            Iterator<Integer> oldest = idle.iterator();
            if (!oldest.hasNext()) {
                throw new IllegalStateException("KV cache has no free or idle block");
            }
            b = oldest.next();
            oldest.remove();
            byHash.remove(cachedAs[b]);
            cachedAs[b] = null;
        }
        refs[b] = 1;
        return b;
    }

    /**
     * Caches the blocks {@code s} has filled since the last call (all their positions computed),
     * unless the same content is cached already (then its copy stays private and is freed with it).
     */
    void registerFull(Sequence s) {
        if (!caching) {
            return;
        }
        int full = Math.min(s.computed / blockSize, s.blocks.size());
        for (int i = s.registeredBlocks; i < full; i++) {
            int b = s.blocks.get(i);
            BlockHash h = hash(s, i);
            if (cachedAs[b] == null && !byHash.containsKey(h)) {
                byHash.put(h, b);
                cachedAs[b] = h;
            }
        }
        s.registeredBlocks = Math.max(s.registeredBlocks, full);
    }

    /**
     * Drops {@code s}'s hold on its blocks, last block first, so that of a sequence's cached
     * blocks its tail is evicted before its head (the head is the likelier shared prefix).
     */
    void release(Sequence s) {
        for (int i = s.blocks.size() - 1; i >= 0; i--) {
            int b = s.blocks.get(i);
            if (--refs[b] == 0) {
                if (cachedAs[b] != null) {
                    idle.add(b);
                } else {
                    cache.release(b);
                }
            }
        }
        s.blocks.clear();
        s.registeredBlocks = 0;
    }

    /** The address of {@code s}'s block {@code i}; the chain is computed once per sequence and kept. */
    private BlockHash hash(Sequence s, int i) {
        while (s.blockHashes.size() <= i) {
            int k = s.blockHashes.size();
            BlockHash parent = k == 0 ? BlockHash.ROOT : s.blockHashes.get(k - 1);
            s.blockHashes.add(BlockHash.of(sha, parent, BlockHash.identity(s.request.adapter()), s, k * blockSize,
                    blockSize));
        }
        return s.blockHashes.get(i);
    }
}
