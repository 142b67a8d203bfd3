package io.loraserve.engine;

import io.loraserve.lora.Adapter;
import io.loraserve.lora.AdapterEvents;
import io.loraserve.lora.AdapterRegistry;
import io.loraserve.lora.AdapterPlacement;
import io.loraserve.lora.AdapterSlots;
import io.loraserve.model.Kernels;
import io.loraserve.model.LlamaModel;
import io.loraserve.model.LlamaWeights;
import io.loraserve.model.ModelConfig;
import io.loraserve.model.ModelLoadException;
import io.loraserve.model.PagedKvCache;
import io.loraserve.model.Quantization;
import io.loraserve.tensor.DeviceMemory;
import io.loraserve.tensor.Devices;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Everything that lives on the device for one served model: base weights, rotary tables, the
 * KV pool and the adapter slots (lifetime: process), the adapter catalogue, and the engine thread
 * that uses them. {@link #close()} stops the engine first, then frees the native memory.
 */
public final class ModelRuntime implements AutoCloseable {
    private final ModelConfig config;
    private final LlamaWeights weights;
    private final LlamaModel model;
    private final PagedKvCache cache;
    private final AdapterPlacement placement;
    private final AdapterRegistry registry;
    private final Engine engine;

    private ModelRuntime(ModelConfig config, LlamaWeights weights, LlamaModel model, PagedKvCache cache,
                         AdapterPlacement placement, AdapterRegistry registry, Engine engine) {
        this.config = config;
        this.weights = weights;
        this.model = model;
        this.cache = cache;
        this.placement = placement;
        this.registry = registry;
        this.engine = engine;
    }

    /**
     * Loads {@code dir} and starts the engine; refuses unsupported or broken models with a clear
     * message. {@code servedName} is the base's API name, which no adapter may take.
     */
    public static ModelRuntime load(Path dir, String servedName, RuntimeSettings settings) {
        requireDirectory(dir);
        ModelSettings m = settings.model();
        CacheSettings c = settings.cache();
        LoraSettings l = settings.lora();
        ModelConfig config = ModelConfig.load(dir);
        Device device = Devices.parse(m.device());
        ScalarType dtype = Devices.parseDtype(m.dtype(), device);
        torch.set_num_threads(m.threads());
        int maxModelLen = m.maxModelLen() == 0 ? config.maxPositions() : m.maxModelLen();
        if (maxModelLen > config.maxPositions()) {
            throw new ModelLoadException("--max-model-len " + maxModelLen
                    + " exceeds the model's max_position_embeddings "
                    + config.maxPositions());
        }
        boolean gpuPolicy = switch (m.gpuPolicy()) {
            case "on" -> true;
            case "off" -> false;
            default -> device.is_cuda();
        };
        Kernels kernels = m.kernels().equals("auto") ? (gpuPolicy ? Kernels.TORCH : Kernels.auto(dtype, device))
                : Kernels.valueOf(m.kernels().toUpperCase(java.util.Locale.ROOT));
        Quantization quantization = Quantization.parse(m.quantization());
        String refusal = quantization.refusal(kernels);
        if (refusal != null) {
            throw new ModelLoadException(refusal);
        }
        LlamaModel model = new LlamaModel(config, dtype, device, kernels, m.threads(), gpuPolicy);  // refuses before the weights load
        ScalarType cacheDtype = model.cacheDtype();
        long perBlock = PagedKvCache.bytesPerBlock(config, c.blockSize(), cacheDtype);
        int blocksPerSeq = (maxModelLen + c.blockSize() - 1) / c.blockSize();
        LlamaWeights weights = null;
        AdapterSlots slots = null;
        int blocks;
        try {
            if (c.poolBytes() > 0 && c.poolBytes() / perBlock < blocksPerSeq) {
                throw KvPoolSize.tooSmall("--kv-cache-bytes " + c.poolBytes(), c.poolBytes(), perBlock,
                        blocksPerSeq, c.blockSize(), maxModelLen);
            }
            weights = LlamaWeights.load(dir, config, dtype, device, quantization);
            slots = new AdapterSlots(config, l.maxAdapters(), l.maxRank(), cacheDtype, device);
            blocks = KvPoolSize.blocks(settings, config, maxModelLen, perBlock, cacheDtype, DeviceMemory.of(device));
        } catch (RuntimeException e) {
            if (slots != null) {
                slots.close();
            }
            if (weights != null) {
                weights.close();
            }
            model.close();
            throw e;
        }
        PagedKvCache cache = new PagedKvCache(config, c.blockSize(), blocks, cacheDtype, device);
        AdapterPlacement placement = new AdapterPlacement(l.maxHostBytes(), slots, config, weights,
                cacheDtype);  // owns the slots from here on
        AdapterRegistry registry = new AdapterRegistry(config, servedName, l.roots(), l.maxRank(), placement);
        Engine engine = new Engine(model, weights, cache, placement,
                new EngineConfig(settings.scheduler(), maxModelLen, c.prefixCaching()));
        engine.start();
        return new ModelRuntime(config, weights, model, cache, placement, registry, engine);
    }

    public AdapterRegistry registry() {
        return registry;
    }

    /** Who hears about the catalogue and every adapter tier (host copies, device slots); set before adapters load. */
    public void setAdapterEvents(AdapterEvents events) {
        registry.setEvents(events);
    }

    /** Tokens per KV cache block ({@code --kv-block-size}). */
    public int kvBlockSize() {
        return cache.blockSize();
    }

    /** Pins {@code name}: builds its merged copy; blocks until it serves from it. */
    public Adapter pin(String name) {
        return onEngine(name, engine::pin);
    }

    /** Unpins {@code name}: frees its merged copy; blocks until done. */
    public Adapter unpin(String name) {
        return onEngine(name, engine::unpin);
    }

    /** Runs {@code action} on the current version of {@code name}, holding a reference meanwhile. */
    private Adapter onEngine(String name, Function<Adapter, CompletableFuture<Void>> action) {
        Adapter a = registry.acquire(name);
        try {
            action.apply(a).join();
            return a;
        } finally {
            a.release();
        }
    }

    public int maxAdapters() {
        return placement.slotCount();
    }

    /** Refuses a {@code --model} path that is not a directory, before any of its files is looked for. */
    public static void requireDirectory(Path dir) {
        if (!Files.isDirectory(dir)) {
            throw new ModelLoadException("model directory " + dir + (Files.exists(dir) ? " is not a directory"
                    : " does not exist"));
        }
    }

    public ModelConfig config() {
        return config;
    }

    public Engine engine() {
        return engine;
    }

    public int maxModelLen() {
        return engine.maxModelLen();
    }

    /** The device's memory counters when it is a CUDA device. */
    public Optional<DeviceMemory> deviceMemory() {
        return DeviceMemory.of(model.device());
    }

    public Kernels kernels() {
        return model.kernels();
    }

    /** Whether steps run under the GPU policy ({@link LlamaModel#gpuPolicy()}). */
    public boolean gpuPolicy() {
        return model.gpuPolicy();
    }

    /** The weights' dtype, as {@code --dtype} names it. */
    public String dtypeName() {
        return Devices.dtypeName(model.dtype());
    }

    public String deviceName() {
        return model.device().is_cpu() ? "cpu" : "cuda:" + model.device().index();
    }

    /** The weights' storage: the dtype, and how many matrices are quantized when they are. */
    public String weightsDescription() {
        String quantized = weights.quantization();
        return dtypeName() + (quantized == null ? "" : " (" + quantized + ")");
    }

    public long weightBytes() {
        return weights.bytes();
    }

    @Override
    public void close() {
        engine.close();
        registry.close();
        placement.close();
        cache.close();
        model.close();
        weights.close();
    }
}
