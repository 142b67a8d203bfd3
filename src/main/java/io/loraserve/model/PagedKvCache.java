package io.loraserve.model;

import java.util.ArrayDeque;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The paged KV cache: per layer one K and one V pool of {@code blocks * blockSize} slots,
 * allocated once (lifetime: process), plus the free list of blocks.
 *
 * <p>Invariants: a block is either free or handed out by {@link #allocate()} until
 * {@link #release} (the engine's block pool tracks who holds it and what it caches);
 * {@code usedBlocks() + freeBlocks() == blocks()}. Only the engine thread calls this class.
 * The slot of position {@code p} of a sequence is {@code table[p / blockSize] * blockSize + p % blockSize}.
 */
public final class PagedKvCache implements AutoCloseable {
    private final int blockSize;
    private final int blocks;
    private final Tensor[] k;  // per layer [blocks*blockSize, kvHeads, headDim]
    private final Tensor[] v;  // per layer [blocks*blockSize, kvHeads, headDim]
    private final ArrayDeque<Integer> free = new ArrayDeque<>();

    public PagedKvCache(ModelConfig c, int blockSize, int blocks, ScalarType dtype, Device device) {
        if (blockSize <= 0 || blocks <= 0) {
            throw new IllegalArgumentException("KV cache needs a positive block size and block count");
        }
        this.blockSize = blockSize;
        this.blocks = blocks;
        this.k = new Tensor[c.layers()];
        this.v = new Tensor[c.layers()];
        TensorOptions opts = new TensorOptions(dtype).device(new org.bytedeco.pytorch.DeviceOptional(device));
        long[] shape = {(long) blocks * blockSize, c.kvHeads(), c.headDim()};
        for (int i = 0; i < c.layers(); i++) {
            k[i] = torch.zeros(shape, opts);
            v[i] = torch.zeros(shape, opts);
        }
        for (int b = 0; b < blocks; b++) {
            free.add(b);
        }
    }

    /** Bytes one block takes across all layers, K and V. */
    public static long bytesPerBlock(ModelConfig c, int blockSize, ScalarType dtype) {
        long elem = dtype == ScalarType.Float ? 4 : 2;
        return 2L * c.layers() * blockSize * c.kvHeads() * c.headDim() * elem;
    }

    /** The slot of position {@code position} of the sequence whose block table is {@code table}. */
    static int slot(int[] table, int blockSize, int position) {
        return table[position / blockSize] * blockSize + position % blockSize;
    }

    public int blockSize() {
        return blockSize;
    }

    public int blocks() {
        return blocks;
    }

    public int freeBlocks() {
        return free.size();
    }

    public int usedBlocks() {
        return blocks - free.size();
    }

    /** Takes a free block; the caller must have checked {@link #freeBlocks()}. */
    public int allocate() {
        Integer b = free.poll();
        if (b == null) {
            throw new IllegalStateException("KV cache has no free block");
        }
        return b;
    }

    public void release(int block) {
        free.push(block);
    }

    Tensor keys(int layer) {
        return k[layer];
    }

    Tensor values(int layer) {
        return v[layer];
    }

    @Override
    public void close() {
        for (int i = 0; i < k.length; i++) {
            k[i].close();
            v[i].close();
        }
    }
}
