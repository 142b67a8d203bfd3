package io.loraserve.lora;

import io.loraserve.Fixtures;
import io.loraserve.model.LlamaWeights;
import io.loraserve.model.ModelConfig;
import java.nio.file.Path;
import java.util.List;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * The tiny model's float32 weights on the CPU, a placement over them ({@code slots} device slots of rank up to 16,
 * host copies up to {@code hostBytes}) and a registry on it reading adapters from {@code roots}; closes all three.
 */
public final class TinyPlacement implements AutoCloseable {
    public static final ModelConfig BASE = ModelConfig.load(Fixtures.tinyModel());
    private static final Device CPU = new Device("cpu");

    public final LlamaWeights weights;
    public final AdapterPlacement placement;
    public final AdapterRegistry registry;

    public TinyPlacement(int slots, long hostBytes, List<Path> roots) {
        weights = LlamaWeights.load(Fixtures.tinyModel(), BASE, ScalarType.Float, CPU);
        placement = new AdapterPlacement(hostBytes, new AdapterSlots(BASE, slots, 16, ScalarType.Float, CPU), BASE,
                weights, ScalarType.Float);
        registry = new AdapterRegistry(BASE, "tiny-llama", roots, 16, placement);
    }

    @Override
    public void close() {
        registry.close();
        placement.close();
        weights.close();
    }
}
