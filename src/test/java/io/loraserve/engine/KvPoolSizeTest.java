package io.loraserve.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.loraserve.Fixtures;
import io.loraserve.model.ModelConfig;
import io.loraserve.model.ModelLoadException;
import io.loraserve.model.PagedKvCache;
import java.time.Duration;
import java.util.Optional;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

/** The KV pool's size: --kv-cache-bytes, the CPU default, and on CUDA vLLM's --gpu-memory-utilization rule. */
class KvPoolSizeTest {
    private static final long GIB = 1L << 30;

    /** An 80 GiB card, 14 GiB in use after weights and slots, 0.9 and a 2 GiB step reserve: 72 − 14 − 2 = 56 GiB. */
    @Test
    void onCudaThePoolGetsUtilizationTimesTotalLessWhatIsUsedAndTheStepReserve() {
        assertEquals(56 * GIB, KvPoolSize.cudaBytes(80 * GIB, 66 * GIB, 0.9, 2 * GIB));
        assertEquals(64 * GIB, KvPoolSize.cudaBytes(80 * GIB, 66 * GIB, 1.0, 2 * GIB));
        assertEquals((long) Math.floor(0.5 * 24 * GIB) - 3 * GIB, KvPoolSize.cudaBytes(24 * GIB, 21 * GIB, 0.5, 0));
        assertEquals(0, KvPoolSize.cudaBytes(24 * GIB, 4 * GIB, 0.5, 0), "more in use than the share: nothing, not less");
    }

    /** The reserve: two gathers of K and V with the GQA repeat, float32 activations of the token budget, the sampler. */
    @Test
    void theStepReserveCountsAttentionActivationsAndSamplerTemporaries() {
        ModelConfig c = ModelConfig.load(Fixtures.tinyModel());  // hidden 64, 4 heads / 2 KV of 16, ffn 176, vocab 512
        long attention = 2L * 32 * 256 * (2 + 4) * 16 * 2;
        long activations = 512L * ((4 + 2 * 2) * 16 + 4 * 176 + 4 * 64) * 4;
        long sampler = 48L * 32 * 512;
        assertEquals(attention + activations + sampler, KvPoolSize.stepReserve(c, 32, 512, 256, 2));
    }

    @Test
    void onACpuThePoolHoldsMaxNumSeqsFullSequencesAtMostTwoGibOrWhatKvCacheBytesSays() {
        ModelConfig c = ModelConfig.load(Fixtures.tinyModel());
        long perBlock = PagedKvCache.bytesPerBlock(c, 16, ScalarType.Float);
        RuntimeSettings roomy = settings(32, 0);
        assertEquals(32 * 16, KvPoolSize.blocks(roomy, c, 256, perBlock, ScalarType.Float, Optional.empty()));
        RuntimeSettings huge = settings(1_000_000, 0);
        assertEquals(KvPoolSize.CPU_CAP / perBlock,
                KvPoolSize.blocks(huge, c, 256, perBlock, ScalarType.Float, Optional.empty()));
        RuntimeSettings given = settings(32, 40 * perBlock + 5);
        assertEquals(40, KvPoolSize.blocks(given, c, 256, perBlock, ScalarType.Float, Optional.empty()));
    }

    @Test
    void aPoolSmallerThanOneFullSequenceIsRefusedWithTheNumbers() {
        ModelLoadException e = KvPoolSize.tooSmall("--kv-cache-bytes 1000", 1000, 256, 16, 16, 256);
        assertEquals("--kv-cache-bytes 1000 gives the KV cache 1000 bytes: 3 blocks of 16 tokens, fewer than one"
                + " 256-token sequence needs (16 blocks, 4096 bytes)", e.getMessage());
        Exception startup = assertThrows(ModelLoadException.class, () -> ModelRuntime.load(Fixtures.tinyModel(), "t",
                settings(4, 1000)).close());
        assertTrue(startup.getMessage().startsWith("--kv-cache-bytes 1000 gives the KV cache 1000 bytes"),
                startup.getMessage());
    }

    private static RuntimeSettings settings(int maxNumSeqs, long kvCacheBytes) {
        return RuntimeSettings.builder().dtype("float32").threads(1).maxNumSeqs(maxNumSeqs)
                .maxBatchedTokens(64).maxQueued(10).requestTimeout(Duration.ZERO).kvCacheBytes(kvCacheBytes)
                .maxAdapters(2).build();
    }
}
