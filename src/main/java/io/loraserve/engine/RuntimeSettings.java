package io.loraserve.engine;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * Everything {@link ModelRuntime#load} needs to know, in four groups. {@link Builder} holds the defaults, the only
 * copy of them ({@code --help} shows the same values); call sites name what they change.
 */
public record RuntimeSettings(ModelSettings model, CacheSettings cache, SchedulerSettings scheduler,
                              LoraSettings lora) {
    public static RuntimeSettings defaults() {
        return builder().build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /** These settings with {@code roots} as the adapter roots. */
    public RuntimeSettings withAdapterRoots(List<Path> roots) {
        return new RuntimeSettings(model, cache, scheduler,
                new LoraSettings(lora.maxAdapters(), lora.maxRank(), lora.maxHostBytes(), roots));
    }

    /** {@link RuntimeSettings} by name; each field starts at its default. */
    public static final class Builder {
        private String device = "cpu";
        private String dtype = "auto";
        private String kernels = "auto";
        private String quantization = "none";
        private String gpuPolicy = "auto";
        private int maxModelLen = 0;
        private int threads = Runtime.getRuntime().availableProcessors();
        private int kvBlockSize = 16;
        private long kvCacheBytes = 0;
        private boolean prefixCaching = true;
        private double gpuMemoryUtilization = 0.9;  // vLLM's default
        private int maxNumSeqs = 32;
        private int maxBatchedTokens = 512;
        private int maxQueued = 256;
        private Duration requestTimeout = Duration.ofSeconds(600);
        private Duration stepWatchdog = Duration.ofSeconds(30);
        private int maxAdapters = 8;
        private int maxLoraRank = 16;
        private long maxCpuAdapterBytes = 1L << 30;
        private List<Path> adapterRoots = List.of();

        private Builder() {
        }

        public RuntimeSettings build() {
            return new RuntimeSettings(
                    new ModelSettings(device, dtype, kernels, quantization, gpuPolicy, maxModelLen, threads),
                    new CacheSettings(kvBlockSize, kvCacheBytes, prefixCaching, gpuMemoryUtilization),
                    new SchedulerSettings(maxNumSeqs, maxBatchedTokens, maxQueued, requestTimeout, stepWatchdog),
                    new LoraSettings(maxAdapters, maxLoraRank, maxCpuAdapterBytes, adapterRoots));
        }

        public Builder device(String v) {
            device = v;
            return this;
        }

        public Builder dtype(String v) {
            dtype = v;
            return this;
        }

        public Builder kernels(String v) {
            kernels = v;
            return this;
        }

        public Builder quantization(String v) {
            quantization = v;
            return this;
        }

        public Builder gpuPolicy(String v) {
            gpuPolicy = v;
            return this;
        }

        /** 0 = the model's max_position_embeddings. */
        public Builder maxModelLen(int v) {
            maxModelLen = v;
            return this;
        }

        public Builder threads(int v) {
            threads = v;
            return this;
        }

        public Builder kvBlockSize(int v) {
            kvBlockSize = v;
            return this;
        }

        /** 0 = chosen by {@link KvPoolSize}. */
        public Builder kvCacheBytes(long v) {
            kvCacheBytes = v;
            return this;
        }

        public Builder prefixCaching(boolean v) {
            prefixCaching = v;
            return this;
        }

        public Builder gpuMemoryUtilization(double v) {
            gpuMemoryUtilization = v;
            return this;
        }

        public Builder maxNumSeqs(int v) {
            maxNumSeqs = v;
            return this;
        }

        public Builder maxBatchedTokens(int v) {
            maxBatchedTokens = v;
            return this;
        }

        public Builder maxQueued(int v) {
            maxQueued = v;
            return this;
        }

        /** Zero = no limit. */
        public Builder requestTimeout(Duration v) {
            requestTimeout = v;
            return this;
        }

        public Builder stepWatchdog(Duration v) {
            stepWatchdog = v;
            return this;
        }

        public Builder maxAdapters(int v) {
            maxAdapters = v;
            return this;
        }

        public Builder maxLoraRank(int v) {
            maxLoraRank = v;
            return this;
        }

        public Builder maxCpuAdapterBytes(long v) {
            maxCpuAdapterBytes = v;
            return this;
        }

        public Builder adapterRoots(List<Path> v) {
            adapterRoots = v;
            return this;
        }
    }
}
