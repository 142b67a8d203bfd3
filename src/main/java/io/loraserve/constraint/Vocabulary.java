package io.loraserve.constraint;

import java.util.Arrays;

/**
 * The model's tokens as byte strings, in a trie, for computing which tokens a constraint allows.
 * A token's bytes are what it adds to the output (byte-level BPE pieces may hold part of a UTF-8
 * character; the automaton works on bytes, so such pieces need no special case). Tokens with no
 * bytes or that are special (BOS, UNK, added control tokens) are never allowed; the end-of-sequence
 * tokens are allowed exactly when the constraint may end.
 *
 * <p>{@link #mask} walks the trie depth-first beside the automaton: a subtree is skipped as soon as
 * its prefix cannot follow, so tokens sharing a prefix share the work. Immutable; heap only.
 */
public final class Vocabulary {
    private final int size;
    private final int[] eos;
    private final byte[][] tokens;
    // the trie: node 0 is the root; children as first-child / next-sibling lists
    private int[] firstChild = new int[1024];
    private int[] nextSibling = new int[1024];
    private int[] edgeByte = new int[1024];
    private int[] firstToken = new int[1024];
    private final int[] nextToken;  // tokens with the same bytes, chained
    private int nodes = 1;

    /**
     * @param tokens bytes of each token id; null or empty for a token never allowed
     * @param eos    the end-of-sequence ids
     */
    public Vocabulary(byte[][] tokens, int[] eos) {
        this.size = tokens.length;
        this.tokens = tokens;
        this.eos = eos.clone();
        this.nextToken = new int[size];
        Arrays.fill(firstChild, -1);
        Arrays.fill(nextSibling, -1);
        Arrays.fill(firstToken, -1);
        for (int id = 0; id < size; id++) {
            byte[] b = tokens[id];
            if (b != null && b.length > 0 && !isEos(id)) {
                insert(id, b);
            }
        }
    }

    public int size() {
        return size;
    }

    /** The bytes token {@code id} adds to the output, or null. */
    byte[] bytes(int id) {
        return tokens[id];
    }

    boolean isEos(int id) {
        for (int e : eos) {
            if (e == id) {
                return true;
            }
        }
        return false;
    }

    private void insert(int id, byte[] b) {
        int node = 0;
        for (byte x : b) {
            int v = x & 0xff;
            int child = firstChild[node];
            while (child >= 0 && edgeByte[child] != v) {
                child = nextSibling[child];
            }
            if (child < 0) {
                child = newNode(v);
                nextSibling[child] = firstChild[node];
                firstChild[node] = child;
            }
            node = child;
        }
        nextToken[id] = firstToken[node];
        firstToken[node] = id;
    }

    private int newNode(int v) {
        if (nodes == firstChild.length) {
            int n = nodes * 2;
            firstChild = grow(firstChild, n);
            nextSibling = grow(nextSibling, n);
            edgeByte = Arrays.copyOf(edgeByte, n);
            firstToken = grow(firstToken, n);
        }
        edgeByte[nodes] = v;
        return nodes++;
    }

    private static int[] grow(int[] a, int n) {
        int old = a.length;
        int[] out = Arrays.copyOf(a, n);
        Arrays.fill(out, old, n, -1);
        return out;
    }

    /**
     * The tokens allowed in state {@code s} of {@code a}, as a bitset over ids (bit {@code id % 64} of
     * word {@code id / 64}); memoised in the state. Never empty: a state always has a byte that
     * can follow or may end, and every vocabulary this server loads can spell any byte (byte-level
     * BPE, byte fallback); if one cannot, EOS is allowed so the sequence ends instead of sticking.
     */
    long[] mask(Automaton a, Automaton.State s) {
        synchronized (a) {
            if (s.mask == null) {
                long[] bits = new long[(size + 63) / 64];
                walk(a, 0, s, bits);
                boolean empty = Arrays.stream(bits).allMatch(w -> w == 0);
                if (s.accepting || empty) {
                    for (int e : eos) {
                        bits[e >>> 6] |= 1L << e;
                    }
                }
                s.mask = bits;
            }
            return s.mask;
        }
    }

    private void walk(Automaton a, int node, Automaton.State s, long[] bits) {
        for (int child = firstChild[node]; child >= 0; child = nextSibling[child]) {
            Automaton.State n = a.next(s, edgeByte[child]);
            if (n == null) {
                continue;
            }
            for (int id = firstToken[child]; id >= 0; id = nextToken[id]) {
                bits[id >>> 6] |= 1L << id;
            }
            walk(a, child, n, bits);
        }
    }
}
