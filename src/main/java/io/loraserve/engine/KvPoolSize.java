package io.loraserve.engine;

import io.loraserve.model.ModelConfig;
import io.loraserve.model.ModelLoadException;
import io.loraserve.tensor.DeviceMemory;
import java.util.Locale;
import java.util.Optional;
import java.util.logging.Logger;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * How large the KV block pool is. {@code --kv-cache-bytes} when given. Otherwise on a CPU room for
 * {@code --max-num-seqs} full-length sequences, at most 2 GiB; on CUDA what
 * {@code --gpu-memory-utilization} leaves once the weights and the adapter slots are on the device
 * (vLLM's rule): {@code utilization × total − (total − free) − step reserve}, where "used" is what
 * the driver reports (this process's tensors and allocator cache, its CUDA context, other processes)
 * and the step reserve is an estimate of one step's transient peak (vLLM profiles it; this does
 * not): attention's gathered keys and values, the projections' activations and the sampler's
 * {@code [rows, vocab]} temporaries.
 */
final class KvPoolSize {
    private static final Logger LOG = Logger.getLogger(KvPoolSize.class.getName());
    static final long CPU_CAP = 2L << 30;

    private KvPoolSize() {
    }

    /** The pool's blocks for {@code s}; call it after the weights and slots are loaded. */
    static int blocks(RuntimeSettings settings, ModelConfig c, int maxModelLen, long perBlock, ScalarType dtype,
                      Optional<DeviceMemory> cuda) {
        CacheSettings s = settings.cache();
        SchedulerSettings q = settings.scheduler();
        int blocksPerSeq = (maxModelLen + s.blockSize() - 1) / s.blockSize();
        long bytes;
        String from;
        if (s.poolBytes() > 0) {
            bytes = s.poolBytes();
            from = "--kv-cache-bytes";
        } else if (cuda.isEmpty()) {
            bytes = Math.min(CPU_CAP, perBlock * blocksPerSeq * q.maxNumSeqs());
            from = "room for --max-num-seqs " + q.maxNumSeqs() + " sequences of " + maxModelLen
                    + " tokens, at most 2 GiB";
        } else {
            long[] freeTotal = cuda.get().freeAndTotal();
            long reserve = stepReserve(c, q.maxNumSeqs(), q.maxBatchedTokens(), maxModelLen, elementBytes(dtype));
            bytes = cudaBytes(freeTotal[1], freeTotal[0], s.gpuMemoryUtilization(), reserve);
            from = String.format(Locale.ROOT, "--gpu-memory-utilization %.2f of %d MiB, %d MiB in use after the"
                            + " weights and adapter slots, %d MiB reserved for a step's activations",
                    s.gpuMemoryUtilization(), freeTotal[1] >> 20, (freeTotal[1] - freeTotal[0]) >> 20, reserve >> 20);
            if (bytes / perBlock < blocksPerSeq) {
                throw tooSmall(from, bytes, perBlock, blocksPerSeq, s.blockSize(), maxModelLen);
            }
        }
        int blocks = (int) Math.min(Integer.MAX_VALUE, bytes / perBlock);
        String how = from;
        LOG.info(() -> String.format(Locale.ROOT, "KV cache pool: %d blocks of %d tokens, %d MiB (%s)", blocks,
                s.blockSize(), blocks * perBlock >> 20, how));
        return blocks;
    }

    /** {@code utilization × total − used − reserve}, never below 0 (used = total − free). */
    static long cudaBytes(long total, long free, double utilization, long reserve) {
        long budget = (long) Math.floor(utilization * total);
        return Math.max(0, budget - (total - free) - reserve);
    }

    /**
     * One step's transient peak, estimated: the decode group's gathered K and V with the GQA repeat
     * ({@code seqs × maxModelLen × (kvHeads + heads) × headDim}, twice), every projection's
     * activations of a full token budget in float32, and the device sampler's [rows, vocab] temporaries
     * (~48 bytes an entry).
     */
    static long stepReserve(ModelConfig c, int maxNumSeqs, int maxBatchedTokens, int maxModelLen, int elementBytes) {
        long attention = 2L * maxNumSeqs * maxModelLen * (c.kvHeads() + c.heads()) * c.headDim() * elementBytes;
        long qkv = (long) (c.heads() + 2 * c.kvHeads()) * c.headDim();
        long activations = (long) maxBatchedTokens * (qkv + 4L * c.intermediate() + 4L * c.hidden()) * Float.BYTES;
        long sampler = 48L * maxNumSeqs * c.vocab();
        return attention + activations + sampler;
    }

    static ModelLoadException tooSmall(String from, long bytes, long perBlock, int blocksPerSeq, int blockSize,
                                       int maxModelLen) {
        return new ModelLoadException(from + " gives the KV cache " + bytes + " bytes: " + bytes / perBlock
                + " blocks of " + blockSize + " tokens, fewer than one " + maxModelLen + "-token sequence needs ("
                + blocksPerSeq + " blocks, " + perBlock * blocksPerSeq + " bytes)");
    }

    private static int elementBytes(ScalarType dtype) {
        return dtype.intern() == ScalarType.Float ? 4 : 2;
    }
}
