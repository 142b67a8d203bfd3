package io.loraserve.engine;

/**
 * The KV block pool ({@code --kv-block-size}, {@code --kv-cache-bytes}, {@code --enable-prefix-caching},
 * {@code --gpu-memory-utilization}). Defaults: {@link RuntimeSettings#builder()}.
 *
 * @param blockSize            tokens per KV block
 * @param poolBytes            the pool's size; 0 = chosen by {@link KvPoolSize}
 * @param prefixCaching        whether full KV blocks are kept and shared by content ({@link BlockPool})
 * @param gpuMemoryUtilization on CUDA, the fraction of the device's memory the process may fill
 */
public record CacheSettings(int blockSize, long poolBytes, boolean prefixCaching, double gpuMemoryUtilization) {
}
